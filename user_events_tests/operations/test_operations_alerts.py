"""The alert sensor end to end: real runs and checks on a real Dagster instance, the real services they load
from, and a local HTTP receiver on loopback standing in for the webhook.

Each tick is the real sensor evaluated with the instance and the cursor the daemon would hand it; a
"daemon restart" is a tick from the stored cursor in a new context.
"""

from __future__ import annotations

import csv
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from user_events.ports import LOOPBACK, free_port
from user_events_tests import reference
from user_events_tests.streaming.support import require_services


class Receiver:
    """A webhook on 127.0.0.1 that keeps every JSON body; `down()` closes its port, `up()` opens it again."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}/hooks/T000/B000/secret-part"
        self.received: list[dict] = []
        self._server = None

    def up(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def whats(self) -> list[str]:
        return [m["user_events"]["what"] for m in self.received]


@pytest.fixture
def receiver():
    r = Receiver()
    r.up()
    yield r
    r.down()


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def webhook(receiver, monkeypatch):
    monkeypatch.setenv("USER_EVENTS_ALERT_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("USER_EVENTS_DAGSTER_URL", "http://127.0.0.1:3999")
    return receiver


def tick(instance, cursor: str | None) -> str:
    """One evaluation of the real alert sensor; returns the cursor it stored."""
    from user_events.operations.sensors import alert_sensor

    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=full_defs())
    alert_sensor(context)
    return context.cursor


def full_defs():
    from user_events.definitions import defs

    return defs


def test_a_failed_hourly_load_is_told_once_with_its_run_and_link(instance, webhook, monkeypatch, tmp_path):
    require_services("USER_EVENTS_S3_ENDPOINT", "USER_EVENTS_PG_URL")
    monkeypatch.setenv("USER_EVENTS_TOPIC", f"alerts_{uuid.uuid4().hex[:8]}")  # a topic with no lake objects
    monkeypatch.setenv("USER_EVENTS_LAKE_DIR", str(tmp_path / "lake"))
    job = full_defs().resolve_job_def("hourly_load_job")
    result = job.execute_in_process(instance=instance, partition_key="2019-11-01-03:00", raise_on_error=False)
    assert not result.success

    cursor = tick(instance, None)
    assert webhook.whats() == ["run_failed"]
    message = webhook.received[0]
    assert result.run_id in message["text"]
    assert f"http://127.0.0.1:3999/runs/{result.run_id}" in message["text"]
    assert message["user_events"]["run_id"] == result.run_id
    assert message["user_events"]["partition"] == "2019-11-01-03:00"
    assert message["user_events"]["job"] == "hourly_load_job"

    cursor = tick(instance, cursor)  # the next tick
    cursor = tick(instance, cursor)  # a daemon restart: a new context from the stored cursor
    assert len(webhook.received) == 1
    assert webhook.url not in json.dumps(cursor)  # the secret URL is not kept in the cursor either


def execute_freshness_checks(instance):
    """The run the freshness sensor requests: the checks alone, beside the assets they look at."""
    from user_events.lake.assets import LAKE_ASSETS
    from user_events.lake.checks import LAKE_FRESHNESS_CHECKS

    return dg.materialize(
        [*LAKE_ASSETS, *LAKE_FRESHNESS_CHECKS],
        instance=instance,
        resources=full_defs().resources,
        selection=dg.AssetSelection.checks(*LAKE_FRESHNESS_CHECKS),
    )


def expected_freshness_hour(now: datetime) -> str:
    """The hour the freshness checks expect: the last hour that ended before the latest deadline tick (its
    minute: USER_EVENTS_FRESHNESS_MINUTES, 20 by default)."""
    deadline = now.replace(minute=20, second=0, microsecond=0)
    if deadline > now:
        deadline -= timedelta(hours=1)
    return (deadline - timedelta(hours=1)).replace(minute=0).strftime("%Y-%m-%d-%H:%M")


def test_a_late_hour_is_told_once_and_its_recovery_once_it_is_loaded(instance, webhook):
    from user_events.asset_keys import HOURLY_KPIS, HOURLY_USER_EVENTS

    hour = expected_freshness_hour(datetime.now(UTC))
    result = execute_freshness_checks(instance)
    if expected_freshness_hour(datetime.now(UTC)) != hour:  # a deadline passed meanwhile: once more
        hour = expected_freshness_hour(datetime.now(UTC))
        result = execute_freshness_checks(instance)
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 3 and not any(e.passed for e in evaluations)

    cursor = tick(instance, None)
    assert webhook.whats() == ["check_failed"] * 3
    assert all(hour in m["text"] for m in webhook.received), [m["text"] for m in webhook.received]
    assert {m["user_events"]["asset"] for m in webhook.received} == {
        "hourly_typed_events",
        "hourly_user_events",
        "hourly_kpis",
    }
    cursor = tick(instance, cursor)
    assert len(webhook.received) == 3  # nothing twice

    # the hour is loaded: the three assets have its partition materialised
    for key in (dg.AssetKey("hourly_typed_events"), HOURLY_USER_EVENTS, HOURLY_KPIS):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=hour))
    assert all(e.passed for e in execute_freshness_checks(instance).get_asset_check_evaluations())
    cursor = tick(instance, cursor)
    assert webhook.whats() == ["check_failed"] * 3 + ["check_recovered"] * 3
    tick(instance, cursor)
    assert len(webhook.received) == 6


def test_with_the_receiver_down_the_message_arrives_once_it_is_back(instance, webhook):
    @dg.op
    def breaks():
        raise RuntimeError("the warehouse is on fire")

    @dg.job
    def nightly_job():
        breaks()

    run = nightly_job.execute_in_process(instance=instance, raise_on_error=False)
    webhook.down()
    cursor = tick(instance, None)
    assert webhook.received == []
    assert json.loads(cursor)["state"]["outbox"], "the undelivered message is kept"
    cursor = tick(instance, cursor)  # still down
    webhook.up()
    cursor = tick(instance, cursor)
    assert webhook.whats() == ["run_failed"]
    assert "the warehouse is on fire" in webhook.received[0]["text"] and run.run_id in webhook.received[0]["text"]
    tick(instance, cursor)
    assert len(webhook.received) == 1


def test_without_a_url_the_sensor_says_once_that_alerts_are_off(instance, monkeypatch):
    from user_events.operations.sensors import AlertCursor, evaluate

    monkeypatch.delenv("USER_EVENTS_ALERT_WEBHOOK_URL", raising=False)
    lines: list[str] = []

    class Log:
        def info(self, msg):
            lines.append(msg)

        warning = info

    cursor = AlertCursor()
    for _ in range(3):
        evaluate(instance, [], cursor, Log(), None)
    assert lines == ["alerts are off: USER_EVENTS_ALERT_WEBHOOK_URL is unset (docs/operations.md)"]


def two_days_with_half_the_orders_on_the_second(tmp_path):
    """A generated day, and the same day again a day later without the purchases of every other purchasing
    session: the second day's conversion rate and revenue are about half the first's."""
    from user_events.generator import write_csv

    first = tmp_path / "day1.csv"
    write_csv(first, rows=20_000, duplicate_rate=0.0, invalid_rate=0.0)
    with open(first, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    purchasing = sorted({r[8] for r in body if r[1] == "purchase" and r[8]})
    dropped = set(purchasing[::2])
    second = []
    for r in body:
        if r[1] == "purchase" and r[8] in dropped:
            continue
        t = datetime.strptime(r[0], "%Y-%m-%d %H:%M:%S UTC") + timedelta(days=1)
        second.append([t.strftime("%Y-%m-%d %H:%M:%S UTC"), *r[1:8], r[8] + "-d2" if r[8] else ""])
    out = tmp_path / "two_days.csv"
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(body)
        w.writerows(second)
    return out


def test_a_halved_day_is_one_warn_check_and_one_message_with_both_values(
    instance, webhook, monkeypatch, tmp_path, pg_url, pg_schema
):
    from user_events_tests.batch_fixtures import batch_defs

    csv_path = two_days_with_half_the_orders_on_the_second(tmp_path)
    monkeypatch.setenv("USER_EVENTS_RAW_CSV", str(csv_path))
    monkeypatch.setenv("USER_EVENTS_BATCH_DIR", str(tmp_path / "batch"))
    monkeypatch.setenv("USER_EVENTS_ANOMALY_MAX_CHANGE", "0.3")
    monkeypatch.setenv("USER_EVENTS_ANOMALY_MIN_EVENTS", "5000")  # days only: an hour holds about 1,000 events
    result = batch_defs(pg_url, pg_schema).resolve_job_def("batch_job").execute_in_process(instance=instance)
    assert result.success  # a warning never fails the load

    events, _, _ = reference.accepted_events(csv_path)
    want = reference.kpis(events, "event_date")
    day1, day2 = sorted(want)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    daily = evaluations["kpi_daily_anomalies"]
    assert not daily.passed and daily.severity == dg.AssetCheckSeverity.WARN
    assert evaluations["kpi_hourly_anomalies"].passed  # no hour holds 5,000 events: none compared
    assert [e.check_name for e in evaluations.values() if not e.passed] == ["kpi_daily_anomalies"]
    breached = {(b["metric"], b["baseline"]): b for b in daily.metadata["breached"].value}
    conversion = breached[("conversion_rate", "day_before")]
    assert conversion["period"] == str(day2)
    assert conversion["value"] == pytest.approx(float(want[day2]["conversion_rate"]))
    assert conversion["baseline_value"] == pytest.approx(float(want[day1]["conversion_rate"]))
    assert conversion["change"] == pytest.approx(
        float(want[day2]["conversion_rate"]) / float(want[day1]["conversion_rate"]) - 1
    )
    assert conversion["change"] < -0.3
    assert ("revenue", "day_before") in breached and ("events", "day_before") not in breached

    tick(instance, tick(instance, None))
    assert webhook.whats() == ["check_failed"]
    text = webhook.received[0]["text"]
    assert "kpi_daily_anomalies" in text and webhook.received[0]["user_events"]["severity"] == "WARN"
    assert f"{conversion['value']:g}" in text and f"{conversion['baseline_value']:g}" in text


def test_a_stopped_sink_is_one_lag_message(instance, webhook, pipeline):
    """A backlog with no live sink: the MongoDB sink's lag sensor fails its check (stored as the daemon stores a
    sensor's asset events), and the alert sensor tells it once, with the lag."""
    from user_events.streaming.resources import KafkaResource
    from user_events_tests.streaming.support import GOOD_RECORD, encode, produce

    n = produce(pipeline.topic, [encode({**GOOD_RECORD, "user_session": f"s{i}"}) for i in range(25)])
    kafka = KafkaResource(topic=pipeline.topic, config_file=str(pipeline.kafka_config))
    defs = full_defs()
    context = dg.build_sensor_context(instance=instance, definitions=defs, resources={"kafka": kafka})
    for event in defs.resolve_sensor_def("mongo_sink_lag_sensor").evaluate_tick(context).asset_events:
        instance.report_runless_asset_event(event)

    cursor = tick(instance, None)
    assert webhook.whats() == ["check_failed"]
    message = webhook.received[0]
    assert message["user_events"]["check"] == "mongo_sink_lag" and message["user_events"]["severity"] == "ERROR"
    assert message["user_events"]["values"]["lag_messages"] == n
    assert "no live member" in message["text"]
    tick(instance, cursor)
    assert len(webhook.received) == 1


def wait_for(predicate, timeout: float, what: str) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_under_a_running_daemon_the_sensor_runs_by_default_and_survives_a_restart(receiver, tmp_path, monkeypatch):
    """The daemon evaluates alert_sensor without anyone starting it; after a daemon restart it goes on from its
    stored cursor: the first failure is not told again, the next one is."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from user_events_tests.operations.daemon_location import nightly_job

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "USER_EVENTS_ALERT_WEBHOOK_URL": receiver.url,
        "USER_EVENTS_DAGSTER_URL": "http://127.0.0.1:3999",
    }
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    daemon_cmd = [
        str(Path(sys.executable).parent / "dagster-daemon"),
        "run",
        "-m",
        "user_events_tests.operations.daemon_location",
    ]

    def start_daemon(log_name: str) -> subprocess.Popen:
        with open(tmp_path / log_name, "wb") as log:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(daemon_cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    with dg.DagsterInstance.get() as instance:
        first = nightly_job.execute_in_process(instance=instance, raise_on_error=False, tags={"why": "first"})
        daemon = start_daemon("daemon1.log")
        try:
            wait_for(lambda: len(receiver.received) >= 1, 120, "the first alert from the daemon")
        finally:
            daemon.terminate()
            daemon.wait(60)
        assert receiver.whats() == ["run_failed"] and first.run_id in receiver.received[0]["text"]

        daemon = start_daemon("daemon2.log")
        try:
            second = nightly_job.execute_in_process(instance=instance, raise_on_error=False, tags={"why": "second"})
            wait_for(lambda: len(receiver.received) >= 2, 120, "the second alert after the restart")
        finally:
            daemon.terminate()
            daemon.wait(60)
    assert receiver.whats() == ["run_failed", "run_failed"]
    assert second.run_id in receiver.received[1]["text"] and "second" in receiver.received[1]["text"]
    assert receiver.url not in (tmp_path / "daemon1.log").read_text() + (tmp_path / "daemon2.log").read_text()
