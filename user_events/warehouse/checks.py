"""Asset checks on the KPI tables: the rows read back from PostgreSQL (a few) as a Spark DataFrame, validated
with pandera on the driver (`small_frame_errors`: the schema from schema.py, as for typed_events) plus
cross-column rules in Spark SQL."""

from concurrent.futures import ThreadPoolExecutor

import dagster as dg
from pyspark.sql import DataFrame, SparkSession

from user_events.asset_keys import TYPED_EVENTS
from user_events.ingest.handles import TypedEvents
from user_events.ingest.resources import SparkResource
from user_events.quality.results import check_schema, rule_violations
from user_events.schema import TableSpec, spark_schema
from user_events.warehouse import anomalies, kpis
from user_events.warehouse.assets import KPI_TABLES, PREFIX
from user_events.warehouse.resources import PostgresResource

# rule name -> Spark SQL predicate that selects offending rows
KPI_RULES = {
    "orders_above_sessions": "orders > sessions",
    "orders_above_purchases": "orders > purchases",
    "sessions_above_events": "sessions > events",
    "users_above_events": "users > events",
    "revenue_without_purchases": "purchases = 0 AND revenue != 0",
    "aov_without_orders": "orders = 0 AND avg_order_value IS NOT NULL",
}


def kpi_dataframe(spark: SparkSession, rows: list[dict], table: TableSpec) -> DataFrame:
    """KPI rows (dicts, as read_kpis returns them) as one cached Spark partition: the collect for pandera, the
    rules and the row count each run a job on it."""
    records = [tuple(r[c] for c in table.column_names) for r in rows]
    return spark.createDataFrame(records, spark_schema(table)).coalesce(1).cache()


def kpi_rule_violations(df: DataFrame) -> dict[str, int]:
    """Rule name -> offending rows, for the KPI rules some row breaks."""
    return rule_violations(df, KPI_RULES)


def check_kpis(df: DataFrame, table: TableSpec) -> dg.AssetCheckResult:
    """pandera (counts >= 0, rates in [0, 1], types) and the cross-column rules; fails on an empty table."""
    schema_result = check_schema(df, table, small=True)
    violations = kpi_rule_violations(df)
    rows = df.count()
    return dg.AssetCheckResult(
        passed=schema_result.passed and not violations and rows > 0,
        metadata={**schema_result.metadata, "rows": rows, "violations": dg.MetadataValue.json(violations)},
    )


def _check_kpi_table(warehouse: PostgresResource, spark: SparkSession, table: TableSpec) -> dg.AssetCheckResult:
    with warehouse.connect(autocommit=True) as conn:
        rows = kpis.read_kpis(conn, warehouse.pg_schema, table)
    df = kpi_dataframe(spark, rows, table)
    try:
        return check_kpis(df, table)
    finally:
        df.unpersist()


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            name=f"{table.name}_ranges",
            asset=dg.AssetKey([PREFIX, table.name]),
            blocking=True,
            description="pandera (counts >= 0, rates in [0,1]) and orders <= sessions, orders <= purchases, ...",
        )
        for table, _ in KPI_TABLES
    ],
)
def kpi_ranges(warehouse: PostgresResource, spark: SparkResource):
    """Both KPI tables' checks side by side (Spark runs the two threads' small jobs concurrently)."""
    session = spark.spark_session
    with ThreadPoolExecutor(max_workers=len(KPI_TABLES)) as pool:
        futures = {table: pool.submit(_check_kpi_table, warehouse, session, table) for table, _ in KPI_TABLES}
    for table, future in futures.items():
        result = future.result()
        yield dg.AssetCheckResult(
            asset_key=dg.AssetKey([PREFIX, table.name]),
            check_name=f"{table.name}_ranges",
            passed=result.passed,
            metadata=result.metadata,
        )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            name=f"{table.name}_anomalies",
            asset=dg.AssetKey([PREFIX, table.name]),
            description=f"WARN: the loaded {period}s' conversion rate, revenue and events against the same "
            f"{period} of the day and of the week before (USER_EVENTS_ANOMALY_MAX_CHANGE)",
            additional_deps=[TYPED_EVENTS],
        )
        for table, period in KPI_TABLES
    ],
    ins={"typed_events": dg.AssetIn(TYPED_EVENTS)},
)
def kpi_anomalies(warehouse: PostgresResource, typed_events: TypedEvents):
    """The hours and days this batch loaded (never a failed load: these checks warn)."""
    with warehouse.connect(autocommit=True) as conn:
        for table, _ in KPI_TABLES:
            periods = kpis.kpi_periods(table, typed_events.hours)
            result = anomalies.check_anomalies(conn, warehouse.pg_schema, table, periods)
            yield dg.AssetCheckResult(
                asset_key=dg.AssetKey([PREFIX, table.name]),
                check_name=f"{table.name}_anomalies",
                passed=result.passed,
                severity=result.severity,
                description=result.description,
                metadata=result.metadata,
            )


WAREHOUSE_CHECKS = [kpi_ranges, kpi_anomalies]
