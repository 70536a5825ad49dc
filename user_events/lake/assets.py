"""Hourly lake assets: the S3 sink's hour of NDJSON → typed events (Parquet per hour) → user_events rows of
that hour replaced in PostgreSQL → kpi_hourly / kpi_daily recomputed.

Every asset is hourly-partitioned with a single-run backfill policy: a range of hours is one run and one
Spark job, and each hour is still replaced atomically (all hours of the run in one transaction).
Intermediate Parquet lives under USER_EVENTS_LAKE_DIR (default .data/lake), one directory per hour.
"""


import itertools
import shutil
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
from pyspark.sql import functions as F

from user_events.asset_keys import LAKE_EVENTS_HOURLY
from user_events.config import DATA_DIR, env
from user_events.ingest import transforms as T
from user_events.ingest.assets import MAX_ROWS_PER_FILE, progress, replace_dir
from user_events.ingest.resources import SparkResource
from user_events.lake.partitions import HOUR_DIR_FORMAT, HOURLY_PARTITIONS, hours_in_window, key_of_hour
from user_events.lake.resources import S3Storage
from user_events.lake.sensors import list_hour_objects
from user_events.lake.transforms import read_lake_json
from user_events.schema import KPI_HOURLY, REJECTED_EVENTS, USER_EVENTS
from user_events.warehouse import kpis, load
from user_events.warehouse.assets import kpi_metadata
from user_events.warehouse.resources import PostgresResource

GROUP = "lake"
LAKE_EVENTS = LAKE_EVENTS_HOURLY
_HOUR_COL = "_hour"


def hourly_asset(**kwargs):
    """An hourly-partitioned lake asset whose backfills run as one run over the whole range."""
    return dg.asset(
        group_name=GROUP, partitions_def=HOURLY_PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run(), **kwargs
    )


def lake_dir() -> Path:
    return Path(env("USER_EVENTS_LAKE_DIR") or (DATA_DIR / "lake"))


def hour_dir(kind: str, hour: datetime) -> Path:
    """Where an hour's Parquet of `kind` (typed | rejected) lives; absent = the hour had no such rows."""
    return lake_dir() / kind / f"hour={hour:{HOUR_DIR_FORMAT}}"


def lake_source(hour: datetime) -> str:
    """rejected_events.source of the rows rejected from a lake hour (matches read_lake_json's SOURCE_COL)."""
    return f"lake:{key_of_hour(hour)}"


def window_hours(context) -> list[datetime]:
    start, end = context.partition_time_window
    return hours_in_window(start, end)


def write_hour_dirs(df, kind: str, hours: list[datetime]) -> None:
    """Write `df` (with _HOUR_COL) as one Parquet directory per hour, replacing each hour of the window.

    One Spark job writes every hour into a scratch directory; then each hour's directory is swapped in (an
    hour without rows loses its old directory).
    """
    scratch = lake_dir() / f".{kind}-{uuid.uuid4().hex[:8]}"
    df.write.mode("overwrite").option("maxRecordsPerFile", MAX_ROWS_PER_FILE).partitionBy(_HOUR_COL).parquet(
        str(scratch)
    )
    for hour in hours:
        replace_dir(scratch / f"{_HOUR_COL}={hour:{HOUR_DIR_FORMAT}}", hour_dir(kind, hour))
    shutil.rmtree(scratch, ignore_errors=True)


def read_hours(spark, kind: str, hours: list[datetime]):
    """The Parquet of `kind` for the hours that have any (None when none has)."""
    paths = [str(hour_dir(kind, h)) for h in hours if hour_dir(kind, h).exists()]
    return spark.read.parquet(*paths) if paths else None


def _s3a_paths(s3: S3Storage, hours: list[datetime]) -> tuple[list[str], int]:
    """s3a:// URIs of the window's objects (one LIST per UTC day), and their total size."""
    bucket, topic = s3.bucket_name(), env("USER_EVENTS_TOPIC")
    objects = list_hour_objects(s3.get_client(), bucket, topic, hours[0], hours[-1] + timedelta(hours=1))
    found = [o for objs in objects.values() for o in objs]
    return [f"s3a://{bucket}/{o['Key']}" for o in sorted(found, key=lambda o: o["Key"])], sum(
        int(o.get("Size", 0)) for o in found
    )


lake_events_hourly = dg.AssetSpec(
    LAKE_EVENTS,
    group_name=GROUP,
    partitions_def=HOURLY_PARTITIONS,
    description="The S3 sink's NDJSON objects of one UTC hour under topics/<topic>/year=/month=/day=/hour=/. "
    "Written outside Dagster's assets by the S3 sink, which reports each hour it writes (a rewritten hour, "
    "e.g. late events, is reported again).",
)


@hourly_asset(
    deps=[LAKE_EVENTS],
    description="One hour (or a range, in one Spark job) of lake events read through s3a://, validated with "
    "the batch rules (rejects kept with source lake:<hour>), de-duplicated; Parquet per hour.",
)
def hourly_typed_events(context: dg.AssetExecutionContext, spark: SparkResource, s3: S3Storage) -> dg.MaterializeResult:
    started = time.monotonic()
    hours = window_hours(context)
    session = spark.session()
    paths, size = _s3a_paths(s3, hours)
    progress(context, f"{len(hours)} hour(s) {key_of_hour(hours[0])}..{key_of_hour(hours[-1])}: {len(paths)} object(s), {size / 1e6:.1f} MB")
    rejected_at = datetime.now(timezone.utc).replace(microsecond=0)
    # S3 is read and validated once; the accepted and rejected rows are then split from local Parquet
    scratch = lake_dir() / f".validated-{uuid.uuid4().hex[:8]}"
    validated = T.validate_raw(read_lake_json(session, paths), rejected_at=rejected_at)
    T.compact_validated(validated).write.parquet(str(scratch))
    try:
        typed, rejected = T.split_validated(session.read.parquet(str(scratch)))
        hour_text = lambda c: F.date_format(c, "yyyy-MM-dd-HH")  # noqa: E731  (HOUR_DIR_FORMAT)
        write_hour_dirs(T.dedupe_typed_events(typed).withColumn(_HOUR_COL, hour_text(F.col("event_hour"))), "typed", hours)
        source_hour = F.to_timestamp(F.substring(F.col("source"), 6, 16), "yyyy-MM-dd-HH:mm")
        write_hour_dirs(rejected.withColumn(_HOUR_COL, hour_text(source_hour)), "rejected", hours)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    stats = hour_stats(session, hours)
    progress(context, f"typed {stats['rows_out']:,} / rejected {stats['rejected']:,} in {time.monotonic() - started:.1f}s")
    return dg.MaterializeResult(
        metadata={
            "objects": len(paths),
            "bytes": size,
            "hours": len(hours),
            "rows_out": stats["rows_out"],
            "rejected": stats["rejected"],
            "rejected_by_reason": dg.MetadataValue.json(stats["rejected_by_reason"]),
            "path": str(lake_dir()),
        }
    )


def hour_stats(session, hours: list[datetime]) -> dict:
    typed = read_hours(session, "typed", hours)
    rejected = read_hours(session, "rejected", hours)
    by_reason = {r[0]: int(r[1]) for r in rejected.groupBy("reason").count().collect()} if rejected else {}
    return {
        "rows_out": typed.count() if typed is not None else 0,
        "rejected": sum(by_reason.values()),
        "rejected_by_reason": dict(sorted(by_reason.items())),
    }


def _batches_of_hours(kind: str, columns: list[str], hours: list[datetime]):
    return itertools.chain.from_iterable(
        load.parquet_batches(hour_dir(kind, h), columns) for h in hours if hour_dir(kind, h).exists()
    )


@hourly_asset(
    deps=["hourly_typed_events"],
    description="PostgreSQL user_events rows of the hour(s) replaced by the lake's typed events, and the "
    "hour's rejected_events rows replaced (delete + COPY in one transaction each); an empty hour loads empty.",
)
def hourly_user_events(context: dg.AssetExecutionContext, warehouse: PostgresResource) -> dg.MaterializeResult:
    hours = window_hours(context)
    with warehouse.connect(autocommit=True) as conn:
        load.ensure_tables(conn, warehouse.pg_schema)
        stats = load.load_user_events(
            conn, warehouse.pg_schema, _batches_of_hours("typed", USER_EVENTS.column_names, hours), hours
        )
        rejected = load.load_rejected_events(
            conn,
            warehouse.pg_schema,
            _batches_of_hours("rejected", REJECTED_EVENTS.column_names, hours),
            [lake_source(h) for h in hours],
        )
    progress(context, f"user_events: {stats['inserted']:,} rows in {len(hours)} hour(s) (replaced {stats['deleted']:,})")
    return dg.MaterializeResult(
        metadata={
            "table": f"{warehouse.pg_schema}.{USER_EVENTS.name}",
            "rows_inserted": stats["inserted"],
            "rows_replaced": stats["deleted"],
            "rejected_rows": rejected["inserted"],
            "hours": len(hours),
        }
    )


@hourly_asset(
    deps=["hourly_user_events"],
    description="kpi_hourly of the hour(s) and kpi_daily of their day(s), recomputed in SQL from user_events; "
    "the hour's KPIs as numeric metadata (plotted per partition).",
)
def hourly_kpis(context: dg.AssetExecutionContext, warehouse: PostgresResource) -> dg.MaterializeResult:
    hours = window_hours(context)
    with warehouse.connect(autocommit=True) as conn:
        load.ensure_tables(conn, warehouse.pg_schema)
        written = kpis.recompute_kpis(conn, warehouse.pg_schema, hours)
        rows = {r["hour"]: r for r in kpis.read_kpis(conn, warehouse.pg_schema, KPI_HOURLY, hours)}
    table = {"table": f"{warehouse.pg_schema}.{KPI_HOURLY.name}"}
    if len(hours) == 1:
        return dg.MaterializeResult(metadata={**table, **hour_kpi_metadata(rows.get(hours[0]))})
    # a range run materialises every hour at once: each hour's own KPIs go on an observation of it
    for hour in hours:
        context.log_event(
            dg.AssetObservation(asset_key=context.asset_key, partition=key_of_hour(hour), metadata=hour_kpi_metadata(rows.get(hour)))
        )
    return dg.MaterializeResult(metadata={**table, "hours": len(hours), **{k: int(v) for k, v in written.items()}})


def hour_kpi_metadata(row: dict | None) -> dict:
    """One hour's KPIs as int/float metadata (the UI plots only numbers)."""
    return kpi_metadata([row] if row else [], "hour")


LAKE_ASSETS = [lake_events_hourly, hourly_typed_events, hourly_user_events, hourly_kpis]
