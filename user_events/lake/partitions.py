"""Hourly UTC partitions of the lake and everything loaded from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from user_events.config import Settings, settings
from user_events.storage.s3_layout import PARTITION_KEY_FORMAT, day_prefixes, hour_of_object_key, hour_partition_key

# Replayed REES46 data (Oct 2019 onward) and live data both fit after this start.
DEFAULT_START = Settings.model_fields["hourly_start"].default
# Directory names for an hour: Hadoop paths may not contain ':' so the partition key is not used as is.
HOUR_DIR_FORMAT = "%Y-%m-%d-%H"


def hourly_partitions() -> dg.HourlyPartitionsDefinition:
    return dg.HourlyPartitionsDefinition(start_date=settings().hourly_start, timezone="UTC", fmt=PARTITION_KEY_FORMAT)


HOURLY_PARTITIONS = hourly_partitions()


def hours_in_window(start: datetime, end: datetime) -> list[datetime]:
    """The hour starts in [start, end), UTC."""
    start = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = end.astimezone(UTC)
    out, h = [], start
    while h < end:
        out.append(h)
        h += timedelta(hours=1)
    return out


def window_hours(context) -> list[datetime]:
    """The hours of a run's (or a check's) partition window: one hour, or every hour of a range."""
    start, end = context.partition_time_window
    return hours_in_window(start, end)


def hour_range_text(hours: list[datetime]) -> str:
    """The hours as a log line names them: up to three keys, else the count and the first and last."""
    if len(hours) <= 3:
        return ", ".join(hour_partition_key(h) for h in hours)
    return f"{len(hours)} hours {hour_partition_key(hours[0])}..{hour_partition_key(hours[-1])}"


def list_hour_objects(s3_client, bucket: str, topic: str, start: datetime, end: datetime) -> dict[str, list[dict]]:
    """Objects of the hours in [start, end), grouped by hour key: one paginated LIST per UTC day.

    (Per day rather than one LIST with StartAfter: SeaweedFS, for one, skips a whole "directory" named by
    StartAfter.)
    """
    out: dict[str, list[dict]] = {}
    paginator = s3_client.get_paginator("list_objects_v2")
    for prefix in day_prefixes(topic, start, end):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                hour = hour_of_object_key(topic, obj["Key"])
                if hour is not None and start <= hour < end:
                    out.setdefault(hour_partition_key(hour), []).append(obj)
    return out
