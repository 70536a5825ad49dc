"""The sinks' lag and liveness checks against real Kafka: evaluated through the real sensors (what the daemon
runs every minute) and by executing the checks; expected lag = end offsets − committed offsets, read with plain
Kafka clients."""

from __future__ import annotations

import json
import time

import dagster as dg
import pytest

from user_events.asset_keys import LAKE_EVENTS_HOURLY, mongo_collection
from user_events.streaming.checks import SINK_LAG_CHECKS
from user_events.streaming.resources import KafkaResource
from user_events_tests.streaming.support import (
    GOOD_RECORD,
    committed_offsets,
    encode,
    end_offsets,
    holding_the_group,
    produce,
    start_cli,
    stop,
    wait_until,
)

MONGO_CHECK = dg.AssetCheckKey(mongo_collection("events"), "mongo_sink_lag")
S3_CHECK = dg.AssetCheckKey(LAKE_EVENTS_HOURLY, "s3_sink_lag")


@pytest.fixture(scope="module")
def defs():
    from user_events.definitions import defs

    return defs


@pytest.fixture
def kafka(pipeline) -> KafkaResource:
    """The `kafka` resource of the pipeline's topic (its sinks' groups: user_events.<topic>.<sink>_sink)."""
    return KafkaResource(topic=pipeline.topic, config_file=str(pipeline.kafka_config))


def records(n: int, start: int = 0):
    return [encode({**GOOD_RECORD, "user_session": f"s{i}", "user_id": str(i + 1)}) for i in range(start, start + n)]


def evaluate(defs, sensor_name: str, kafka: KafkaResource, instance=None) -> dg.AssetCheckEvaluation:
    """One tick of the lag sensor; its one asset event is the check's evaluation."""
    sensor = defs.resolve_sensor_def(sensor_name)
    instance = instance or dg.DagsterInstance.ephemeral()
    context = dg.build_sensor_context(instance=instance, definitions=defs, resources={"kafka": kafka})
    result = sensor.evaluate_tick(context)
    assert result.run_requests == []
    [evaluation] = result.asset_events
    assert isinstance(evaluation, dg.AssetCheckEvaluation)
    return evaluation


def figures(evaluation: dg.AssetCheckEvaluation) -> dict:
    return {k: v.value for k, v in evaluation.metadata.items()}


def test_the_checks_are_declared_on_the_sinks_assets_and_evaluated_every_minute(defs):
    assert {MONGO_CHECK, S3_CHECK} <= defs.resolve_asset_graph().asset_check_keys
    for name in ("mongo_sink_lag_sensor", "s3_sink_lag_sensor"):
        sensor = defs.resolve_sensor_def(name)
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        assert sensor.minimum_interval_seconds == 60
    # the long-running sink run does not carry the check (it would be evaluated only when the sink stops)
    assert [node.name for node in defs.resolve_job_def("mongo_sink_job").nodes] == ["mongo_sink"]


def test_a_backlog_with_no_sink_fails_then_a_drained_sink_has_lag_zero(pipeline, defs, kafka, tmp_path):
    n = produce(pipeline.topic, records(40))
    assert sum(end_offsets(pipeline.topic).values()) == n

    for sink, key in (("mongo", MONGO_CHECK), ("s3", S3_CHECK)):
        evaluation = evaluate(defs, f"{sink}_sink_lag_sensor", kafka)
        got = figures(evaluation)
        assert evaluation.asset_check_key == key
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert "no live member" in evaluation.description
        assert got["problems"] == [
            f"no live member in consumer group {pipeline.group(sink)} "
            "(it has never committed an offset: the sink has not run here)"
        ]
        assert got["lag_messages"] == n and isinstance(got["lag_messages"], int)
        assert got["members"] == 0 and got["group"] == pipeline.group(sink)
        assert isinstance(got["oldest_age_seconds"], float) and 0 <= got["oldest_age_seconds"] < 300
        assert {int(p): d["committed"] for p, d in got["partitions"].items()} == {0: None, 1: None, 2: None}
        assert sum(d["lag"] for d in got["partitions"].values()) == n

    # executing the checks (UI: Execute) gives the same verdict in a run
    executed = dg.materialize(
        SINK_LAG_CHECKS, selection=dg.AssetSelection.checks(*SINK_LAG_CHECKS), resources={"kafka": kafka}
    )
    results = {e.asset_check_key: e for e in executed.get_asset_check_evaluations()}
    assert set(results) == {MONGO_CHECK, S3_CHECK}
    assert all(not e.passed and e.metadata["lag_messages"].value == n for e in results.values())

    env = pipeline.env(USER_EVENTS_SINK_INSTANCE_ID="lag-drained")
    proc = start_cli(["sink", "mongo", "--until-idle", "3"], env, tmp_path / "mongo.log")
    assert proc.wait(120) == 0, (tmp_path / "mongo.log").read_text()[-2000:]
    ends = end_offsets(pipeline.topic)
    assert committed_offsets(pipeline.topic, pipeline.group("mongo")) == ends

    drained = figures(evaluate(defs, "mongo_sink_lag_sensor", kafka))
    assert (drained["lag_messages"], drained["oldest_age_seconds"]) == (0, 0.0)
    assert {int(p): d["committed"] for p, d in drained["partitions"].items()} == ends
    assert not [p for p in drained["problems"] if "no live member" not in p]  # nothing but liveness can fail

    # the stopped (static) member leaves the group after its session timeout (6 s here): then it is a dead
    # sink without backlog, and liveness alone fails the check
    latest: list[dg.AssetCheckEvaluation] = []

    def member_gone() -> bool:
        latest[:] = [evaluate(defs, "mongo_sink_lag_sensor", kafka)]
        return figures(latest[0])["members"] == 0

    wait_until(member_gone, 60, "the stopped sink's member to expire", interval=1)
    [evaluation] = latest
    assert not evaluation.passed and figures(evaluation)["lag_messages"] == 0
    assert figures(evaluation)["problems"] == [f"no live member in consumer group {pipeline.group('mongo')}"]
    # the S3 sink's group did not move
    assert figures(evaluate(defs, "s3_sink_lag_sensor", kafka))["lag_messages"] == n


def test_a_running_caught_up_sink_passes_and_the_evaluation_lands_on_the_check(pipeline, defs, kafka, tmp_path):
    produce(pipeline.topic, records(30))
    log = tmp_path / "mongo.log"
    proc = start_cli(["sink", "mongo"], pipeline.env(USER_EVENTS_SINK_INSTANCE_ID="lag-live"), log)
    try:
        wait_until(
            lambda: committed_offsets(pipeline.topic, pipeline.group("mongo")) == end_offsets(pipeline.topic),
            120,
            "the sink to commit everything",
            interval=1,
        )
        with dg.instance_for_test() as instance:
            evaluation = evaluate(defs, "mongo_sink_lag_sensor", kafka, instance)
            got = figures(evaluation)
            assert evaluation.passed, evaluation.description
            assert (got["lag_messages"], got["oldest_age_seconds"], got["problems"]) == (0, 0.0, [])
            assert got["members"] == 1 and [m["member"] for m in got["member_detail"]] == ["lag-live"]
            assert sorted(got["member_detail"][0]["partitions"]) == [0, 1, 2]

            # what the daemon does with a sensor's asset events: the check's history shows the evaluation
            instance.report_runless_asset_event(evaluation)
            [record] = instance.event_log_storage.get_asset_check_execution_history(MONGO_CHECK, limit=5)
            assert record.status.value == "SUCCEEDED"
            stored = record.event.dagster_event.event_specific_data
            assert stored.metadata["lag_messages"].value == 0 and stored.description == evaluation.description
    finally:
        assert stop(proc) == 0, log.read_text()[-2000:]


def produce_at(topic: str, items, timestamp_ms: int) -> int:
    """Produce (key, value) pairs with an explicit (CreateTime) Kafka timestamp."""
    producer = KafkaResource().producer()
    for key, value in items:
        producer.produce(topic, value=value, key=key, timestamp=timestamp_ms)
    assert producer.flush(30) == 0
    return len(items)


def test_old_unconsumed_messages_fail_the_age_part_and_thresholds_are_the_settings(pipeline, defs, kafka, monkeypatch):
    """A live member that consumes nothing (it never commits): 11 messages an hour old fail only the age part;
    USER_EVENTS_SINK_LAG_MAX_MESSAGES / _SECONDS move the verdict."""
    KafkaResource().ensure_topic(pipeline.topic, 3)
    produced_at = int(time.time() * 1000) - 3_600_000
    n = produce_at(pipeline.topic, records(11), produced_at)
    with holding_the_group(kafka.consumer(pipeline.group("mongo")), pipeline.topic):
        evaluation = evaluate(defs, "mongo_sink_lag_sensor", kafka)
        got = figures(evaluation)
        expected_age = (int(time.time() * 1000) - produced_at) / 1000
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert got["members"] == 1 and got["lag_messages"] == n
        assert [p.split(" ")[0:3] for p in got["problems"]] == [["oldest", "unconsumed", "message"]]
        assert expected_age - 30 <= got["oldest_age_seconds"] <= expected_age
        ages = [d["age_seconds"] for d in got["partitions"].values() if d["lag"]]
        assert ages and max(ages) == got["oldest_age_seconds"]
        assert json.dumps(got["partitions"])  # JSON detail

        monkeypatch.setenv("USER_EVENTS_SINK_LAG_MAX_SECONDS", "7200")
        monkeypatch.setenv("USER_EVENTS_SINK_LAG_MAX_MESSAGES", "10")
        evaluation = evaluate(defs, "mongo_sink_lag_sensor", kafka)
        assert figures(evaluation)["problems"] == ["lag 11 messages > 10"]
        assert (figures(evaluation)["max_messages"], figures(evaluation)["max_seconds"]) == (10, 7200.0)

        monkeypatch.setenv("USER_EVENTS_SINK_LAG_MAX_MESSAGES", "11")
        assert evaluate(defs, "mongo_sink_lag_sensor", kafka).passed


def test_kafka_unreachable_fails_the_check(defs):
    unreachable = KafkaResource(bootstrap_servers="127.0.0.1:1", topic="t_unreachable")
    evaluation = evaluate(defs, "s3_sink_lag_sensor", unreachable)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.description.startswith("cannot read consumer group user_events.t_unreachable.s3_sink")
