"""The lake's Parquet layout under USER_EVENTS_LAKE_DIR: one directory per hour and kind (typed | rejected),
swapped in whole from a run's scratch directory."""

from __future__ import annotations

import itertools
import shutil
import uuid
from datetime import datetime
from pathlib import Path

from pyspark.sql import Column
from pyspark.sql import functions as F

from user_events.files import PARQUET_WRITE_OPTIONS, replace_dir
from user_events.lake.partitions import HOUR_DIR_FORMAT
from user_events.storage.s3_layout import spark_datetime_pattern
from user_events.warehouse import load

HOUR_COL = "_hour"


def hour_dir(root: Path, kind: str, hour: datetime) -> Path:
    """Where an hour's Parquet of `kind` (typed | rejected) lives; absent = the hour had no such rows."""
    return root / kind / f"hour={hour:{HOUR_DIR_FORMAT}}"


def scratch_dir(root: Path, kind: str) -> Path:
    """A fresh working directory of one run (no leading dot or underscore: Spark ignores such paths)."""
    return root / "scratch" / f"{kind}-{uuid.uuid4().hex[:8]}"


def write_hour_dirs(root: Path, df, kind: str, hours: list[datetime], hour_of: Column) -> None:
    """Write `df` as one Parquet directory per hour (`hour_of` says a row's hour), replacing each hour of the window.

    One Spark job writes every hour into a scratch directory; then each hour's directory is swapped in (an
    hour without rows loses its old directory).
    """
    scratch = scratch_dir(root, kind)
    hour_text = F.date_format(hour_of, spark_datetime_pattern(HOUR_DIR_FORMAT))
    writer = df.withColumn(HOUR_COL, hour_text).write.mode("overwrite").options(**PARQUET_WRITE_OPTIONS)
    writer.partitionBy(HOUR_COL).parquet(str(scratch))
    for hour in hours:
        replace_dir(scratch / f"{HOUR_COL}={hour:{HOUR_DIR_FORMAT}}", hour_dir(root, kind, hour))
    shutil.rmtree(scratch, ignore_errors=True)


def read_hours(root: Path, spark, kind: str, hours: list[datetime]):
    """The Parquet of `kind` for the hours that have any (None when none has)."""
    paths = [str(hour_dir(root, kind, h)) for h in hours if hour_dir(root, kind, h).exists()]
    return spark.read.parquet(*paths) if paths else None


def batches_of_hours(root: Path, kind: str, columns: list[str], hours: list[datetime]):
    """The Arrow batches of `kind` for the hours that have any, hour after hour (what the COPY loads stream)."""
    return itertools.chain.from_iterable(
        load.parquet_batches(hour_dir(root, kind, h), columns) for h in hours if hour_dir(root, kind, h).exists()
    )


def hour_stats(root: Path, session, hours: list[datetime]) -> dict:
    """The hours' typed rows, rejected rows, and rejected rows by reason, as stored."""
    typed = read_hours(root, session, "typed", hours)
    rejected = read_hours(root, session, "rejected", hours)
    by_reason = {r[0]: int(r[1]) for r in rejected.groupBy("reason").count().collect()} if rejected else {}
    return {
        "rows_out": typed.count() if typed is not None else 0,
        "rejected": sum(by_reason.values()),
        "rejected_by_reason": dict(sorted(by_reason.items())),
    }
