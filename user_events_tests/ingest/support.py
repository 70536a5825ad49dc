"""Helpers for the ingest tests: the validation steps in the order the assets run them."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from user_events.files import write_parquet
from user_events.ingest import transforms as T


def validated_as_stored(spark: SparkSession, raw: DataFrame, scratch: Path) -> tuple[DataFrame, DataFrame]:
    """(typed events before de-duplication, rejected rows) of raw rows, by the steps `typed_events` and
    `hourly_typed_events` run: validate_raw, compact_validated written as Parquet and read back, split_validated."""
    write_parquet(T.compact_validated(T.validate_raw(raw)), scratch)
    return T.split_validated(spark.read.parquet(str(scratch)))


def typed_and_rejected(spark: SparkSession, raw: DataFrame, scratch: Path) -> tuple[DataFrame, DataFrame]:
    """(typed events as stored: each event_id once, rejected rows) of raw rows, as the assets store them."""
    typed, rejected = validated_as_stored(spark, raw, scratch)
    return T.dedupe_typed_events(typed), rejected
