"""Automatic hourly loads: request an hour once the S3 sink's watermark says it is complete, and again
whenever its objects change afterwards (late events add an object to an hour that was already loaded).

The cursor maps each hour key in the look-back window to the fingerprint of its objects (keys, sizes,
ETags) when it was last requested; an hour is requested when complete and its fingerprint differs.
The run_key carries the fingerprint, so the same content is never loaded twice by the sensor.
"""

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta

import dagster as dg

from user_events.asset_keys import LAKE_EVENTS_HOURLY
from user_events.config import settings
from user_events.lake.partitions import HOURLY_PARTITIONS, list_hour_objects
from user_events.storage.s3 import S3Storage
from user_events.storage.s3_layout import RECORDS_META, hour_partition_key
from user_events.storage.watermark import hours_complete_before, read_watermark


def lookback() -> timedelta:
    return timedelta(hours=settings().hourly_lookback_hours)


def grace() -> timedelta:
    return timedelta(seconds=settings().hourly_grace_seconds)


def fingerprint(objects: Iterable[Mapping]) -> str:
    """A short digest of an hour's objects: changes when one is added, rewritten or removed."""
    items = sorted((o["Key"], int(o.get("Size", 0)), str(o.get("ETag", ""))) for o in objects)
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


def hours_to_request(
    objects_by_hour: Mapping[str, list[Mapping]], requested: Mapping[str, str]
) -> list[tuple[str, str]]:
    """(hour key, fingerprint) of every hour whose objects differ from what was last requested, oldest first."""
    out = []
    for key in sorted(objects_by_hour):
        fp = fingerprint(objects_by_hour[key])
        if requested.get(key) != fp:
            out.append((key, fp))
    return out


def parse_cursor(cursor: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """(hour -> fingerprint last requested, hour -> fingerprint last reported as lake_events_hourly)."""
    state = json.loads(cursor) if cursor else {}
    return state.get("requested", {}), state.get("reported", {})


RecordsOf = Callable[[Mapping], "int | None"]


def hour_totals(objects: list[Mapping], records_of: RecordsOf | None = None) -> dict:
    """What an hour of the lake holds, whoever wrote it: objects and bytes (from the listing), and records
    when every object says how many it holds (the S3 sink's `records` object metadata)."""
    totals = {"objects": len(objects), "bytes": sum(int(o.get("Size", 0)) for o in objects)}
    if records_of is not None:
        counts = [records_of(o) for o in objects]
        if all(c is not None for c in counts):
            totals["records"] = sum(counts)
    return totals


class ObjectRecords:
    """Records per object from its `records` metadata (one HEAD per object), remembered by key and ETag:
    an object is immutable under one ETag, and the code server keeps this between the sensor's ticks."""

    def __init__(self, max_entries: int = 200_000):
        self._known: dict[tuple[str, str], int | None] = {}
        self._max = max_entries

    def __call__(self, s3_client, bucket: str) -> RecordsOf:
        def records_of(obj: Mapping) -> int | None:
            ident = (obj["Key"], str(obj.get("ETag", "")))
            if ident not in self._known:
                if len(self._known) >= self._max:
                    self._known.clear()
                meta = s3_client.head_object(Bucket=bucket, Key=obj["Key"]).get("Metadata", {})
                self._known[ident] = int(meta[RECORDS_META]) if meta.get(RECORDS_META, "").isdigit() else None
            return self._known[ident]

        return records_of


object_records = ObjectRecords()


def hour_reports(
    objects_by_hour: Mapping[str, list[Mapping]],
    reported: Mapping[str, str],
    complete_before: datetime,
    records_of: RecordsOf | None = None,
):
    """(hour key, fingerprint, materialisation) of every hour whose objects changed since last reported."""
    out = []
    for key in sorted(objects_by_hour):
        fp = fingerprint(objects_by_hour[key])
        if reported.get(key) != fp:
            complete = HOURLY_PARTITIONS.time_window_for_partition_key(key).end <= complete_before
            totals = hour_totals(objects_by_hour[key], records_of)
            metadata = {**totals, "complete": complete, "fingerprint": fp}
            out.append(
                (key, fp, dg.AssetMaterialization(asset_key=LAKE_EVENTS_HOURLY, partition=key, metadata=metadata))
            )
    return out


def evaluate(
    s3_client, bucket: str, topic: str, cursor: str | None, now: datetime | None = None
) -> tuple[list[dg.RunRequest], list[dg.AssetMaterialization], str, str]:
    """(run requests, lake_events_hourly materialisations, new cursor, why-nothing message) — the sensor
    without Dagster's context. Every hour of the look-back window whose objects changed is reported with its
    totals (so hours written by any S3 sink process show as materialised); complete hours are requested."""
    requested, reported = parse_cursor(cursor)
    now = now or datetime.now(UTC)
    complete_before = hours_complete_before(read_watermark(s3_client, bucket, topic), grace())
    first_partition = HOURLY_PARTITIONS.start
    start = max(min(complete_before, now) - lookback(), first_partition)
    # hours not complete yet are reported too: up to the current hour, or a look-back past the watermark
    end = min(now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1), complete_before + lookback())
    objects = list_hour_objects(s3_client, bucket, topic, start, max(end, complete_before))
    reports = hour_reports(objects, reported, complete_before, object_records(s3_client, bucket))
    complete = {
        k: v for k, v in objects.items() if HOURLY_PARTITIONS.time_window_for_partition_key(k).end <= complete_before
    }
    todo = hours_to_request(complete, requested)
    runs = [
        dg.RunRequest(run_key=f"{key}@{fp}", partition_key=key, tags={"user_events/trigger": "lake_watermark"})
        for key, fp in todo
    ]
    requested.update(dict(todo))
    reported.update({key: fp for key, fp, _ in reports})
    window_first = hour_partition_key(start)
    state = {
        "requested": {k: v for k, v in requested.items() if k >= window_first},
        "reported": {k: v for k, v in reported.items() if k >= window_first},
    }
    if runs:
        reason = ""
    elif complete_before <= start:
        reason = f"no complete hour yet (watermark {complete_before.isoformat()})"
    else:
        reason = f"hours complete before {complete_before.isoformat()} are loaded and unchanged"
    return runs, [m for _, _, m in reports], json.dumps(state, sort_keys=True), reason


def build_hourly_load_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(
        name="hourly_load_sensor",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Loads each lake hour once the S3 sink's watermark shows it complete, and reloads "
        "hours whose objects changed (late events); reports every changed hour's totals as a "
        "lake_events_hourly materialisation, whoever wrote it.",
    )
    def hourly_load_sensor(context: dg.SensorEvaluationContext, s3: S3Storage):
        runs, reports, cursor, reason = evaluate(s3.get_client(), s3.bucket_name(), settings().topic, context.cursor)
        if not runs and not reports and cursor == context.cursor:
            return dg.SkipReason(reason)
        return dg.SensorResult(
            run_requests=runs, asset_events=reports, cursor=cursor, skip_reason=None if runs else reason
        )

    return hourly_load_sensor
