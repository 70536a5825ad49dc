"""Asset checks on the KPI tables: read back (small) into Spark and validated with pandera + range rules."""


import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from user_events.ingest.checks import _error_count, pandera_errors
from user_events.ingest.resources import SparkResource
from user_events.schema import KPI_DAILY, KPI_HOURLY, TableSpec, spark_schema
from user_events.warehouse import kpis
from user_events.warehouse.assets import PREFIX
from user_events.warehouse.resources import PostgresResource

# rule name -> SQL condition that is TRUE for an offending row
KPI_RULES = {
    "orders_above_sessions": "orders > sessions",
    "orders_above_purchases": "orders > purchases",
    "sessions_above_events": "sessions > events",
    "users_above_events": "users > events",
    "revenue_without_purchases": "purchases = 0 AND revenue != 0",
    "aov_without_orders": "orders = 0 AND avg_order_value IS NOT NULL",
}


def kpi_frame(spark, rows: list[dict], table: TableSpec) -> DataFrame:
    schema = spark_schema(table)
    return spark.createDataFrame([tuple(r[c] for c in table.column_names) for r in rows], schema=schema)


def kpi_rule_violations(df: DataFrame) -> dict[str, int]:
    counts = df.agg(*(F.count(F.when(F.expr(cond), 1)).alias(name) for name, cond in KPI_RULES.items())).first()
    return {name: int(counts[name]) for name in KPI_RULES if counts[name]}


def _kpi_check(table: TableSpec):
    @dg.asset_check(
        asset=dg.AssetKey([PREFIX, table.name]),
        name=f"{table.name}_ranges",
        blocking=True,
        description="pandera (counts >= 0, rates in [0,1]) and orders <= sessions, orders <= purchases, ...",
    )
    def _check(spark: SparkResource, warehouse: PostgresResource) -> dg.AssetCheckResult:
        with warehouse.connect(autocommit=True) as conn:
            rows = kpis.read_kpis(conn, warehouse.pg_schema, table)
        df = kpi_frame(spark.session(), rows, table)
        errors = pandera_errors(df, table)
        violations = kpi_rule_violations(df) if rows else {}
        return dg.AssetCheckResult(
            passed=not errors and not violations and bool(rows),
            metadata={
                "rows": len(rows),
                "errors": dg.MetadataValue.json(errors),
                "error_count": _error_count(errors),
                "violations": dg.MetadataValue.json(violations),
            },
        )

    return _check


kpi_daily_ranges = _kpi_check(KPI_DAILY)
kpi_hourly_ranges = _kpi_check(KPI_HOURLY)
WAREHOUSE_CHECKS = [kpi_daily_ranges, kpi_hourly_ranges]
