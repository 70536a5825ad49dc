"""Pure Spark functions of the lake path: the S3 sink's hourly NDJSON into the raw frame of the batch path."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField

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
