"""Helpers for the ingest tests: raw rows through the steps `typed_events` runs (ingest/steps.py)."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from user_events.ingest import steps
from user_events.ingest import transforms as T
from user_events.ingest.resources import BatchSettings


def validated_as_stored(spark: SparkSession, raw: DataFrame, scratch: Path) -> tuple[DataFrame, DataFrame]:
    """(typed events before de-duplication, rejected rows) of raw rows: `steps.write_validated` into `scratch`,
    then split as `steps.store_typed_and_rejected` splits them (`hourly_typed_events` does the same)."""
    batch = BatchSettings(batch_dir=str(scratch))
    steps.write_validated(raw, batch.validated_path())
    return T.split_validated(spark.read.parquet(str(batch.validated_path())))


def typed_and_rejected(spark: SparkSession, raw: DataFrame, scratch: Path) -> tuple[DataFrame, DataFrame]:
    """(typed events, rejected rows) of raw rows as `typed_events` stores them, read back from `scratch`."""
    batch = BatchSettings(batch_dir=str(scratch))
    steps.write_validated(raw, batch.validated_path())
    steps.store_typed_and_rejected(spark, batch)
    return spark.read.parquet(str(batch.typed_events_path())), spark.read.parquet(str(batch.rejected_events_path()))
