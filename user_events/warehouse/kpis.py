"""KPI tables recomputed in PostgreSQL from user_events (one SQL statement for kpi_hourly and kpi_daily; the
statements are in warehouse/sql/, loaded by name, their identifiers composed with psycopg.sql).

Definitions (docs/reference.md), over the accepted events of the period:
- events; users = distinct user_id; sessions = distinct non-NULL user_session (a NULL session counts as an
  event, not a session); purchases = purchase events; revenue = sum(price) of purchase events;
- orders = sessions with at least one purchase; conversion_rate = orders / sessions (NULL without sessions);
- cart_abandonment_rate = 1 - sessions with a cart and a purchase / sessions with a cart (NULL: no carts);
- returning_user_rate = users with >= 2 distinct sessions / users;
- repeat_customer_rate = users with purchases in >= 2 distinct sessions / users with >= 1 purchase (NULL: none);
- avg_order_value = revenue / orders (NULL without orders).

A period is recomputed as a whole from what user_events holds, so a load that replaced some hours (batch
or hourly) calls `recompute_kpis` with those hours and every affected hour and day is right again; it calls
`recompute_events_by_type` beside it for events_by_type_hourly (not a KPI: the dashboards' funnel).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from importlib import resources

from psycopg import sql

from user_events.schema import (
    EVENTS_BY_TYPE_HOURLY,
    KINDS,
    KPI_DAILY,
    KPI_HOURLY,
    KPI_METRIC_NAMES,
    USER_EVENTS,
    TableSpec,
    column_list,
)

SQL_DIR = "sql"


def sql_file(name: str) -> sql.SQL:
    """The statement in warehouse/sql/<name>.sql, its `{placeholders}` left for `sql.SQL.format`."""
    return sql.SQL(resources.files(__package__).joinpath(SQL_DIR, f"{name}.sql").read_text(encoding="utf-8"))


def _metric_ctes(groups: str, prefix: str) -> sql.Composed:
    """kpi_metrics.sql over the relation `groups`, its CTEs named `<prefix>_sessions` ... `<prefix>_rows`."""
    return sql_file("kpi_metrics").format(
        groups=sql.Identifier(groups),
        money=sql.SQL(KINDS["money"][1]),
        **{part: sql.Identifier(f"{prefix}_{part}") for part in ("sessions", "users", "totals", "rows")},
    )


def kpis_sql(schema: str) -> sql.Composed:
    """kpis.sql: one statement inserting kpi_hourly's rows for the hours in %(hours)s and kpi_daily's for the
    days in %(days)s (those hours' days), returning (hourly rows, daily rows)."""
    return sql_file("kpis").format(
        events=sql.Identifier(schema, USER_EVENTS.name),
        hourly_metrics=_metric_ctes("hourly_groups", "hourly"),
        daily_metrics=_metric_ctes("daily_groups", "daily"),
        kpi_hourly=sql.Identifier(schema, KPI_HOURLY.name),
        kpi_hourly_columns=column_list(KPI_HOURLY.column_names),
        kpi_daily=sql.Identifier(schema, KPI_DAILY.name),
        kpi_daily_columns=column_list(KPI_DAILY.column_names),
    )


def kpi_periods(table: TableSpec, hours: Sequence[datetime]) -> list:
    """The periods of a KPI table that the given UTC hours touch: the hours themselves, or their days."""
    return list(hours) if table is KPI_HOURLY else sorted({h.date() for h in hours})


def recompute_kpis(conn, schema: str, hours: Sequence[datetime]) -> dict[str, int]:
    """Replace kpi_hourly's rows of `hours` and kpi_daily's of their UTC days by fresh values, in one
    transaction; returns rows written per table. A period without events any more loses its row."""
    periods = {t: kpi_periods(t, hours) for t in (KPI_HOURLY, KPI_DAILY)}
    with conn.transaction():
        conn.execute("SET LOCAL work_mem = '256MB'")  # the per-(hour, user, session) hash aggregate in memory
        for table, values in periods.items():
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(
                    sql.Identifier(schema, table.name), sql.Identifier(table.columns[0].name)
                ),
                (values,),
            )
        hourly, daily = conn.execute(
            kpis_sql(schema), {"hours": periods[KPI_HOURLY], "days": periods[KPI_DAILY]}
        ).fetchone()
    return {KPI_HOURLY.name: hourly, KPI_DAILY.name: daily}


def recompute_events_by_type(conn, schema: str, hours: Sequence[datetime]) -> int:
    """Replace events_by_type_hourly's rows of `hours` by the events per (hour, event type) that user_events
    holds now, in the caller's transaction; returns rows written (an hour without events keeps none)."""
    target = sql.Identifier(schema, EVENTS_BY_TYPE_HOURLY.name)
    hour_list = list(hours)
    conn.execute(sql.SQL("DELETE FROM {} WHERE hour = ANY(%s)").format(target), (hour_list,))
    return conn.execute(
        sql_file("events_by_type_hourly").format(target=target, events=sql.Identifier(schema, USER_EVENTS.name)),
        {"hours": hour_list},
    ).rowcount


def read_kpis(conn, schema: str, table: TableSpec, periods: Sequence | None = None) -> list[dict]:
    """Rows of a KPI table (all, or those of `periods`), as dicts of Python values."""
    key = sql.Identifier(table.columns[0].name)
    where = sql.SQL(" WHERE {} = ANY(%s)").format(key) if periods is not None else sql.SQL("")
    query = sql.SQL("SELECT {} FROM {}{} ORDER BY {}").format(
        column_list(table.column_names), sql.Identifier(schema, table.name), where, key
    )
    with conn.cursor() as cur:
        cur.execute(query, (list(periods),) if periods is not None else None)
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=False)) for row in cur]


def kpi_metadata(rows: list[dict], period: str) -> dict:
    """Numeric metadata (plotted by the UI) for a single period; counts per table otherwise."""
    meta: dict = {"periods": len(rows)}
    if not rows:
        meta["events"] = 0  # an empty period plots as zero events
    if len(rows) == 1:
        for name in KPI_METRIC_NAMES:
            value = rows[0][name]
            if value is not None:
                meta[name] = int(value) if isinstance(value, int) else float(value)
    elif rows:
        meta["events"] = int(sum(r["events"] for r in rows))
        meta["revenue"] = float(sum(r["revenue"] for r in rows))
        meta[f"first_{period}"] = str(rows[0][list(rows[0])[0]])
        meta[f"last_{period}"] = str(rows[-1][list(rows[-1])[0]])
    return meta


__all__ = [
    "kpis_sql",
    "kpi_periods",
    "recompute_kpis",
    "recompute_events_by_type",
    "read_kpis",
    "kpi_metadata",
    "KPI_METRIC_NAMES",
]
