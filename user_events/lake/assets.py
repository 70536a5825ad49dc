"""Hourly lake assets: the S3 sink's hour of NDJSON → typed events (Parquet per hour) → user_events rows of
that hour replaced in PostgreSQL → kpi_hourly / kpi_daily recomputed.

Every asset is hourly-partitioned with a single-run backfill policy: a range of hours is one run and one
Spark job, and each hour is still replaced atomically (all hours of the run in one transaction).
Intermediate Parquet lives under USER_EVENTS_LAKE_DIR (default .data/lake), one directory per hour.
"""

import itertools
import json
import shutil
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from pyspark.sql import functions as F

from user_events.asset_keys import HOURLY_KPIS, HOURLY_USER_EVENTS, LAKE_EVENTS_HOURLY, kafka_topic, warehouse_table
from user_events.files import PARQUET_WRITE_OPTIONS, join_line_files, replace_dir, write_parquet
from user_events.ingest import transforms as T
from user_events.ingest.resources import SparkResource
from user_events.lake.partitions import HOUR_DIR_FORMAT, HOURLY_PARTITIONS, hours_in_window, list_hour_objects
from user_events.lake.resources import LakeSettings
from user_events.lake.transforms import read_lake_json
from user_events.progress import progress
from user_events.schema import EVENTS_BY_TYPE_HOURLY, KPI_HOURLY, REJECTED_EVENTS, USER_EVENTS
from user_events.spark import reads_local_files
from user_events.storage.s3 import S3Storage
from user_events.storage.s3_client import download_objects
from user_events.storage.s3_layout import (
    hour_of_lake_source,
    hour_partition_key,
    lake_source,
    spark_datetime_pattern,
    topic_prefix,
)
from user_events.warehouse import kpis, load
from user_events.warehouse.resources import PostgresResource

GROUP = "lake"
LAKE_EVENTS = LAKE_EVENTS_HOURLY
_HOUR_COL = "_hour"
FETCHED_HOUR_FILE = "objects.json"


def hourly_asset(**kwargs):
    """An hourly-partitioned lake asset whose backfills run as one run over the whole range."""
    return dg.asset(
        group_name=GROUP, partitions_def=HOURLY_PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run(), **kwargs
    )


def hour_dir(root: Path, kind: str, hour: datetime) -> Path:
    """Where an hour's Parquet of `kind` (typed | rejected) lives; absent = the hour had no such rows."""
    return root / kind / f"hour={hour:{HOUR_DIR_FORMAT}}"


def window_hours(context) -> list[datetime]:
    start, end = context.partition_time_window
    return hours_in_window(start, end)


def scratch_dir(root: Path, kind: str) -> Path:
    """A fresh working directory of one run (no leading dot or underscore: Spark ignores such paths)."""
    return root / "scratch" / f"{kind}-{uuid.uuid4().hex[:8]}"


def write_hour_dirs(root: Path, df, kind: str, hours: list[datetime]) -> None:
    """Write `df` (with _HOUR_COL) as one Parquet directory per hour, replacing each hour of the window.

    One Spark job writes every hour into a scratch directory; then each hour's directory is swapped in (an
    hour without rows loses its old directory).
    """
    scratch = scratch_dir(root, kind)
    df.write.mode("overwrite").options(**PARQUET_WRITE_OPTIONS).partitionBy(_HOUR_COL).parquet(str(scratch))
    for hour in hours:
        replace_dir(scratch / f"{_HOUR_COL}={hour:{HOUR_DIR_FORMAT}}", hour_dir(root, kind, hour))
    shutil.rmtree(scratch, ignore_errors=True)


def read_hours(root: Path, spark, kind: str, hours: list[datetime]):
    """The Parquet of `kind` for the hours that have any (None when none has)."""
    paths = [str(hour_dir(root, kind, h)) for h in hours if hour_dir(root, kind, h).exists()]
    return spark.read.parquet(*paths) if paths else None


def hour_objects(s3: S3Storage, topic: str, hours: list[datetime]) -> dict[datetime, list[dict]]:
    """The window's S3 objects by hour (one LIST per UTC day); an hour without objects is absent."""
    by_key = list_hour_objects(s3.get_client(), s3.bucket_name(), topic, hours[0], hours[-1] + timedelta(hours=1))
    return {
        h: sorted(by_key[hour_partition_key(h)], key=lambda o: o["Key"])
        for h in hours
        if by_key.get(hour_partition_key(h))
    }


def lake_object_paths(context, session, s3: S3Storage, keys: list[str], fetched: Path) -> list[str]:
    """What Spark reads the objects from: when Spark reads this host's files, local copies fetched by parallel GETs
    (s3a opens the many small objects one by one per task: 11-21 s for an hour's 500, boto3 2-5 s), else the
    objects themselves through s3a:// (a cluster's executors cannot see the driver's files). The local copies of
    an hour are one file, in the hour's directory of the lake layout (the rows' source is parsed from it)."""
    if not reads_local_files(session):
        return [f"s3a://{s3.bucket_name()}/{key}" for key in keys]
    started = time.monotonic()
    local = join_line_files(download_objects(s3.get_client(), s3.bucket_name(), keys, fetched), FETCHED_HOUR_FILE)
    progress(context, f"fetched {len(keys)} object(s) in {time.monotonic() - started:.1f}s")
    return [str(p) for p in local]


def manifest_path(root: Path, hour: datetime) -> Path:
    """What hourly_typed_events read and wrote for an hour; absent = the hour was never read from the lake."""
    return root / "manifest" / f"hour={hour:{HOUR_DIR_FORMAT}}.json"


def write_manifest(root: Path, hour: datetime, objects: list[dict]) -> None:
    path = manifest_path(root, hour)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = {
        "hour": hour_partition_key(hour),
        "objects": len(objects),
        "bytes": sum(int(o.get("Size", 0)) for o in objects),
        "read_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest))
    tmp.replace(path)


def split_by_presence(hours: list[datetime], present) -> tuple[list[datetime], list[datetime]]:
    return [h for h in hours if present(h)], [h for h in hours if not present(h)]


def note_hours_left_as_they_were(context, hours: list[datetime], asset_key: dg.AssetKey, why: str) -> None:
    """A range run materialises every hour of its range at once (Dagster's single-run backfill); each hour
    it did not touch gets an observation saying so, on that partition's own page."""
    for hour in hours:
        context.log_event(
            dg.AssetObservation(
                asset_key=asset_key, partition=hour_partition_key(hour), metadata={"left_as_it_was": why}
            )
        )


def hour_range_text(hours: list[datetime]) -> str:
    if len(hours) <= 3:
        return ", ".join(hour_partition_key(h) for h in hours)
    return f"{len(hours)} hours {hour_partition_key(hours[0])}..{hour_partition_key(hours[-1])}"


lake_events_hourly = dg.AssetSpec(
    LAKE_EVENTS,
    group_name=GROUP,
    deps=[kafka_topic()],
    partitions_def=HOURLY_PARTITIONS,
    description="The S3 sink's NDJSON objects of one UTC hour under topics/<topic>/year=/month=/day=/hour=/. "
    "Written outside Dagster's assets by the S3 sink; hourly_load_sensor records every hour whose objects "
    "changed, with the hour's totals, whichever sink process wrote it (late events: reported again).",
)


@hourly_asset(
    deps=[LAKE_EVENTS],
    description="One hour (or a range, in one Spark job) of lake events (fetched by parallel GETs when Spark "
    "runs in process, else read through s3a://), validated with "
    "the batch rules (rejects kept with source lake:<hour>), de-duplicated; Parquet per hour. An hour without "
    "lake objects is left as it was (a range skips it; a run with no such hour at all fails).",
)
def hourly_typed_events(
    context: dg.AssetExecutionContext, spark: SparkResource, s3: S3Storage, lake: LakeSettings
) -> dg.MaterializeResult:
    started = time.monotonic()
    root, topic = lake.root(), lake.topic_name()
    window = window_hours(context)
    objects = hour_objects(s3, topic, window)
    hours, empty = split_by_presence(window, lambda h: h in objects)
    where = f"s3://{s3.bucket_name()}/{topic_prefix(topic)}"
    if not hours:
        raise dg.Failure(
            description=f"no lake objects for {hour_range_text(window)} under {where}: nothing read, nothing "
            "replaced (a missing hour is not an empty hour: is the S3 sink running for this topic?)"
        )
    if empty:
        context.log.warning(
            f"no lake objects for {hour_range_text(empty)} under {where}: those hours are left as they were"
        )
        note_hours_left_as_they_were(context, empty, context.asset_key, f"no lake objects under {where}")
    found = [o for h in hours for o in objects[h]]
    size = sum(int(o.get("Size", 0)) for o in found)
    session = spark.spark_session
    progress(context, f"{hour_range_text(hours)}: {len(found)} object(s), {size / 1e6:.1f} MB")
    rejected_at = datetime.now(UTC).replace(microsecond=0)
    # S3 is read and validated once; the accepted and rejected rows are then split from local Parquet
    scratch, fetched = scratch_dir(root, "validated"), scratch_dir(root, "fetched")
    try:
        paths = lake_object_paths(context, session, s3, [o["Key"] for o in found], fetched)
        validated = T.validate_raw(read_lake_json(session, paths), rejected_at=rejected_at)
        write_parquet(T.compact_validated(validated), scratch)
        typed, rejected = T.split_validated(session.read.parquet(str(scratch)))
        hour_text = lambda c: F.date_format(c, spark_datetime_pattern(HOUR_DIR_FORMAT))  # noqa: E731
        write_hour_dirs(
            root, T.dedupe_typed_events(typed).withColumn(_HOUR_COL, hour_text(F.col("event_hour"))), "typed", hours
        )
        source_hour = hour_of_lake_source(F.col("source"))
        write_hour_dirs(root, rejected.withColumn(_HOUR_COL, hour_text(source_hour)), "rejected", hours)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(fetched, ignore_errors=True)
    for hour in hours:
        write_manifest(root, hour, objects[hour])
    stats = hour_stats(root, session, hours)
    progress(
        context, f"typed {stats['rows_out']:,} / rejected {stats['rejected']:,} in {time.monotonic() - started:.1f}s"
    )
    return dg.MaterializeResult(
        metadata={
            "objects": len(found),
            "bytes": size,
            "hours": len(hours),
            "hours_without_objects": len(empty),
            "rows_out": stats["rows_out"],
            "rejected": stats["rejected"],
            "rejected_by_reason": dg.MetadataValue.json(stats["rejected_by_reason"]),
            "path": dg.MetadataValue.path(str(root)),
        }
    )


def hour_stats(root: Path, session, hours: list[datetime]) -> dict:
    typed = read_hours(root, session, "typed", hours)
    rejected = read_hours(root, session, "rejected", hours)
    by_reason = {r[0]: int(r[1]) for r in rejected.groupBy("reason").count().collect()} if rejected else {}
    return {
        "rows_out": typed.count() if typed is not None else 0,
        "rejected": sum(by_reason.values()),
        "rejected_by_reason": dict(sorted(by_reason.items())),
    }


def _batches_of_hours(root: Path, kind: str, columns: list[str], hours: list[datetime]):
    return itertools.chain.from_iterable(
        load.parquet_batches(hour_dir(root, kind, h), columns) for h in hours if hour_dir(root, kind, h).exists()
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            HOURLY_USER_EVENTS,
            group_name=GROUP,
            partitions_def=HOURLY_PARTITIONS,
            deps=["hourly_typed_events"],
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
    name="hourly_warehouse_load",
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def hourly_warehouse_load(context: dg.AssetExecutionContext, warehouse: PostgresResource, lake: LakeSettings):
    root = lake.root()
    window = window_hours(context)
    hours, unread = split_by_presence(window, lambda h: manifest_path(root, h).exists())
    if not hours:
        raise dg.Failure(
            description=f"hourly_typed_events has not been materialised for {hour_range_text(window)} "
            "(or the lake had no objects for it): nothing loaded, nothing deleted. Materialise "
            "hourly_typed_events for these hours first, or run hourly_load_job."
        )
    if unread:
        context.log.warning(
            f"hourly_typed_events has not read {hour_range_text(unread)}: those hours are left as they were"
        )
        for key in (HOURLY_USER_EVENTS, HOURLY_KPIS):
            note_hours_left_as_they_were(context, unread, key, "hourly_typed_events has not read this hour")
    with warehouse.connect(autocommit=True) as conn:
        load.ensure_tables(conn, warehouse.pg_schema)
        stats = load.load_user_events(
            conn,
            warehouse.pg_schema,
            _batches_of_hours(root, "typed", USER_EVENTS.column_names, hours),
            hours,
            loaded_by="lake",
        )
        rejected = load.load_rejected_events(
            conn,
            warehouse.pg_schema,
            _batches_of_hours(root, "rejected", REJECTED_EVENTS.column_names, hours),
            [lake_source(h) for h in hours],
        )
        rows = {r["hour"]: r for r in kpis.read_kpis(conn, warehouse.pg_schema, KPI_HOURLY, hours)}
    progress(
        context,
        f"user_events: {stats['inserted']:,} rows in {len(hours)} hour(s) (replaced {stats['deleted']:,}, "
        f"{stats['skipped_owned_by_other_load']:,} already stored by the batch path)",
    )
    log_warehouse_tables_written(context, hours, stats, rejected["inserted"])
    yield dg.MaterializeResult(
        asset_key=HOURLY_USER_EVENTS,
        metadata={
            "table": f"{warehouse.pg_schema}.{USER_EVENTS.name}",
            "rows_inserted": stats["inserted"],
            "rows_replaced": stats["deleted"],
            "rows_kept_owned_by_batch": stats["skipped_owned_by_other_load"],
            "rejected_rows": rejected["inserted"],
            "hours": len(hours),
            "hours_not_read": len(unread),
        },
    )
    table = {"table": f"{warehouse.pg_schema}.{KPI_HOURLY.name}"}
    if len(window) == 1:
        yield dg.MaterializeResult(asset_key=HOURLY_KPIS, metadata={**table, **hour_kpi_metadata(rows.get(hours[0]))})
        return
    # a range run materialises every hour at once: each hour's own KPIs go on an observation of it
    for hour in hours:
        context.log_event(
            dg.AssetObservation(
                asset_key=HOURLY_KPIS, partition=hour_partition_key(hour), metadata=hour_kpi_metadata(rows.get(hour))
            )
        )
    yield dg.MaterializeResult(
        asset_key=HOURLY_KPIS, metadata={**table, "hours": len(hours), **{k: int(v) for k, v in stats["kpis"].items()}}
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


LAKE_ASSETS = [lake_events_hourly, hourly_typed_events, hourly_warehouse_load]
