"""Hourly lake loads end to end on real Kafka, S3 (SeaweedFS), PostgreSQL and Spark.

The shared REES46 sample is re-stamped across three hours, replayed through `user-events simulate`
→ Kafka → `user-events sink s3` → S3, then loaded hour by hour. Expected values come from pandas over
the same re-stamped CSV, never from the code under test.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from user_events.config import PROJECT_ROOT
from user_events.warehouse.resources import connect
from user_events_tests import reference
from user_events_tests.streaming.support import require_services


@pytest.fixture(autouse=True)
def _services():
    require_services("USER_EVENTS_KAFKA_BOOTSTRAP", "USER_EVENTS_S3_ENDPOINT", "USER_EVENTS_PG_URL")


HOURS = ["2019-11-01-00:00", "2019-11-01-01:00", "2019-11-01-02:00"]
HOUR_STARTS = [datetime(2019, 11, 1, h, tzinfo=UTC) for h in range(3)]
ASSETS = "hourly_typed_events,hourly_user_events,hourly_kpis"


def restamped_sample(sample: Path, out: Path) -> Path:
    """`out`: the sample with its rows split in three contiguous thirds, the k-th third moved k hours later."""
    with open(sample, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    n = len(body)
    for i, row in enumerate(body):
        t = datetime.strptime(row[0], "%Y-%m-%d %H:%M:%S UTC") + timedelta(hours=(3 * i) // n)
        row[0] = t.strftime("%Y-%m-%d %H:%M:%S UTC")
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(body)
    return out


def isolated_pipeline(tmp_path_factory, prefix: str, **extra: str):
    """Environment of an isolated pipeline on the shared services (own topic, PostgreSQL schema, lake
    directory, Dagster home), set for the duration of the generator."""
    tag = uuid.uuid4().hex[:8]
    env = {
        "USER_EVENTS_TOPIC": f"{prefix}_{tag}",
        "USER_EVENTS_PG_SCHEMA": f"{prefix}_{tag}",
        "USER_EVENTS_LAKE_DIR": str(tmp_path_factory.mktemp("lake")),
        "DAGSTER_HOME": str(tmp_path_factory.mktemp("dagster_home")),
        **extra,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def lake_env(tmp_path_factory):
    yield from isolated_pipeline(tmp_path_factory, "lake_test", USER_EVENTS_HOURLY_GRACE_SECONDS="60")


def cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """One of the installed console scripts (`dagster`, `user-events`) in the project root."""
    exe = Path(sys.executable).parent
    cmd = [str(exe / args[0]), *args[1:]]
    return subprocess.run(cmd, cwd=PROJECT_ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=timeout)


def run_cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    proc = cli(*args, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(proc.args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def publish_and_sink(csv_path: Path) -> None:
    run_cli("user-events", "simulate", "--from-csv", str(csv_path), "--time-mode", "replay", "--rate", "0")
    run_cli("user-events", "sink", "s3", "--until-idle", "3")


def pg(sql: str, params=None) -> list[tuple]:
    with connect(os.environ["USER_EVENTS_PG_URL"], autocommit=True) as conn:  # a UTC session
        return conn.execute(sql, params).fetchall()


def table_snapshot(schema: str) -> dict[str, list]:
    out = {}
    for table, order in (("user_events", "event_id"), ("kpi_hourly", "hour"), ("kpi_daily", "day")):
        out[table] = pg(f'SELECT * FROM "{schema}"."{table}" ORDER BY {order}')
    out["rejected_events"] = pg(f'SELECT event_time, reason, source FROM "{schema}"."rejected_events" ORDER BY 1, 2, 3')
    return out


def kpi_rows(schema: str) -> dict:
    with connect(os.environ["USER_EVENTS_PG_URL"], autocommit=True) as conn:
        cur = conn.execute(f'SELECT * FROM "{schema}"."kpi_hourly" ORDER BY hour')
        names = [d.name for d in cur.description]
        return {r[0]: dict(zip(names, r, strict=False)) for r in cur.fetchall()}


def materialize_args(select: str, first: str = HOURS[0], last: str = HOURS[-1]) -> list[str]:
    """The README's single-run backfill command of the assets `select` over [first, last]."""
    return [
        "dagster",
        "asset",
        "materialize",
        "-m",
        "user_events.definitions",
        "--select",
        select,
        "--partition-range",
        f"{first}...{last}",
    ]


def materialize_hours(first: str, last: str) -> None:
    run_cli(*materialize_args(ASSETS, first, last))


def hour_job_args(key: str) -> list[str]:
    """The README's one-hour command."""
    tags = json.dumps({"dagster/partition": key})
    return ["dagster", "job", "execute", "-m", "user_events.definitions", "-j", "hourly_load_job", "--tags", tags]


def load_hour(key: str) -> None:
    run_cli(*hour_job_args(key))


def run_range_in_process(first: str, last: str) -> None:
    """A single-run backfill of [first, last] in this process (what the UI's range launch does)."""
    import dagster as dg

    from user_events.definitions import defs

    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("hourly_load_job").execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        )
    assert result.success


@pytest.fixture(scope="module")
def replayed(lake_env, rees46_sample, tmp_path_factory):
    csv_path = restamped_sample(rees46_sample, tmp_path_factory.mktemp("replay") / "restamped.csv")
    publish_and_sink(csv_path)
    events, rejected, _duplicates = reference.accepted_events(csv_path)
    assert rejected == 0
    return events


def test_three_hours_load_with_independent_counts_and_kpis(lake_env, replayed):
    schema = lake_env["USER_EVENTS_PG_SCHEMA"]
    materialize_hours(HOURS[0], HOURS[-1])  # the three hours as one run
    counts = dict(pg(f'SELECT event_hour, count(*) FROM "{schema}".user_events GROUP BY 1'))
    assert counts == replayed.groupby("event_hour").size().to_dict()
    assert sum(counts.values()) == len(replayed)
    actual = kpi_rows(schema)
    want = reference.kpis(replayed, "event_hour")
    assert set(actual) == set(want) == set(HOUR_STARTS)
    for hour, metrics in want.items():
        reference.assert_metrics_equal(actual[hour], metrics, f"kpi_hourly[{hour}]")


def test_reload_and_cli_backfill_change_nothing(lake_env, replayed):
    schema = lake_env["USER_EVENTS_PG_SCHEMA"]
    before = table_snapshot(schema)
    assert before["user_events"], "previous test loaded the hours"
    load_hour(HOURS[1])
    assert table_snapshot(schema) == before
    # the range includes an hour with no objects at all: it loads as empty, not as an error
    run_range_in_process(HOURS[0], "2019-11-01-03:00")
    assert table_snapshot(schema) == before
    assert pg(
        f'SELECT count(*) FROM "{schema}".user_events WHERE event_hour = %s', (HOUR_STARTS[2] + timedelta(hours=1),)
    ) == [(0,)]


def sensor_tick(instance, cursor: str | None):
    """One evaluation of the deployed hourly_load_sensor with the code location's `s3` resource."""
    import dagster as dg

    from user_events.definitions import defs

    sensor = defs.resolve_sensor_def("hourly_load_sensor")
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources={"s3": defs.resources["s3"]}
    )
    data = sensor.evaluate_tick(context)
    return data.run_requests or [], data.cursor


def test_sensor_reports_every_hours_totals_whoever_wrote_them(lake_env, replayed):
    """The hours a plain `user-events sink s3` process wrote show as lake_events_hourly materialisations with
    the hour's totals (objects and bytes from an independent LIST, records by counting the objects' lines),
    once per change of the hour."""
    import boto3
    import dagster as dg

    from user_events.definitions import defs

    topic, bucket = lake_env["USER_EVENTS_TOPIC"], os.environ["USER_EVENTS_S3_BUCKET"]
    s3 = boto3.client("s3", endpoint_url=os.environ["USER_EVENTS_S3_ENDPOINT"])
    want = {}
    for hour in HOUR_STARTS:
        prefix = f"topics/{topic}/year=2019/month=11/day=01/hour={hour:%H}/"
        objects = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        lines = sum(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().count(b"\n") for o in objects)
        want[f"{hour:%Y-%m-%d-%H}:00"] = (len(objects), lines, sum(o["Size"] for o in objects))
    assert all(n and lines for n, lines, _ in want.values())
    sensor = defs.resolve_sensor_def("hourly_load_sensor")
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, definitions=defs, resources={"s3": defs.resources["s3"]})
        first = sensor.evaluate_tick(context)
        reported = {
            e.partition: (e.metadata["objects"].value, e.metadata["records"].value, e.metadata["bytes"].value)
            for e in first.asset_events
            if e.asset_key == dg.AssetKey("lake_events_hourly")
        }
        assert reported == want
        context = dg.build_sensor_context(
            instance=instance, cursor=first.cursor, definitions=defs, resources={"s3": defs.resources["s3"]}
        )
        assert sensor.evaluate_tick(context).asset_events == [], "unchanged hours are not reported again"


def test_late_event_makes_its_hour_reload_by_itself(lake_env, replayed, tmp_path):
    """The hourly sensor requests hour 1 again after a late event lands in it; running that request loads it."""
    import dagster as dg

    from user_events.definitions import defs

    schema = lake_env["USER_EVENTS_PG_SCHEMA"]
    with dg.instance_for_test() as instance:
        runs, cursor = sensor_tick(instance, None)
        assert [r.partition_key for r in runs] == HOURS[:2], "hours 0 and 1 are complete by the watermark; 2 is not"
        runs, cursor = sensor_tick(instance, cursor)
        assert runs == [], "nothing changed: no new request"

        late = tmp_path / "late.csv"
        late.write_text(
            "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
            "2019-11-01 01:30:00 UTC,purchase,4242,2053013555631882655,,late-brand,12.34,777000777,late-session\n"
        )
        publish_and_sink(late)
        runs, cursor = sensor_tick(instance, cursor)
        assert [r.partition_key for r in runs] == [HOURS[1]]

        result = defs.resolve_job_def("hourly_load_job").execute_in_process(
            instance=instance, partition_key=runs[0].partition_key, tags=runs[0].tags
        )
    assert result.success
    assert pg(
        f"SELECT count(*) FROM \"{schema}\".user_events WHERE brand = 'late-brand' AND event_hour = %s",
        (HOUR_STARTS[1],),
    ) == [(1,)]
    hour1 = replayed[replayed["event_hour"] == HOUR_STARTS[1]]
    assert pg(f'SELECT count(*) FROM "{schema}".user_events WHERE event_hour = %s', (HOUR_STARTS[1],)) == [
        (len(hour1) + 1,)
    ]


def test_failing_blocking_check_keeps_previous_rows(lake_env, replayed, monkeypatch):
    """A corrupt object in hour 0 pushes the reject rate over the limit: the load stops before PostgreSQL."""
    import dagster as dg

    from user_events.definitions import defs
    from user_events.storage.s3 import S3Storage
    from user_events.storage.s3_layout import object_key

    schema, topic, bucket = (
        lake_env["USER_EVENTS_PG_SCHEMA"],
        lake_env["USER_EVENTS_TOPIC"],
        os.environ["USER_EVENTS_S3_BUCKET"],
    )
    before = pg(f'SELECT event_id FROM "{schema}".user_events WHERE event_hour = %s ORDER BY 1', (HOUR_STARTS[0],))
    assert before
    bad_lines = "\n".join(json.dumps({"event_time": "not a time", "event_type": "view"}) for _ in range(50)) + "\n"
    key = object_key(topic, HOUR_STARTS[0], 99, 0)
    s3 = S3Storage().get_client()
    s3.put_object(Bucket=bucket, Key=key, Body=bad_lines.encode())
    monkeypatch.setenv("USER_EVENTS_MAX_REJECT_RATE", "0.001")
    try:
        with dg.instance_for_test() as instance:
            result = defs.resolve_job_def("hourly_load_job").execute_in_process(
                instance=instance, partition_key=HOURS[0], raise_on_error=False
            )
        assert not result.success
        failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
        assert any(e.check_name == "hourly_typed_events_reject_rate" for e in failed)
        after = pg(f'SELECT event_id FROM "{schema}".user_events WHERE event_hour = %s ORDER BY 1', (HOUR_STARTS[0],))
        assert after == before
    finally:
        s3.delete_object(Bucket=bucket, Key=key)


def test_backfill_through_the_webserver_has_a_working_page_and_true_duration(lake_env, replayed, tmp_path):
    """`user-events backfill` with a real webserver and daemon (`dagster dev`): one run for the range, a
    backfill page whose GraphQL answers (the CLI `dagster job backfill` page fails with a KeyError on
    Dagster 1.13), a duration that covers the run, and the hours reloaded without a change."""
    import shutil
    import signal
    import time

    import requests

    from user_events.devservices.core import free_port
    from user_events.lake.backfill import DagsterWebserver, status

    schema = lake_env["USER_EVENTS_PG_SCHEMA"]
    before = table_snapshot(schema)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    exe = Path(sys.executable).parent
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    dev = subprocess.Popen(
        [
            str(exe / "dagster"),
            "dev",
            "-m",
            "user_events_tests.lake.backfill_location",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=open(tmp_path / "dev.log", "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                if requests.get(f"{url}/server_info", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            assert dev.poll() is None and time.monotonic() < deadline, (tmp_path / "dev.log").read_text()[-3000:]
            time.sleep(2)
        proc = run_cli(
            "user-events",
            "backfill",
            "--from",
            HOURS[0],
            "--to",
            HOURS[-1],
            "--url",
            url,
            "--wait",
            "--timeout",
            "800",
            timeout=900,
        )
        backfill_id = proc.stdout.split("backfill ", 1)[1].split()[0]
        state = status(DagsterWebserver(url), backfill_id)
        assert state["status"] == "COMPLETED_SUCCESS" and state["isAssetBackfill"] and state["numPartitions"] == 3
        counts = {
            s["assetKey"]["path"][0]: s["numPartitionsMaterialized"]
            for s in state["assetBackfillData"]["assetBackfillStatuses"]
        }
        assert counts == {"hourly_typed_events": 3, "hourly_user_events": 3, "hourly_kpis": 3}
        runs = DagsterWebserver(url).graphql(
            'query R($id: String!) { runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) '
            "{ ... on Runs { results { runId status startTime endTime } } } }",
            {"id": backfill_id},
        )["runsOrError"]["results"]
        assert [r["status"] for r in runs] == ["SUCCESS"], "one run for the whole range"
        assert state["endTimestamp"] - state["timestamp"] >= runs[0]["endTime"] - runs[0]["startTime"]
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        try:
            dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
    assert table_snapshot(schema) == before
