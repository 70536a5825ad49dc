"""Recovery and isolation of the sinks (issue 11), against real Kafka, the MongoDB-wire server and SeaweedFS:

- a SIGKILLed sink that restarts (same instance) stores again within seconds (static group membership);
- `--until-idle S` exits 0 only once everything is stored, even when the restarted sink has to wait for a
  dead member's partitions; a sink that gets no partition at all exits non-zero naming the group's members;
- two pipelines on one cluster never rebalance each other.

Group names are the documented derivation (`user_events.<topic>.<sink>_sink` for a non-default topic),
written out here by hand, not computed with the sinks' code.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime

from user_events_tests.streaming.support import (
    GOOD_RECORD,
    cleanup_pipeline,
    committed_offsets,
    encode,
    end_offsets,
    make_pipeline,
    mongo_db,
    produce,
    start_cli,
    wait_assigned,
    wait_until,
)
from user_events_tests.streaming.test_streaming_sinks import (
    SINK_ARGS,
    assert_exactly_once,
    produce_poison,
    simulate_args,
    start_assigned_sinks,
)


def sink_env(p, instance: str, session_ms: int | None = None, **extra) -> dict:
    """The pipeline's environment with a sink instance id (static membership) and, optionally, a session
    timeout other than the test pipelines' 6 s."""
    if session_ms is not None:
        p.kafka_config.write_text(f"[consumer]\nsession.timeout.ms={session_ms}\nheartbeat.interval.ms=1000\n")
    return p.env(USER_EVENTS_SINK_INSTANCE_ID=instance, **extra)


def test_derived_groups_for_a_non_default_topic(pipeline, tmp_path):
    """Both sinks commit under `user_events.<topic>.mongo_sink` / `.s3_sink`; the contract's names stay the
    default topic's."""
    p = pipeline
    produce(p.topic, (encode({**GOOD_RECORD, "user_session": f"s{i}", "user_id": str(i + 1)}) for i in range(50)))
    procs = [start_cli(SINK_ARGS[s] + ["--until-idle", "3"], p.env(), tmp_path / f"{s}.log") for s in SINK_ARGS]
    for s, proc in zip(SINK_ARGS, procs, strict=False):
        assert proc.wait(120) == 0, (tmp_path / f"{s}.log").read_text()[-2000:]
    ends = end_offsets(p.topic)
    assert committed_offsets(p.topic, f"user_events.{p.topic}.mongo_sink") == ends
    assert committed_offsets(p.topic, f"user_events.{p.topic}.s3_sink") == ends
    assert set(committed_offsets(p.topic, "user_events.mongo_sink").values()) == {-1001}  # nothing in the old group


def test_restarted_sink_stores_again_within_seconds(pipeline, tmp_path):
    """SIGKILL the MongoDB sink mid-stream, restart it at once (same instance id) with Kafka's default 45 s
    session timeout: it stores again long before the dead session could have expired."""
    p = pipeline
    env = sink_env(p, "restart-me", session_ms=45000)
    sim = start_cli(simulate_args(8000, 400), p.env(), tmp_path / "simulate.log")
    first = start_cli(SINK_ARGS["mongo"], env, tmp_path / "mongo-0.log")
    db = mongo_db(p.mongo_db)
    wait_until(lambda: db.events.estimated_document_count() > 500, 90, "a first share of events")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    restarted_at, restarted_wall = time.monotonic(), datetime.now(UTC)
    second = start_cli(SINK_ARGS["mongo"], env, tmp_path / "mongo-1.log")
    # a document the restarted process inserted (not one the dead one had in flight)
    wait_until(
        lambda: db.events.find_one({"ingested_at": {"$gt": restarted_wall}}, {"_id": 1}) is not None,
        90,
        "the restarted sink to store",
        interval=0.5,
    )
    seconds = time.monotonic() - restarted_at
    print(f"SIGKILL -> restarted sink storing again: {seconds:.1f}s")
    # generous for a busy 2-core machine (the goal is <= 5 s), far below the 45 s session timeout
    assert seconds < 20, seconds
    assert sim.wait(60) == 0
    group = f"user_events.{p.topic}.mongo_sink"
    wait_until(lambda: committed_offsets(p.topic, group) == end_offsets(p.topic), 90, "caught up", interval=1.0)
    assert "revoked" not in (tmp_path / "mongo-1.log").read_text()  # it took its partitions back, no rebalance
    second.send_signal(signal.SIGTERM)
    assert second.wait(60) == 0


def test_until_idle_after_sigkill_exits_only_when_drained(pipeline, tmp_path):
    """The issue's scenario: both sinks SIGKILLed after about a third of a stream (with poison), then
    restarted as other instances with `--until-idle 10` while the dead members' sessions (60 s) still hold
    the partitions. Exit 0 must mean everything is stored, exactly once."""
    p = pipeline
    produce_poison(p)
    env_a = sink_env(p, "first", session_ms=60000)
    logs_a = {s: tmp_path / f"{s}-a.log" for s in SINK_ARGS}
    first = start_assigned_sinks(env_a, logs_a, 120)
    sim = start_cli(simulate_args(9000, 600), p.env(), tmp_path / "simulate.log")
    db = mongo_db(p.mongo_db)
    wait_until(lambda: db.events.estimated_document_count() > 3000, 120, "a third in MongoDB")
    for proc in first.values():
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert sim.poll() is None  # still publishing: the restarted sinks have a stream to drain
    env_b = sink_env(p, "second")
    second = {s: start_cli(SINK_ARGS[s] + ["--until-idle", "10"], env_b, tmp_path / f"{s}-b.log") for s in SINK_ARGS}
    for s, proc in second.items():
        assert proc.wait(240) == 0, (tmp_path / f"{s}-b.log").read_text()[-3000:]
    assert sim.wait(60) == 0
    summary = assert_exactly_once(p)
    assert summary["records"] == 9000


def test_until_idle_without_an_assignment_fails_naming_the_members(pipeline, tmp_path):
    """A one-partition topic held by a running sink: a second sink with --until-idle gets nothing, so it must
    not report "idle" (exit 0) but fail, naming the group and the member that holds the partition."""
    p = pipeline
    produce(p.topic, [encode(GOOD_RECORD)], partitions=1)
    holder = start_cli(SINK_ARGS["mongo"], sink_env(p, "holder"), tmp_path / "holder.log")
    wait_assigned(tmp_path / "holder.log", 60, "the holder's assignment")
    log = tmp_path / "waiter.log"
    waiter = start_cli(
        SINK_ARGS["mongo"] + ["--until-idle", "3", "--assignment-timeout", "8"], sink_env(p, "waiter"), log
    )
    rc = waiter.wait(90)
    text = log.read_text()
    assert rc != 0, text[-2000:]
    assert f"user_events.{p.topic}.mongo_sink" in text and "holder" in text, text[-2000:]
    holder.send_signal(signal.SIGTERM)
    assert holder.wait(60) == 0


def test_two_pipelines_on_one_cluster_never_rebalance_each_other(pipeline, tmp_path):
    """Pipeline A streams while pipeline B's MongoDB sink is started, SIGKILLed and started again: A's sink
    keeps its first assignment (no revoke, no second assign) and keeps storing throughout."""
    a = pipeline
    (tmp_path / "b").mkdir(exist_ok=True)
    b = make_pipeline(tmp_path / "b", "other")
    try:
        log_a = tmp_path / "a.log"
        sink_a = start_cli(SINK_ARGS["mongo"], a.env(), log_a)
        wait_assigned(log_a, 60, "A's assignment", "0, 1, 2")
        sim = start_cli(simulate_args(40000, 500), a.env(), tmp_path / "simulate.log")  # 80 s: outlasts the window
        db = mongo_db(a.mongo_db)
        wait_until(lambda: db.events.estimated_document_count() > 300, 60, "A storing")
        samples: list[int] = []

        def sample(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                samples.append(db.events.estimated_document_count())
                time.sleep(1.0)

        produce(b.topic, [encode(GOOD_RECORD)])
        sink_b = start_cli(SINK_ARGS["mongo"], b.env(), tmp_path / "b-0.log")
        wait_assigned(tmp_path / "b-0.log", 60, "B's assignment")
        sample(2)
        sink_b.send_signal(signal.SIGKILL)
        sink_b.wait(10)
        sink_b = start_cli(SINK_ARGS["mongo"], b.env(), tmp_path / "b-1.log")
        wait_assigned(tmp_path / "b-1.log", 60, "B's second assignment")
        sample(8)  # across B's restart and past the killed member's 6 s session
        assert sim.poll() is None, "the stream ended before the observation window did"
        text = log_a.read_text()
        assert text.count("assigned partitions") == 1 and "revoked" not in text, text[-3000:]
        assert all(later > earlier for earlier, later in zip(samples, samples[1:], strict=False)), (
            samples
        )  # never paused
        sim.send_signal(signal.SIGTERM)
        sink_b.send_signal(signal.SIGTERM)
        sink_a.send_signal(signal.SIGTERM)
        assert sink_a.wait(60) == 0 and sink_b.wait(60) == 0
        sim.wait(60)
    finally:
        cleanup_pipeline(b)
