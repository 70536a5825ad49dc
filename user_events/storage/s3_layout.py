"""The S3 lake layout: where the S3 sink writes an hour of events and how a key is read back.

`topics/<topic>/year=YYYY/month=MM/day=DD/hour=HH/<topic>+<partition>+<start offset, 10 digits>.json`
(the Confluent S3 sink's layout, docs/reference.md), the hour taken from event_time, UTC. Each object carries
its last offset and record count in its metadata. An hour's Dagster partition key is "YYYY-MM-DD-HH:00";
rejected rows of a lake hour have the source "lake:<partition key>".

The one home of these facts: the sink writes with them, the sensor and the hourly assets list and parse
with them (plain Python and Spark column expressions derived from the same formats).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

TOPICS_ROOT = "topics"
OFFSET_DIGITS = 10
OBJECT_SUFFIX = ".json"
PARTITION_KEY_FORMAT = "%Y-%m-%d-%H:%M"  # Dagster HourlyPartitionsDefinition keys, UTC
LAKE_SOURCE_PREFIX = "lake:"

# object metadata (x-amz-meta-<name>) the S3 sink writes
END_OFFSET_META = "end-offset"
RECORDS_META = "records"
MIN_EVENT_TIME_META = "min-event-time"
MAX_EVENT_TIME_META = "max-event-time"

_HOUR_LEVELS_RE = r"year=(\d{4})/month=(\d{2})/day=(\d{2})/hour=(\d{2})/"
_SPARK_PATTERN_OF = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm"}


def topic_prefix(topic: str) -> str:
    return f"{TOPICS_ROOT}/{topic}/"


def day_prefix(topic: str, day: datetime) -> str:
    return f"{topic_prefix(topic)}year={day:%Y}/month={day:%m}/day={day:%d}/"


def hour_prefix(topic: str, hour: datetime) -> str:
    return f"{day_prefix(topic, hour)}hour={hour:%H}/"


def partition_prefix(topic: str, hour: datetime, partition: int) -> str:
    """The key prefix of one Kafka partition's objects of an hour."""
    return f"{hour_prefix(topic, hour)}{topic}+{partition}+"


def object_key(topic: str, hour: datetime, partition: int, start_offset: int) -> str:
    return f"{partition_prefix(topic, hour, partition)}{start_offset:0{OFFSET_DIGITS}d}{OBJECT_SUFFIX}"


def day_prefixes(topic: str, start: datetime, end: datetime) -> list[str]:
    """Prefixes of the UTC days that [start, end) touches."""
    out, day = [], start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        out.append(day_prefix(topic, day))
        day += timedelta(days=1)
    return out


def start_offset_of(key: str) -> int:
    return int(key.rsplit("+", 1)[1].split(".", 1)[0])


def hour_of_object_key(topic: str, key: str) -> datetime | None:
    """The hour an object of the lake layout belongs to (None for anything else under the prefix)."""
    rest = key[len(topic_prefix(topic)) :]
    try:
        parts = dict(p.split("=", 1) for p in rest.split("/")[:4])
        return datetime(int(parts["year"]), int(parts["month"]), int(parts["day"]), int(parts["hour"]), tzinfo=UTC)
    except (ValueError, KeyError):
        return None


def hour_partition_key(hour: datetime) -> str:
    """The Dagster hourly partition key of an hour start (UTC)."""
    return hour.astimezone(UTC).strftime(PARTITION_KEY_FORMAT)


def lake_source(hour: datetime) -> str:
    """rejected_events.source of the rows rejected from a lake hour."""
    return f"{LAKE_SOURCE_PREFIX}{hour_partition_key(hour)}"


def spark_datetime_pattern(strftime_format: str) -> str:
    """The Spark datetime pattern of a strftime format made of %Y %m %d %H %M and literal '-' / ':'."""
    return re.sub(r"%[YmdHM]", lambda m: _SPARK_PATTERN_OF[m.group(0)], strftime_format)


# ---- the same facts as Spark column expressions (pyspark imported only by the callers that use them) ----


def partition_key_of_path(path):
    """Column: the Dagster hourly partition key of an object from its key's year=/month=/day=/hour= parts."""
    from pyspark.sql import functions as F

    # one regex pass over the path per row, not four regexp_extract calls
    return F.regexp_replace(path, f"^.*{_HOUR_LEVELS_RE}[^/]*$", "$1-$2-$3-$4:00")


def lake_source_of_path(path):
    """Column: "lake:<partition key>" of an object's path (what lake_source gives for its hour)."""
    from pyspark.sql import functions as F

    return F.concat(F.lit(LAKE_SOURCE_PREFIX), partition_key_of_path(path))


def hour_of_lake_source(source):
    """Column: the hour (timestamp) a "lake:<partition key>" source names."""
    from pyspark.sql import functions as F

    key = source.substr(F.lit(len(LAKE_SOURCE_PREFIX) + 1), F.length(source))
    return F.to_timestamp(key, spark_datetime_pattern(PARTITION_KEY_FORMAT))
