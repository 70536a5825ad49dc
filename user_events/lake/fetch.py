"""Finding and fetching an hour's S3 objects: the window's objects by hour, and what Spark reads them from."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

from user_events.files import join_line_files
from user_events.lake.partitions import hour_range_text, list_hour_objects
from user_events.progress import progress
from user_events.spark import reads_local_files
from user_events.storage.s3 import S3Storage
from user_events.storage.s3_client import download_objects
from user_events.storage.s3_layout import hour_partition_key

FETCHED_HOUR_FILE = "objects.json"


def hour_objects(s3: S3Storage, topic: str, hours: list[datetime]) -> dict[datetime, list[dict]]:
    """The window's S3 objects by hour (one LIST per UTC day), in hour order; an hour without objects is absent."""
    by_key = list_hour_objects(s3.get_client(), s3.bucket_name(), topic, hours[0], hours[-1] + timedelta(hours=1))
    return {
        h: sorted(by_key[hour_partition_key(h)], key=lambda o: o["Key"])
        for h in hours
        if by_key.get(hour_partition_key(h))
    }


def all_objects(by_hour: dict[datetime, list[dict]]) -> list[dict]:
    """The objects of every hour, hour after hour."""
    return [o for objects in by_hour.values() for o in objects]


def objects_text(by_hour: dict[datetime, list[dict]]) -> str:
    found = all_objects(by_hour)
    size = sum(int(o.get("Size", 0)) for o in found)
    return f"{hour_range_text(list(by_hour))}: {len(found)} object(s), {size / 1e6:.1f} MB"


def lake_object_paths(context, session, s3: S3Storage, keys: list[str], fetched: Path) -> list[str]:
    """What Spark reads the objects from: when Spark reads this host's files, local copies fetched by parallel GETs
    (s3a opens the many small objects one by one per task, boto3 fetches them concurrently: docs/lake.md), else
    the objects themselves through s3a:// (a cluster's executors cannot see the driver's files). The local copies
    of an hour are one file, in the hour's directory of the lake layout (the rows' source is parsed from it)."""
    if not reads_local_files(session):
        return [f"s3a://{s3.bucket_name()}/{key}" for key in keys]
    started = time.monotonic()
    local = join_line_files(download_objects(s3.get_client(), s3.bucket_name(), keys, fetched), FETCHED_HOUR_FILE)
    progress(context, f"fetched {len(keys)} object(s) in {time.monotonic() - started:.1f}s")
    return [str(p) for p in local]
