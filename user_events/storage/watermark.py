"""The S3 sink's event-time watermark: how far the lake is complete, for the hourly loads.

The sink writes one small JSON object per Kafka partition after its commits:
`s3://$BUCKET/_watermarks/<topic>/s3_sink/partition=<p>.json` (one object per partition, so several
sink processes sharing the partitions never overwrite each other). `read_watermark` merges them;
`hours_complete_before` turns the merged document into "every hour ending at or before T is stored".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

WATERMARK_ROOT = "_watermarks"
SINK_NAME = "s3_sink"
NOTHING_COMPLETE = datetime(1970, 1, 1, tzinfo=UTC)


def watermark_prefix(topic: str) -> str:
    return f"{WATERMARK_ROOT}/{topic}/{SINK_NAME}/"


def watermark_key(topic: str, partition: int) -> str:
    return f"{watermark_prefix(topic)}partition={partition}.json"


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z") if t is not None else None


def parse_iso(t: str | None) -> datetime | None:
    if not t:
        return None
    return datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(UTC)


def partition_watermark(
    topic: str,
    partition: int,
    committed_offset: int | None,
    log_end_offset: int | None,
    pending_records: int,
    pending_min_event_time: datetime | None,
    max_event_time: datetime | None,
    partitions_total: int,
    updated_at: datetime | None = None,
) -> dict:
    """The watermark document of one partition (what the sink writes)."""
    return {
        "topic": topic,
        "partition": partition,
        "committed_offset": committed_offset,
        "log_end_offset": log_end_offset,
        "pending_records": pending_records,
        "pending_min_event_time": _iso(pending_min_event_time),
        "max_event_time": _iso(max_event_time),
        "partitions_total": partitions_total,
        "updated_at": _iso(updated_at or datetime.now(UTC)),
    }


def write_partition_watermark(s3_client, bucket: str, doc: Mapping[str, Any]) -> None:
    s3_client.put_object(
        Bucket=bucket,
        Key=watermark_key(doc["topic"], doc["partition"]),
        Body=json.dumps(doc, sort_keys=True).encode(),
        ContentType="application/json",
    )


def read_partition_watermark(s3_client, bucket: str, topic: str, partition: int) -> dict | None:
    try:
        body = s3_client.get_object(Bucket=bucket, Key=watermark_key(topic, partition))["Body"].read()
    except s3_client.exceptions.NoSuchKey:
        return None
    except Exception as exc:  # some S3 servers answer 404 without the NoSuchKey code
        if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return json.loads(body)


def read_watermark(s3_client, bucket: str, topic: str) -> dict:
    """{"topic", "partitions_total", "partitions": {partition: doc}} from every partition's object."""
    partitions: dict[int, dict] = {}
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=watermark_prefix(topic)):
        for obj in page.get("Contents", []):
            doc = json.loads(s3_client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            partitions[int(doc["partition"])] = doc
    total = max((int(d.get("partitions_total") or 0) for d in partitions.values()), default=0)
    return {"topic": topic, "partitions_total": total, "partitions": partitions}


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def hours_complete_before(watermark_doc: Mapping[str, Any], grace: timedelta = timedelta(minutes=5)) -> datetime:
    """T such that every hour [h, h+1h) with h + 1h <= T is completely stored in S3.

    Per partition, the event time it can still hold back: the oldest event buffered but not yet
    stored; if nothing is buffered and the partition is caught up (committed = log end), nothing (an
    idle partition does not hold the watermark back; it follows the newest event time seen on any
    partition); if it is behind, the newest event time it stored. T = the minimum over partitions,
    minus `grace` for events arriving late, floored to the hour. A partition without a watermark
    object yet (sink not started on it) makes nothing complete.
    """
    parts: Mapping[Any, Mapping[str, Any]] = watermark_doc.get("partitions") or {}
    total = int(watermark_doc.get("partitions_total") or 0)
    if not parts or len(parts) < total:
        return NOTHING_COMPLETE
    newest = max(
        (parse_iso(d.get("max_event_time")) or NOTHING_COMPLETE for d in parts.values()), default=NOTHING_COMPLETE
    )
    bounds = []
    for d in parts.values():
        pending = parse_iso(d.get("pending_min_event_time"))
        if pending is not None and int(d.get("pending_records") or 0) > 0:
            bounds.append(pending)
            continue
        committed, end = d.get("committed_offset"), d.get("log_end_offset")
        caught_up = end is not None and end >= 0 and committed is not None and committed >= end
        bounds.append(newest if caught_up else (parse_iso(d.get("max_event_time")) or NOTHING_COMPLETE))
    t = min(bounds)
    if t <= NOTHING_COMPLETE:
        return NOTHING_COMPLETE
    return max(NOTHING_COMPLETE, _floor_hour(t - grace))
