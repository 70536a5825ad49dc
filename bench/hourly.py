"""Benchmark of the hourly lake loads (`python -m bench.hourly`; needs `make services-up`).

1. One hour of N events (default 500,000) in S3, in the S3 sink's layout (objects of 1,000 lines):
   (a) the raw floor: the same objects fetched with boto3 and loaded with `psql \\copy` into a one-column
       text table; (b) the hourly load end to end (hourly_load_job for that hour, in process, Spark warm),
       with its steps' seconds and the CPU seconds it used (this process, the Spark Connect server when the
       run is its client, PostgreSQL): their sum over the cores is the least wall time the work allows.
2. 24 hours of M events each: one single-run backfill over the 24 hours vs 24 separate one-hour runs.

Prints seconds, rows/s and the ratios: hourly load / raw floor, and the single-run backfill / the separate runs. Runs in its own topic, PostgreSQL schema and lake directory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from dotenv import load_dotenv

from bench.batch import psql_binary
from user_events.config import SERVICES_ENV_FILE
from user_events.streaming.sink_options import FLUSH_RECORDS


def put_hour(s3, bucket: str, topic: str, hour: datetime, n: int, seed: int) -> int:
    """n generated events of `hour` as sink-layout NDJSON objects of FLUSH_RECORDS lines (3 Kafka partitions)."""
    from user_events.generator import generate_events, raw_row
    from user_events.schema import RAW_FIELDS
    from user_events.storage.s3_layout import object_key

    in_hour = hour.strftime("%Y-%m-%d %H")
    rows = (
        dict(zip(RAW_FIELDS, raw_row(ev), strict=False))
        for ev in generate_events(seed=seed, start=hour, duration=timedelta(hours=1), n_events=n, diurnal=False)
    )
    lines = [json.dumps(r, separators=(",", ":")) for r in rows if r["event_time"].startswith(in_hour)]
    chunks = [(i // FLUSH_RECORDS, lines[i : i + FLUSH_RECORDS]) for i in range(0, len(lines), FLUSH_RECORDS)]

    def put(chunk):
        idx, part = chunk
        key = object_key(topic, hour, idx % 3, idx * FLUSH_RECORDS)
        s3.put_object(Bucket=bucket, Key=key, Body=("\n".join(part) + "\n").encode())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, chunks))
    return len(lines)


def raw_floor(s3, bucket: str, topic: str, hour: datetime, pg_url: str, schema: str) -> float:
    """Seconds to fetch the hour's objects and `psql \\copy` their lines into a text table."""
    from user_events.storage.s3_layout import hour_prefix

    started = time.perf_counter()
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=hour_prefix(topic, hour))
        for o in page.get("Contents", [])
    ]
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda k: s3.get_object(Bucket=bucket, Key=k)["Body"].read(), keys))
    with tempfile.NamedTemporaryFile(suffix=".ndjson") as fh:
        for b in bodies:
            fh.write(b)
        fh.flush()
        sql = f'DROP TABLE IF EXISTS "{schema}".raw_floor; CREATE TABLE "{schema}".raw_floor (line text);'
        subprocess.run([psql_binary(), pg_url, "-q", "-c", sql], check=True)
        # text format with no delimiter/escape in JSON lines: CSV mode with a quote/delimiter that never occurs
        subprocess.run(
            [
                psql_binary(),
                pg_url,
                "-q",
                "-c",
                f"\\copy \"{schema}\".raw_floor (line) FROM '{fh.name}' WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')",
            ],
            check=True,
        )
    return time.perf_counter() - started


def step_seconds(instance, run_id: str) -> dict[str, float]:
    """Wall seconds of each step (op) of a run, from its STEP_START / STEP_SUCCESS event log entries."""
    started: dict[str, float] = {}
    took: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in started:
            took[event.step_key] = entry.timestamp - started[event.step_key]
    return took


class CpuMeter:
    """CPU seconds used from its creation by the hourly run's processes: this one (the Dagster run, in process),
    services-up's Spark Connect server when the run is its client, and the PostgreSQL server."""

    def __init__(self, pg_url: str):
        import psutil

        from bench.batch import ServerCpu, process_cpu_seconds, spark_connect_server

        self.readers = {
            "run process": lambda: process_cpu_seconds(psutil.Process()),
            "PostgreSQL": ServerCpu(pg_url).total,
        }
        server = spark_connect_server()
        if server is not None:
            self.readers["Spark Connect server"] = lambda: process_cpu_seconds(server)
        self.before = self._now()

    def _now(self) -> dict[str, float]:
        return {name: read() for name, read in self.readers.items()}

    def used(self) -> dict[str, float]:
        return {name: sec - self.before[name] for name, sec in self._now().items()}


def run_hours(job, first: str, last: str | None = None, per_step: bool = False) -> float:
    import dagster as dg

    tags = (
        {}
        if last is None
        else {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    )
    started = time.perf_counter()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, partition_key=first if last is None else None, tags=tags)
        took = time.perf_counter() - started
        assert result.success
        if per_step:
            for step, seconds in step_seconds(instance, result.run_id).items():
                print(f"    step {step:<40} {seconds:7.2f} s")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=500_000, help="events in the one-hour test")
    ap.add_argument("--hours", type=int, default=24, help="hours in the backfill test (0: skip it)")
    ap.add_argument("--events-per-hour", type=int, default=20_000, help="events per hour in the 24-hour test")
    args = ap.parse_args()

    load_dotenv(SERVICES_ENV_FILE, interpolate=False)
    tag = uuid.uuid4().hex[:8]
    os.environ.update(
        {
            "USER_EVENTS_TOPIC": f"bench_hourly_{tag}",
            "USER_EVENTS_PG_SCHEMA": f"bench_hourly_{tag}",
            "USER_EVENTS_LAKE_DIR": tempfile.mkdtemp(prefix="bench_lake_"),
        }
    )
    from user_events.definitions import defs
    from user_events.spark import get_spark
    from user_events.storage.s3 import S3Storage
    from user_events.storage.s3_layout import hour_partition_key

    s3, bucket, topic = S3Storage().get_client(), os.environ["USER_EVENTS_S3_BUCKET"], os.environ["USER_EVENTS_TOPIC"]
    pg_url, schema = os.environ["USER_EVENTS_PG_URL"], os.environ["USER_EVENTS_PG_SCHEMA"]
    subprocess.run([psql_binary(), pg_url, "-q", "-c", f'CREATE SCHEMA IF NOT EXISTS "{schema}"'], check=True)
    job = defs.resolve_job_def("hourly_load_job")
    get_spark()  # warm: the figures below are the loads, not the JVM start

    hour = datetime(2019, 11, 1, 12, tzinfo=UTC)
    print(f"putting {args.events:,} events of {hour_partition_key(hour)} into S3 ...", flush=True)
    n = put_hour(s3, bucket, topic, hour, args.events, seed=1)
    floor = raw_floor(s3, bucket, topic, hour, pg_url, schema)
    cpu = CpuMeter(pg_url)
    load = run_hours(job, hour_partition_key(hour), per_step=True)
    used = cpu.used()
    print(f"\none hour, {n:,} events")
    print(f"  (a) raw floor (fetch + psql \\copy text): {floor:8.2f} s  {n / floor:10,.0f} rows/s")
    print(f"  (b) hourly_load_job end to end:          {load:8.2f} s  {n / load:10,.0f} rows/s")
    print(
        "      CPU seconds of (b): "
        + ", ".join(f"{name} {sec:.1f}" for name, sec in used.items())
        + f"; {sum(used.values()):.1f} in all, so at least {sum(used.values()) / os.cpu_count():.1f} s on"
        f" {os.cpu_count()} cores (5 x (a) = {5 * floor:.1f} s)"
    )
    print(f"  ratio hourly load / raw floor (b/a) = {load / floor:.2f}   goal <= 5")

    if args.hours <= 0:
        return
    first = datetime(2019, 11, 2, 0, tzinfo=UTC)
    hours = [first + timedelta(hours=i) for i in range(args.hours)]
    print(f"\nputting {args.hours} hours x {args.events_per_hour:,} events into S3 ...", flush=True)
    total = sum(put_hour(s3, bucket, topic, h, args.events_per_hour, seed=100 + i) for i, h in enumerate(hours))
    single = run_hours(job, hour_partition_key(hours[0]), hour_partition_key(hours[-1]))
    separate = sum(run_hours(job, hour_partition_key(h)) for h in hours)
    print(f"\n{args.hours} hours, {total:,} events")
    print(f"  single-run backfill:      {single:8.2f} s  {total / single:10,.0f} rows/s")
    print(f"  {args.hours} separate hour runs:   {separate:8.2f} s  {total / separate:10,.0f} rows/s")
    print(f"  ratio {args.hours}-hour single-run backfill / {args.hours} separate runs = {single / separate:.2f}")


if __name__ == "__main__":
    main()
