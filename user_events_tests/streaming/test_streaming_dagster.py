"""The streaming jobs and sensors in Dagster: same code as the commands, reporting through Dagster."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter

import dagster as dg
import pandas as pd
import pytest

from user_events.asset_keys import kafka_topic, mongo_collection
from user_events.config import PROJECT_ROOT
from user_events.storage.watermark import read_watermark
from user_events_tests.streaming.support import (
    GOOD_RECORD,
    committed_offsets,
    consume_all,
    encode,
    end_offsets,
    expected_event_ids,
    mongo_db,
    produce,
    records_frame,
    s3,
    s3_lines,
    wait_assigned,
    wait_until,
)


@pytest.fixture
def pipeline(pipeline, monkeypatch):
    """conftest's pipeline, with its settings in this process's environment (for in-process Dagster runs)."""
    for k, v in pipeline.env().items():
        if k.startswith("USER_EVENTS_"):
            monkeypatch.setenv(k, v)
    return pipeline


@pytest.fixture(scope="module")
def defs():
    from user_events.definitions import defs

    return defs


def test_simulate_and_sink_jobs_in_process(pipeline, defs):
    sim = defs.resolve_job_def("simulate_job").execute_in_process(
        run_config={
            "ops": {
                "simulate": {
                    "config": {
                        "count": 2500,
                        "rate": 1000,
                        "time_mode": "replay",
                        "start": "2019-11-01T00:59:59Z",
                        "seed": 4,
                    }
                }
            }
        }
    )
    assert sim.success
    assert sim.output_for_node("simulate")["delivered"] == 2500

    records = [json.loads(m.value()) for m in consume_all(pipeline.topic)]
    df = records_frame(records)
    hours = Counter(
        pd.to_datetime(df.event_time, format="%Y-%m-%d %H:%M:%S UTC", utc=True).dt.strftime("%Y-%m-%d-%H:00")
    )
    assert len(hours) == 2  # the window crosses an hour boundary

    mongo = defs.resolve_job_def("mongo_sink_job").execute_in_process(
        run_config={"ops": {"mongo_sink": {"config": {"until_idle_seconds": 3}}}}
    )
    assert mongo.success
    # the sink is a multi-asset now: its summary is the metadata of the collections' materializations
    final = {m.asset_key: m.metadata for m in mongo.asset_materializations_for_node("mongo_sink")}
    assert final[mongo_collection("events")]["consumed"].value == 2500
    assert set(final) == {
        mongo_collection(c) for c in ("events", "events_per_minute", "sink_delay_per_minute", "sink_status")
    }
    assert final[mongo_collection("events")]["lag"].value == 0
    assert mongo_db(pipeline.mongo_db).events.count_documents({}) == len(expected_event_ids(df))
    assert any(m.asset_key == kafka_topic("events") for m in sim.asset_materializations_for_node("simulate"))

    s3 = defs.resolve_job_def("s3_sink_job").execute_in_process(
        run_config={"ops": {"s3_sink": {"config": {"until_idle_seconds": 3, "rotate_seconds": 1}}}}
    )
    assert s3.success
    lake = dg.AssetKey("lake_events_hourly")
    # what the run wrote is an observation; the hour's totals are the hourly sensor's materialisations
    assert [m for m in s3.asset_materializations_for_node("s3_sink") if m.asset_key == lake] == []
    mats = [m for m in s3.asset_observations_for_node("s3_sink") if m.asset_key == lake]
    reported = Counter()
    for m in mats:
        reported[m.partition] += m.metadata["records"].value
        assert m.metadata["topic"].value == pipeline.topic
    assert reported == hours  # every record reported once, under its hour's partition key
    assert len(s3_lines(pipeline.topic)) == 2500

    # a late event for the first hour: the next run writes one more object and reports that hour again
    first_hour = min(hours)
    late = {
        **GOOD_RECORD,
        "event_time": first_hour[:10] + " " + first_hour[11:13] + ":30:00 UTC",
        "user_session": "late",
    }
    produce(pipeline.topic, [encode(late)])
    again = defs.resolve_job_def("s3_sink_job").execute_in_process(
        run_config={"ops": {"s3_sink": {"config": {"until_idle_seconds": 3, "rotate_seconds": 1}}}}
    )
    mats = [m for m in again.asset_observations_for_node("s3_sink") if m.asset_key == lake]
    assert [(m.partition, m.metadata["records"].value, m.metadata["objects"].value) for m in mats] == [
        (first_hour, 1, 1)
    ]


@pytest.mark.unit
def test_keepalive_sensor_counts_every_unfinished_run_status():
    from user_events.streaming.sensors import ACTIVE_RUN_STATUSES

    finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    assert set(ACTIVE_RUN_STATUSES) == set(dg.DagsterRunStatus) - finished - {dg.DagsterRunStatus.MANAGED}


def test_keepalive_sensor_requests_a_run_only_when_none_is_active(defs):
    sensor = defs.get_sensor_def("mongo_sink_job_keepalive")
    job = defs.resolve_job_def("mongo_sink_job")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    with dg.instance_for_test() as instance:
        result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
        assert len(result.run_requests) == 1
        assert result.run_requests[0].tags["user_events/sink"] == "mongo"

        for status in (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTED):
            run = instance.create_run_for_job(job_def=job, status=status)
            result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
            assert result.run_requests == [] and run.run_id in result.skip_message
            if status == dg.DagsterRunStatus.NOT_STARTED:
                instance.delete_run(run.run_id)
        instance.report_run_failed(run)

        # a failed (or finished) run does not count: the sensor starts a new one
        result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
        assert len(result.run_requests) == 1
    assert job.tags["user_events/sink"] == "mongo" and job.tags["dagster/max_retries"] == "3"


def test_run_termination_flushes_and_commits(pipeline, tmp_path):
    """SIGTERM to `dagster job execute` of s3_sink_job: the buffered records are written and committed."""
    produce(
        pipeline.topic, (encode({**GOOD_RECORD, "user_session": f"s{i}", "user_id": str(i + 1)}) for i in range(300))
    )
    cfg = tmp_path / "run.yaml"
    cfg.write_text(json.dumps({"ops": {"s3_sink": {"config": {"rotate_seconds": 3600}}}}))
    log = tmp_path / "dagster.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster",
            "job",
            "execute",
            "-m",
            "user_events.definitions",
            "-j",
            "s3_sink_job",
            "-c",
            str(cfg),
        ],
        env=pipeline.env(),
        cwd=PROJECT_ROOT,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_assigned(log, 120, "the sink to start")

        def pending() -> int:
            client, bucket = s3()
            doc = read_watermark(client, bucket, pipeline.topic)
            return sum(d["pending_records"] for d in doc["partitions"].values())

        wait_until(lambda: pending() == 300, 60, "the watermark to show 300 buffered records", interval=0.5)
        assert s3_lines(pipeline.topic) == []  # they wait in the buffers (rotation 1 h)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert "stopped (SIGINT)" in text or "stopped (SIGTERM)" in text, text[-3000:]
    assert len(s3_lines(pipeline.topic)) == 300
    assert committed_offsets(pipeline.topic, pipeline.group("s3")) == end_offsets(pipeline.topic)


def _dagster_execute(job: str, env: dict, config: dict, log, home) -> subprocess.Popen:
    """`dagster job execute` of `job` in its own process, on a persistent instance in `home`."""
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    cfg = home / f"{job}.yaml"
    cfg.write_text(json.dumps(config))
    return subprocess.Popen(
        [sys.executable, "-m", "dagster", "job", "execute", "-m", "user_events.definitions", "-j", job, "-c", str(cfg)],
        env={**env, "DAGSTER_HOME": str(home)},
        cwd=PROJECT_ROOT,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _run_events(home) -> tuple[dg.DagsterRunStatus, list]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [record] = instance.get_run_records()
        return record.dagster_run.status, instance.all_logs(record.dagster_run.run_id)


def _stopped_by_sigterm(proc, log, home, ready) -> tuple[dg.DagsterRunStatus, list, list[str]]:
    """Once `ready()` returned, SIGTERM to the `dagster job execute` process, which must exit 0; then the run's
    status, its events and their types."""
    try:
        ready()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(90) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    status, events = _run_events(home)
    return status, events, [e.dagster_event.event_type_value for e in events if e.dagster_event is not None]


def test_sigterm_to_a_sink_run_ends_as_a_stop_not_a_failure(pipeline, tmp_path):
    """Run termination of mongo_sink_job: flushed and committed, a clear stop message, no STEP_FAILURE; the
    collections were materialized (with the final lag)."""
    produce(
        pipeline.topic, (encode({**GOOD_RECORD, "user_session": f"s{i}", "user_id": str(i + 1)}) for i in range(200))
    )
    log, home = tmp_path / "dagster.log", tmp_path / "home"
    proc = _dagster_execute(
        "mongo_sink_job", pipeline.env(), {"ops": {"mongo_sink": {"config": {"progress_seconds": 1}}}}, log, home
    )

    def committed() -> None:
        wait_assigned(log, 120, "the sink to start")
        group = pipeline.group("mongo")
        wait_until(
            lambda: committed_offsets(pipeline.topic, group) == end_offsets(pipeline.topic),
            60,
            "the sink to commit",
            interval=1,
        )

    status, events, types = _stopped_by_sigterm(proc, log, home, committed)
    assert "STEP_FAILURE" not in types and "RUN_FAILURE" not in types, types
    assert status == dg.DagsterRunStatus.SUCCESS
    assert any("stop requested (SIGTERM): flushed and committed" in (e.user_message or "") for e in events)
    materialized = {
        e.dagster_event.event_specific_data.materialization.asset_key
        for e in events
        if e.dagster_event is not None and e.dagster_event.event_type_value == "ASSET_MATERIALIZATION"
    }
    assert mongo_collection("events") in materialized and mongo_collection("sink_status") in materialized
    assert mongo_db(pipeline.mongo_db).events.count_documents({}) == 200


def test_sigterm_to_a_simulate_run_ends_as_a_stop(pipeline, tmp_path):
    log, home = tmp_path / "dagster.log", tmp_path / "home"
    config = {"ops": {"simulate": {"config": {"count": 1_000_000, "rate": 200, "time_mode": "live"}}}}
    proc = _dagster_execute("simulate_job", pipeline.env(), config, log, home)
    status, events, types = _stopped_by_sigterm(
        proc,
        log,
        home,
        lambda: wait_until(
            lambda: "published" in log.read_text() or sum(end_offsets_or_zero(pipeline.topic).values()) > 100,
            120,
            "publishing",
        ),
    )
    assert "STEP_FAILURE" not in types and status == dg.DagsterRunStatus.SUCCESS, types
    assert any("stop requested (SIGTERM)" in (e.user_message or "") for e in events)
    delivered = sum(end_offsets(pipeline.topic).values())
    assert 0 < delivered < 1_000_000


def end_offsets_or_zero(topic: str) -> dict:
    try:
        return end_offsets(topic)
    except Exception:
        return {}


def test_a_real_failure_still_fails_the_sink_run(pipeline, defs):
    """--until-idle without any assignment (a one-partition topic held by another member of the group) is a
    failure, not a stop: the step fails with the group's name."""
    produce(pipeline.topic, [encode(GOOD_RECORD)], partitions=1)
    from confluent_kafka import Consumer

    from user_events_tests.streaming.support import holding_the_group, kafka

    holder = Consumer(
        kafka().client_config("consumer", **{"group.id": pipeline.group("mongo"), "group.instance.id": "holder"})
    )
    with holding_the_group(holder, pipeline.topic):  # a member that takes part in the sink's rebalance
        result = defs.resolve_job_def("mongo_sink_job").execute_in_process(
            run_config={"ops": {"mongo_sink": {"config": {"until_idle_seconds": 2, "assignment_timeout_seconds": 6}}}},
            raise_on_error=False,
        )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert pipeline.group("mongo") in str(failure.step_failure_data.error) and "holder" in str(
        failure.step_failure_data.error
    )
