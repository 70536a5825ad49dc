"""The hours the lake read, into PostgreSQL: their `user_events` and `rejected_events` rows replaced (the
KPIs recomputed in the same transaction), and the hours' KPI rows read back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from user_events.lake.hour_dirs import batches_of_hours
from user_events.lake.io_manager import TypedHours
from user_events.schema import KPI_HOURLY, REJECTED_EVENTS, USER_EVENTS
from user_events.storage.s3_layout import lake_source
from user_events.warehouse import kpis, load
from user_events.warehouse.resources import PostgresResource


@dataclass(frozen=True)
class HoursLoaded:
    stats: dict  # warehouse.load.load_user_events's counts (inserted, deleted, skipped_owned_by_other_load, kpis)
    rejected_rows: int
    kpi_rows: dict[datetime, dict]  # kpi_hourly of each hour loaded


def load_typed_hours(warehouse: PostgresResource, typed: TypedHours) -> HoursLoaded:
    schema, root, hours = warehouse.pg_schema, typed.root, typed.read
    with warehouse.connect(autocommit=True) as conn:
        load.ensure_tables(conn, schema)
        stats = load.load_user_events(
            conn, schema, batches_of_hours(root, "typed", USER_EVENTS.column_names, hours), hours, loaded_by="lake"
        )
        rejected = load.load_rejected_events(
            conn,
            schema,
            batches_of_hours(root, "rejected", REJECTED_EVENTS.column_names, hours),
            [lake_source(h) for h in hours],
        )
        rows = {r["hour"]: r for r in kpis.read_kpis(conn, schema, KPI_HOURLY, hours)}
    return HoursLoaded(stats, rejected["inserted"], rows)
