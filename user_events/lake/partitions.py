"""Hourly UTC partitions of the lake and everything loaded from it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg

from user_events.config import env
from user_events.storage.s3_layout import PARTITION_KEY_FORMAT

# Replayed REES46 data (Oct 2019 onward) and live data both fit after this start.
DEFAULT_START = "2019-10-01-00:00"
# Directory names for an hour: Hadoop paths may not contain ':' so the partition key is not used as is.
HOUR_DIR_FORMAT = "%Y-%m-%d-%H"


def hourly_partitions() -> dg.HourlyPartitionsDefinition:
    return dg.HourlyPartitionsDefinition(
        start_date=env("USER_EVENTS_HOURLY_START", DEFAULT_START), timezone="UTC", fmt=PARTITION_KEY_FORMAT
    )


HOURLY_PARTITIONS = hourly_partitions()


def hours_in_window(start: datetime, end: datetime) -> list[datetime]:
    """The hour starts in [start, end), UTC."""
    start = start.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    end = end.astimezone(timezone.utc)
    out, h = [], start
    while h < end:
        out.append(h)
        h += timedelta(hours=1)
    return out
