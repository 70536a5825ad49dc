"""Repeated event ids found through 64-bit hashes: the batch de-duplication and the unique-id checks."""

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

ID_HASH_COL = "_id_hash"


def id_hash(c: Column) -> Column:
    """64-bit hash of an event id: a fixed-width key that Spark aggregates and joins far faster than text."""
    return F.xxhash64(c)


def repeated_id_hashes(events: DataFrame, id_col: str = "event_id") -> DataFrame:
    """Hashes of ids that may occur more than once (every repeated id's hash is here; a hash collision
    only adds a false candidate). A narrow aggregation over one long column."""
    return (
        events.groupBy(id_hash(F.col(id_col)).alias(ID_HASH_COL)).count().where(F.col("count") > 1).select(ID_HASH_COL)
    )
