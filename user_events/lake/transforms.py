"""Spark functions of the lake path: the S3 sink's hourly NDJSON into the raw frame of the batch path, then the
batch path's validation of it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField

from user_events.files import write_parquet
from user_events.ingest import transforms as T
from user_events.ingest.transforms import MALFORMED_COL, SOURCE_COL
from user_events.schema import RAW_FIELDS, raw_spark_schema
from user_events.storage.s3_layout import lake_source_of_path


def read_lake_json(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    """NDJSON objects as the nine raw fields (strings), MALFORMED_COL for lines that are not a JSON object,
    and SOURCE_COL = "lake:<partition key>" (the rejected rows' source, replaced per hour on reload).

    JSON numbers read into the string columns keep their text, so `"price": 5.5` and `"price": "5.5"` agree.
    """
    schema = raw_spark_schema().add(StructField(MALFORMED_COL, StringType(), True))
    if not paths:
        return spark.createDataFrame([], schema).withColumn(SOURCE_COL, F.lit(None).cast("string"))
    df = (
        spark.read.schema(schema)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", MALFORMED_COL)
        .json(list(paths))
    )
    source = lake_source_of_path(F.col("_metadata.file_path"))
    return df.select(*RAW_FIELDS, MALFORMED_COL, source.alias(SOURCE_COL))


def validate_lake_rows(
    spark: SparkSession, paths: Sequence[str], scratch: Path, rejected_at: datetime
) -> tuple[DataFrame, DataFrame]:
    """(accepted events de-duplicated, rejected rows) of the objects at `paths`, with the batch path's rules.

    S3 is read and validated once, into `scratch`; the accepted and rejected rows are then split from that
    local Parquet (which must stay until both are written)."""
    validated = T.validate_raw(read_lake_json(spark, paths), rejected_at=rejected_at)
    write_parquet(T.compact_validated(validated), scratch)
    typed, rejected = T.split_validated(spark.read.parquet(str(scratch)))
    return T.dedupe_typed_events(typed), rejected
