"""Warehouse assets: the five PostgreSQL tables loaded from the batch Parquet (thin: see load.py, kpis.py).

They depend on typed_events / brand_details, whose blocking checks therefore run first: a failed check
stops the run before anything is written to PostgreSQL.
"""


import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import dagster as dg

from user_events.asset_keys import WAREHOUSE_PREFIX
from user_events.ingest.assets import BrandDetailsData, TypedEvents, progress
from user_events.schema import (
    BRAND_DETAILS,
    KPI_DAILY,
    KPI_HOURLY,
    KPI_METRIC_NAMES,
    REJECTED_EVENTS,
    USER_EVENTS,
)
from user_events.warehouse import kpis, load
from user_events.warehouse.resources import PostgresResource

PREFIX = WAREHOUSE_PREFIX
GROUP = "warehouse"


@dataclass(frozen=True)
class LoadedHours:
    hours: tuple[datetime, ...]


def _table_meta(warehouse: PostgresResource, table: str) -> dict:
    return {
        "table": f"{warehouse.pg_schema}.{table}",
        "dagster/relation_identifier": f"{warehouse.pg_schema}.{table}",
        "warehouse": warehouse.display_url(),
    }


def _prepare(conn, warehouse: PostgresResource) -> None:
    load.ensure_tables(conn, warehouse.pg_schema)


@dg.asset(
    key_prefix=PREFIX,
    name=USER_EVENTS.name,
    group_name=GROUP,
    description="PostgreSQL user_events: the UTC hours present in the batch input replaced (delete + COPY, "
    "one transaction); other hours (e.g. hourly S3 loads) untouched.",
)
def warehouse_user_events(
    context: dg.AssetExecutionContext, warehouse: PostgresResource, typed_events: TypedEvents
) -> dg.Output[LoadedHours]:
    started = time.monotonic()
    with warehouse.connect(autocommit=True) as conn:
        _prepare(conn, warehouse)
        progress(context, f"loading {typed_events.rows_out:,} events into {warehouse.pg_schema}.user_events")
        stats = load.load_user_events(
            conn,
            warehouse.pg_schema,
            load.parquet_batches(typed_events.path, USER_EVENTS.column_names),
            typed_events.hours,
        )
    progress(context, f"user_events: {stats['inserted']:,} rows ({stats['mode']}) in {time.monotonic() - started:.1f}s")
    return dg.Output(
        LoadedHours(typed_events.hours),
        metadata={
            **_table_meta(warehouse, USER_EVENTS.name),
            "rows_inserted": stats["inserted"],
            "rows_replaced": stats["deleted"],
            "hours_replaced": len(typed_events.hours),
            "load_mode": stats["mode"],
            "duplicates_dropped": typed_events.duplicates,
        },
    )


@dg.asset(
    key_prefix=PREFIX,
    name=REJECTED_EVENTS.name,
    group_name=GROUP,
    description="PostgreSQL rejected_events: raw text + reason; rows of the input's files (source) replaced.",
)
def warehouse_rejected_events(
    context: dg.AssetExecutionContext, warehouse: PostgresResource, typed_events: TypedEvents
) -> dg.MaterializeResult:
    with warehouse.connect(autocommit=True) as conn:
        _prepare(conn, warehouse)
        stats = load.load_rejected_events(
            conn,
            warehouse.pg_schema,
            load.parquet_batches(typed_events.rejected_path, REJECTED_EVENTS.column_names),
            typed_events.sources,
        )
    progress(context, f"rejected_events: {stats['inserted']:,} rows")
    return dg.MaterializeResult(
        metadata={
            **_table_meta(warehouse, REJECTED_EVENTS.name),
            "rows_inserted": stats["inserted"],
            "sources": len(typed_events.sources),
            **{f"rejected.{reason}": n for reason, n in typed_events.rejected_by_reason.items()},
        }
    )


@dg.asset(
    key_prefix=PREFIX,
    name=BRAND_DETAILS.name,
    group_name=GROUP,
    description="PostgreSQL brand_details: fully replaced from the batch input's brand details.",
)
def warehouse_brand_details(
    context: dg.AssetExecutionContext, warehouse: PostgresResource, brand_details: BrandDetailsData
) -> dg.MaterializeResult:
    with warehouse.connect(autocommit=True) as conn:
        _prepare(conn, warehouse)
        stats = load.replace_table(
            conn, warehouse.pg_schema, BRAND_DETAILS, load.parquet_batches(brand_details.path, BRAND_DETAILS.column_names)
        )
    progress(context, f"brand_details: {stats['inserted']:,} rows")
    return dg.MaterializeResult(
        metadata={**_table_meta(warehouse, BRAND_DETAILS.name), "rows_inserted": stats["inserted"]}
    )


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


KPI_TABLES = ((KPI_HOURLY, "hour"), (KPI_DAILY, "day"))


def _recompute_kpi_table(warehouse: PostgresResource, table, periods) -> tuple[int, list[dict]]:
    with warehouse.connect(autocommit=True) as conn:
        with conn.transaction():
            written = kpis.recompute_kpi_table(conn, warehouse.pg_schema, table, periods)
        return written, kpis.read_kpis(conn, warehouse.pg_schema, table, periods)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=[PREFIX, table.name],
            group_name=GROUP,
            deps=[dg.AssetKey([PREFIX, USER_EVENTS.name])],
            description=f"PostgreSQL {table.name}: KPIs per UTC {period}, recomputed in SQL from user_events for "
            "the periods the load touched (see warehouse/kpis.py for the definitions).",
        )
        for table, period in KPI_TABLES
    ],
    ins={"loaded": dg.AssetIn(key=dg.AssetKey([PREFIX, USER_EVENTS.name]))},
    name="warehouse_kpis",
)
def warehouse_kpis(context: dg.AssetExecutionContext, warehouse: PostgresResource, loaded: LoadedHours):
    """Both KPI tables at once, each in its own connection and transaction: two PostgreSQL backends, so the
    two scans of user_events run side by side."""
    with warehouse.connect(autocommit=True) as conn:
        _prepare(conn, warehouse)
    with ThreadPoolExecutor(max_workers=len(KPI_TABLES)) as pool:
        futures = {
            table: pool.submit(_recompute_kpi_table, warehouse, table, kpis.kpi_periods(table, loaded.hours))
            for table, _ in KPI_TABLES
        }
    for table, period in KPI_TABLES:
        written, rows = futures[table].result()
        progress(context, f"{table.name}: {written} row(s)")
        yield dg.MaterializeResult(
            asset_key=[PREFIX, table.name],
            metadata={**_table_meta(warehouse, table.name), "rows_written": written, **kpi_metadata(rows, period)},
        )


WAREHOUSE_ASSETS = [
    warehouse_user_events,
    warehouse_rejected_events,
    warehouse_brand_details,
    warehouse_kpis,
]
