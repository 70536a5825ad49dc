"""Hourly lake assets: the S3 sink's hour of NDJSON → typed events (Parquet per hour) → user_events rows of
that hour replaced in PostgreSQL → kpi_hourly / kpi_daily recomputed.

Every asset is hourly-partitioned with a single-run backfill policy: a range of hours is one run and one
Spark job, and each hour is still replaced atomically (all hours of the run in one transaction).
Intermediate Parquet lives under USER_EVENTS_LAKE_DIR (default .data/lake), one directory per hour, written
and read through the lake IO manager (`io_manager.py`).
"""

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from user_events.asset_keys import HOURLY_KPIS, HOURLY_TYPED_EVENTS, HOURLY_USER_EVENTS, LAKE_EVENTS_HOURLY, kafka_topic
from user_events.ingest.resources import SparkResource
from user_events.lake.fetch import all_objects, hour_objects, lake_object_paths, objects_text
from user_events.lake.hour_dirs import scratch_dir
from user_events.lake.io_manager import LAKE_IO_MANAGER, TypedHours, ValidatedHours
from user_events.lake.loads import load_typed_hours
from user_events.lake.partitions import HOURLY_PARTITIONS, hour_range_text, window_hours
from user_events.lake.reports import note_hours_left_as_they_were, report_hours_loaded, typed_events_metadata
from user_events.lake.resources import LakeSettings
from user_events.lake.transforms import validate_lake_rows
from user_events.progress import progress
from user_events.storage.s3 import S3Storage
from user_events.storage.s3_layout import topic_prefix
from user_events.warehouse.resources import PostgresResource

GROUP = "lake"


def hourly_asset(**kwargs):
    """An hourly-partitioned lake asset whose backfills run as one run over the whole range."""
    return dg.asset(
        group_name=GROUP, partitions_def=HOURLY_PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run(), **kwargs
    )


lake_events_hourly = dg.AssetSpec(
    LAKE_EVENTS_HOURLY,
    group_name=GROUP,
    deps=[kafka_topic()],
    partitions_def=HOURLY_PARTITIONS,
    description="The S3 sink's NDJSON objects of one UTC hour under topics/<topic>/year=/month=/day=/hour=/. "
    "Written outside Dagster's assets by the S3 sink; hourly_load_sensor records every hour whose objects "
    "changed, with the hour's totals, whichever sink process wrote it (late events: reported again).",
)


@hourly_asset(
    key=HOURLY_TYPED_EVENTS,
    deps=[LAKE_EVENTS_HOURLY],
    io_manager_key=LAKE_IO_MANAGER,
    description="One hour (or a range, in one Spark job) of lake events (fetched by parallel GETs when Spark "
    "runs in process, else read through s3a://), validated with "
    "the batch rules (rejects kept with source lake:<hour>), de-duplicated; Parquet per hour. An hour without "
    "lake objects is left as it was (a range skips it; a run with no such hour at all fails).",
)
def hourly_typed_events(
    context: dg.AssetExecutionContext, spark: SparkResource, s3: S3Storage, lake: LakeSettings
) -> Iterator[dg.Output[ValidatedHours]]:
    started, window = time.monotonic(), window_hours(context)
    objects = hour_objects(s3, lake.topic_name(), window)
    require_lake_objects(context, window, objects, where=f"s3://{s3.bucket_name()}/{topic_prefix(lake.topic_name())}")
    progress(context, objects_text(objects))
    rejected_at = datetime.now(UTC).replace(microsecond=0)
    keys, session = [o["Key"] for o in all_objects(objects)], spark.spark_session
    with run_scratch(lake.root(), "validated", "fetched") as (validated, fetched):
        paths = lake_object_paths(context, session, s3, keys, fetched)
        typed, rejected = validate_lake_rows(session, paths, validated, rejected_at)
        # the IO manager stores the rows while this generator waits here, before the scratch goes
        yield dg.Output(
            ValidatedHours(typed, rejected, objects, started), metadata=typed_events_metadata(objects, window)
        )


def require_lake_objects(context, window: list[datetime], objects: dict[datetime, list[dict]], where: str) -> None:
    """Fail when no hour of the window has lake objects; the hours without any are left as they were (and say so)."""
    empty = [h for h in window if h not in objects]
    if len(empty) == len(window):
        raise dg.Failure(
            description=f"no lake objects for {hour_range_text(window)} under {where}: nothing read, nothing "
            "replaced (a missing hour is not an empty hour: is the S3 sink running for this topic?)"
        )
    if empty:
        context.log.warning(
            f"no lake objects for {hour_range_text(empty)} under {where}: those hours are left as they were"
        )
        note_hours_left_as_they_were(context, empty, [context.asset_key], f"no lake objects under {where}")


@contextmanager
def run_scratch(root: Path, *kinds: str) -> Iterator[list[Path]]:
    """Fresh working directories of one run, removed when the block ends (however it ends)."""
    dirs = [scratch_dir(root, kind) for kind in kinds]
    try:
        yield dirs
    finally:
        for path in dirs:
            shutil.rmtree(path, ignore_errors=True)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            HOURLY_USER_EVENTS,
            group_name=GROUP,
            partitions_def=HOURLY_PARTITIONS,
            deps=[HOURLY_TYPED_EVENTS],
            description="PostgreSQL user_events: the rows the lake path owns in the hour(s) replaced by the "
            "lake's typed events (batch rows kept; an event both paths stored is stored once), and the hour's "
            "rejected_events rows replaced. An hour hourly_typed_events never read is left as it was.",
        ),
        dg.AssetSpec(
            HOURLY_KPIS,
            group_name=GROUP,
            partitions_def=HOURLY_PARTITIONS,
            deps=[HOURLY_USER_EVENTS],
            description="kpi_hourly of the hour(s) and kpi_daily of their day(s), recomputed in SQL from "
            "user_events in the load's transaction; the hour's KPIs as numeric metadata (plotted per partition).",
        ),
    ],
    ins={"typed": dg.AssetIn(HOURLY_TYPED_EVENTS)},
    name="hourly_warehouse_load",
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def hourly_warehouse_load(
    context: dg.AssetExecutionContext, typed: TypedHours, warehouse: PostgresResource
) -> Iterator[dg.MaterializeResult]:
    require_hours_read(context, typed)
    with warehouse.retrying(context):
        loaded = load_typed_hours(warehouse, typed)
    yield from report_hours_loaded(context, warehouse.pg_schema, typed, loaded)


def require_hours_read(context, typed: TypedHours) -> None:
    """Fail when hourly_typed_events read no hour of the window; note the hours it did not read as left as they were."""
    if not typed.read:
        raise dg.Failure(
            description=f"hourly_typed_events has not been materialised for {hour_range_text(typed.unread)} "
            "(or the lake had no objects for it): nothing loaded, nothing deleted. Materialise "
            "hourly_typed_events for these hours first, or run hourly_load_job."
        )
    if typed.unread:
        context.log.warning(
            f"hourly_typed_events has not read {hour_range_text(typed.unread)}: those hours are left as they were"
        )
        note_hours_left_as_they_were(
            context, typed.unread, [HOURLY_USER_EVENTS, HOURLY_KPIS], "hourly_typed_events has not read this hour"
        )


LAKE_ASSETS = [lake_events_hourly, hourly_typed_events, hourly_warehouse_load]
