"""Asset checks on the KPI tables: read back from PostgreSQL (a few rows) and validated with pandera (pandas
schema derived from schema.py, the same rules as the Spark one) plus cross-column rules."""

import dagster as dg
import pandas as pd

from user_events.schema import KPI_DAILY, KPI_HOURLY, TableSpec, pandera_pandas_schema
from user_events.warehouse import kpis
from user_events.warehouse.assets import PREFIX
from user_events.warehouse.resources import PostgresResource

# rule name -> pandas query that selects offending rows
KPI_RULES = {
    "orders_above_sessions": "orders > sessions",
    "orders_above_purchases": "orders > purchases",
    "sessions_above_events": "sessions > events",
    "users_above_events": "users > events",
    "revenue_without_purchases": "purchases == 0 and revenue != 0",
    "aov_without_orders": "orders == 0 and avg_order_value.notna()",
}


def kpi_frame(rows: list[dict], table: TableSpec) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=table.column_names)
    for c in table.columns:
        if c.kind == "double":
            df[c.name] = df[c.name].astype("float64")
    return df


def kpi_rule_violations(df: pd.DataFrame) -> dict[str, int]:
    counts = {name: len(df.query(rule, engine="python")) for name, rule in KPI_RULES.items()} if len(df) else {}
    return {name: n for name, n in counts.items() if n}


def pandera_pandas_errors(df: pd.DataFrame, table: TableSpec) -> list[dict]:
    import pandera.errors

    try:
        pandera_pandas_schema(table).validate(df, lazy=True)
        return []
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        return [
            {"column": str(r["column"]), "check": str(r["check"]), "failure_case": str(r["failure_case"])}
            for r in cases.head(50).to_dict("records")
        ]


def _kpi_check(table: TableSpec):
    @dg.asset_check(
        asset=dg.AssetKey([PREFIX, table.name]),
        name=f"{table.name}_ranges",
        blocking=True,
        description="pandera (counts >= 0, rates in [0,1]) and orders <= sessions, orders <= purchases, ...",
    )
    def _check(warehouse: PostgresResource) -> dg.AssetCheckResult:
        with warehouse.connect(autocommit=True) as conn:
            rows = kpis.read_kpis(conn, warehouse.pg_schema, table)
        df = kpi_frame(rows, table)
        errors = pandera_pandas_errors(df, table)
        violations = kpi_rule_violations(df)
        return dg.AssetCheckResult(
            passed=not errors and not violations and bool(rows),
            metadata={
                "rows": len(rows),
                "errors": dg.MetadataValue.json(errors),
                "error_count": len(errors),
                "violations": dg.MetadataValue.json(violations),
            },
        )

    return _check


kpi_daily_ranges = _kpi_check(KPI_DAILY)
kpi_hourly_ranges = _kpi_check(KPI_HOURLY)
WAREHOUSE_CHECKS = [kpi_daily_ranges, kpi_hourly_ranges]
