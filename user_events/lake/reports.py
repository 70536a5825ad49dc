"""What the lake assets tell Dagster beside their materialisations: hours left as they were, the warehouse
tables the lake path wrote, and each hour's own KPIs (a single-run range materialises every hour at once, so
what belongs to one hour goes on an observation of that hour's partition)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import dagster as dg

from user_events.asset_keys import HOURLY_KPIS, HOURLY_USER_EVENTS, warehouse_table
from user_events.lake.fetch import all_objects
from user_events.lake.io_manager import TypedHours
from user_events.lake.loads import HoursLoaded
from user_events.lake.partitions import hour_range_text
from user_events.progress import progress
from user_events.schema import EVENTS_BY_TYPE_HOURLY, KPI_HOURLY, REJECTED_EVENTS, USER_EVENTS
from user_events.storage.s3_layout import hour_partition_key
from user_events.warehouse import kpis


def note_hours_left_as_they_were(context, hours: list[datetime], asset_keys: list[dg.AssetKey], why: str) -> None:
    """On each untouched hour's own page (of each asset) an observation saying so."""
    for asset_key in asset_keys:
        for hour in hours:
            context.log_event(
                dg.AssetObservation(
                    asset_key=asset_key, partition=hour_partition_key(hour), metadata={"left_as_it_was": why}
                )
            )


def log_warehouse_tables_written(context, hours: list[datetime], stats: dict, rejected_rows: int) -> None:
    """The warehouse tables' own assets record that the lake path wrote them (beside the batch path's runs)."""
    common = {"loaded_by": "lake", "hours": hour_range_text(hours), "partitions": len(hours)}
    written = {
        USER_EVENTS.name: {"rows_inserted": stats["inserted"], "rows_replaced": stats["deleted"]},
        REJECTED_EVENTS.name: {"rows_inserted": rejected_rows},
        **{table: {"rows_written": int(n)} for table, n in stats["kpis"].items()},
        EVENTS_BY_TYPE_HOURLY.name: {},
    }
    for table, metadata in written.items():
        context.log_event(dg.AssetMaterialization(asset_key=warehouse_table(table), metadata={**common, **metadata}))


def hour_kpi_metadata(row: dict | None) -> dict:
    """One hour's KPIs as int/float metadata (the UI plots only numbers)."""
    return kpis.kpi_metadata([row] if row else [], "hour")


def observe_hour_kpis(context, hours: list[datetime], rows: dict[datetime, dict]) -> None:
    for hour in hours:
        context.log_event(
            dg.AssetObservation(
                asset_key=HOURLY_KPIS, partition=hour_partition_key(hour), metadata=hour_kpi_metadata(rows.get(hour))
            )
        )


def typed_events_metadata(objects: dict[datetime, list[dict]], window: list[datetime]) -> dict:
    """hourly_typed_events' own metadata (the IO manager adds what it stored)."""
    found = all_objects(objects)
    return {
        "objects": len(found),
        "bytes": sum(int(o.get("Size", 0)) for o in found),
        "hours": len(objects),
        "hours_without_objects": len(window) - len(objects),
    }


def report_hours_loaded(context, schema: str, typed: TypedHours, loaded: HoursLoaded) -> Iterator[dg.MaterializeResult]:
    """The progress line, the warehouse tables' materialisations, and the results of hourly_user_events and
    hourly_kpis (one hour: its KPIs on the materialisation; a range: each hour's on an observation of it)."""
    hours, stats = typed.read, loaded.stats
    progress(
        context,
        f"user_events: {stats['inserted']:,} rows in {len(hours)} hour(s) (replaced {stats['deleted']:,}, "
        f"{stats['skipped_owned_by_other_load']:,} already stored by the batch path)",
    )
    log_warehouse_tables_written(context, hours, stats, loaded.rejected_rows)
    yield dg.MaterializeResult(
        asset_key=HOURLY_USER_EVENTS,
        metadata={
            "table": f"{schema}.{USER_EVENTS.name}",
            "rows_inserted": stats["inserted"],
            "rows_replaced": stats["deleted"],
            "rows_kept_owned_by_batch": stats["skipped_owned_by_other_load"],
            "rejected_rows": loaded.rejected_rows,
            "hours": len(hours),
            "hours_not_read": len(typed.unread),
        },
    )
    table = {"table": f"{schema}.{KPI_HOURLY.name}"}
    if len(hours) + len(typed.unread) == 1:
        kpi_metadata = {**table, **hour_kpi_metadata(loaded.kpi_rows.get(hours[0]))}
    else:
        observe_hour_kpis(context, hours, loaded.kpi_rows)
        kpi_metadata = {**table, "hours": len(hours), **{k: int(v) for k, v in stats["kpis"].items()}}
    yield dg.MaterializeResult(asset_key=HOURLY_KPIS, metadata=kpi_metadata)
