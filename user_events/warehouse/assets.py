"""Warehouse assets: the six PostgreSQL tables loaded from the batch Parquet (thin: see load.py, kpis.py).

They depend on typed_events / brand_details, whose blocking checks therefore run first: a failed check
stops the run before anything is written to PostgreSQL.
"""

import time

import dagster as dg

from user_events.asset_keys import HOURLY_KPIS, HOURLY_USER_EVENTS, TYPED_EVENTS, WAREHOUSE_PREFIX, warehouse_table
from user_events.ingest.handles import BrandDetailsData, TypedEvents
from user_events.progress import progress
from user_events.schema import (
    BRAND_DETAILS,
    EVENTS_BY_TYPE_HOURLY,
    KPI_DAILY,
    KPI_HOURLY,
    REJECTED_EVENTS,
    USER_EVENTS,
    TableSpec,
)
from user_events.warehouse import kpis, load
from user_events.warehouse.resources import PostgresResource

PREFIX = WAREHOUSE_PREFIX
GROUP = "warehouse"
KPI_TABLES = ((KPI_HOURLY, "hour"), (KPI_DAILY, "day"))


def _table_meta(warehouse: PostgresResource, table: str) -> dict:
    return {
        "table": f"{warehouse.pg_schema}.{table}",
        "dagster/relation_identifier": f"{warehouse.pg_schema}.{table}",
        "warehouse": warehouse.display_url(),
    }


def _load(context, warehouse: PostgresResource, load_into) -> dict:
    """`load_into(conn, schema)` on a connection to the warehouse, its tables created first; its stats.
    A lost or refused connection retries the step (each load is one transaction)."""
    with warehouse.retrying(context), warehouse.connect(autocommit=True) as conn:
        load.ensure_tables(conn, warehouse.pg_schema)
        return load_into(conn, warehouse.pg_schema)


def _loaded(context, warehouse: PostgresResource, table: TableSpec, stats: dict, **metadata) -> dg.MaterializeResult:
    """A whole-table or per-source load's result: its rows reported, its table's metadata beside `metadata`."""
    progress(context, f"{table.name}: {stats['inserted']:,} rows")
    return dg.MaterializeResult(
        metadata={**_table_meta(warehouse, table.name), "rows_inserted": stats["inserted"], **metadata}
    )


def _load_events_and_read_kpis(context, warehouse: PostgresResource, events: TypedEvents) -> tuple[dict, dict]:
    """user_events loaded (the KPIs of its hours recomputed in the same transaction), then those KPI rows."""

    def load_into(conn, schema: str) -> tuple[dict, dict]:
        batches = load.parquet_batches(events.path, USER_EVENTS.column_names)
        stats = load.load_user_events(conn, schema, batches, events.hours, loaded_by="batch")
        kpi_rows = {t: kpis.read_kpis(conn, schema, t, kpis.kpi_periods(t, events.hours)) for t, _ in KPI_TABLES}
        return stats, kpi_rows

    return _load(context, warehouse, load_into)


def _events_and_kpis_results(warehouse: PostgresResource, events: TypedEvents, stats: dict, kpi_rows: dict):
    yield dg.MaterializeResult(
        asset_key=warehouse_table(USER_EVENTS.name),
        metadata={
            **_table_meta(warehouse, USER_EVENTS.name),
            "rows_inserted": stats["inserted"],
            "rows_replaced": stats["deleted"],
            "rows_kept_owned_by_lake": stats["skipped_owned_by_other_load"],
            "hours_replaced": len(events.hours),
            "load_mode": stats["mode"],
            "duplicates_dropped": events.duplicates,
        },
    )
    for table, period in KPI_TABLES:
        yield dg.MaterializeResult(
            asset_key=warehouse_table(table.name),
            metadata={
                **_table_meta(warehouse, table.name),
                "rows_written": stats["kpis"][table.name],
                **kpis.kpi_metadata(kpi_rows[table], period),
            },
        )
    yield dg.MaterializeResult(
        asset_key=warehouse_table(EVENTS_BY_TYPE_HOURLY.name),
        metadata={**_table_meta(warehouse, EVENTS_BY_TYPE_HOURLY.name), "hours": len(events.hours)},
    )


def _recomputed_table_spec(table: str, what: str) -> dg.AssetSpec:
    """A table that every load recomputes from user_events (batch path) or after the hourly loads' KPIs."""
    return dg.AssetSpec(
        key=warehouse_table(table),
        group_name=GROUP,
        deps=[warehouse_table(USER_EVENTS.name), HOURLY_KPIS],
        description=f"PostgreSQL {table}: {what}",
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=warehouse_table(USER_EVENTS.name),
            group_name=GROUP,
            deps=[TYPED_EVENTS, HOURLY_USER_EVENTS],
            description="PostgreSQL user_events: the rows the batch path owns in the UTC hours of its input "
            "replaced (rows of the hourly lake loads kept; an event both paths stored is stored once).",
        ),
        *(
            _recomputed_table_spec(
                table.name,
                f"KPIs per UTC {period}, recomputed in SQL from user_events for the periods the load "
                "touched, in the load's transaction (see warehouse/kpis.py).",
            )
            for table, period in KPI_TABLES
        ),
        _recomputed_table_spec(
            EVENTS_BY_TYPE_HOURLY.name,
            "events per UTC hour and event type (the dashboards' funnel), recomputed with the KPIs for the "
            "hours the load touched, in its transaction.",
        ),
    ],
    name="warehouse_events_and_kpis",
)
def warehouse_events_and_kpis(
    context: dg.AssetExecutionContext, warehouse: PostgresResource, typed_events: TypedEvents
):
    """user_events and the KPIs of the hours it touched in one transaction: the KPI tables never describe
    other rows than user_events holds, even when a later step fails."""
    started = time.monotonic()
    progress(context, f"loading {typed_events.rows_out:,} events into {warehouse.pg_schema}.user_events")
    stats, kpi_rows = _load_events_and_read_kpis(context, warehouse, typed_events)
    progress(
        context,
        f"user_events: {stats['inserted']:,} rows ({stats['mode']}), KPIs of {len(typed_events.hours)} "
        f"hour(s) in {time.monotonic() - started:.1f}s",
    )
    yield from _events_and_kpis_results(warehouse, typed_events, stats, kpi_rows)


@dg.asset(
    key_prefix=PREFIX,
    name=REJECTED_EVENTS.name,
    group_name=GROUP,
    deps=[HOURLY_USER_EVENTS],
    description="PostgreSQL rejected_events: raw text + reason; rows of the input's files (source) replaced.",
)
def warehouse_rejected_events(
    context: dg.AssetExecutionContext, warehouse: PostgresResource, typed_events: TypedEvents
) -> dg.MaterializeResult:
    stats = _load(
        context,
        warehouse,
        lambda conn, schema: load.load_rejected_events(
            conn,
            schema,
            load.parquet_batches(typed_events.rejected_path, REJECTED_EVENTS.column_names),
            typed_events.sources,
        ),
    )
    return _loaded(
        context,
        warehouse,
        REJECTED_EVENTS,
        stats,
        sources=len(typed_events.sources),
        **{f"rejected.{reason}": n for reason, n in typed_events.rejected_by_reason.items()},
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
    stats = _load(
        context,
        warehouse,
        lambda conn, schema: load.replace_table(
            conn, schema, BRAND_DETAILS, load.parquet_batches(brand_details.path, BRAND_DETAILS.column_names)
        ),
    )
    return _loaded(context, warehouse, BRAND_DETAILS, stats)


WAREHOUSE_ASSETS = [warehouse_events_and_kpis, warehouse_rejected_events, warehouse_brand_details]
