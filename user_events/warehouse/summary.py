"""The warehouse as `user-events batch` reports it after a run: which PostgreSQL it wrote to, each table's
row count and the daily KPIs."""

from __future__ import annotations

from decimal import Decimal

from user_events.config import settings
from user_events.schema import KPI_DAILY, KPI_METRIC_NAMES
from user_events.warehouse import kpis, load


def warehouse_url_and_schema() -> tuple[str, str]:
    """USER_EVENTS_PG_URL (else the embedded server's) and USER_EVENTS_PG_SCHEMA."""
    from user_events.warehouse.embedded import EmbeddedPostgres

    config = settings()
    url = config.pg_url.get_secret_value() if config.pg_url else EmbeddedPostgres().url()
    return url, config.pg_schema


def _shown(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return f"{value:,.4f}"


def print_summary(conn, schema: str) -> None:
    print(f"\nPostgreSQL tables (schema {schema}):")
    for table, n in load.table_counts(conn, schema).items():
        print(f"  {table:<16} {n:>12,} rows")
    for row in kpis.read_kpis(conn, schema, KPI_DAILY):
        print(f"\nKPIs for {row['day']} (kpi_daily):")
        for name in KPI_METRIC_NAMES:
            print(f"  {name:<22} {_shown(row[name])}")
