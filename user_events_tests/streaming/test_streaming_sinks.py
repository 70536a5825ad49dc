"""The Kafka sinks against real Kafka, the MongoDB-wire server (SecantusDB) and SeaweedFS: exactly once
through SIGKILLs, rebalances and store outages; poison to the DLQ; the REES46 sample end to end.

Expected values come from what is in the topic (read back with a plain consumer) and pandas, never from the
sinks' own code.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from user_events.schema import RAW_FIELDS
from user_events.storage.watermark import hours_complete_before, read_watermark
from user_events_tests.streaming.support import (
    GOOD_RECORD,
    ToggleProxy,
    committed_offsets,
    consume_all,
    encode,
    end_offsets,
    expected_event_ids,
    expected_minute_counts,
    hour_folder,
    mongo_db,
    mongo_minute_counts,
    produce,
    records_frame,
    s3,
    s3_lines,
    start_cli,
    stop,
    wait_assigned,
    wait_until,
)

# The sinks' groups on a test's own topic: `user_events.<topic>.<sink>_sink` (docs/streaming.md).
# Messages the sinks must reject, with the reason each one must carry.
GOOD = GOOD_RECORD
POISON = [
    (b"this is not json", "not_json"),
    (b'["a", "list"]', "not_a_json_object"),
    (json.dumps({**GOOD, "price": "-2.00"}).encode(), "price_negative"),
    (json.dumps({**GOOD, "event_type": "click"}).encode(), "event_type_invalid"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "user_id"}).encode(), "wrong_field_count"),
]


def simulate_args(count: int, rate: float, start: str = "2019-11-01T00:59:57Z", seed: int = 11) -> list[str]:
    return [
        "simulate",
        "--count",
        str(count),
        "--rate",
        str(rate),
        "--time-mode",
        "replay",
        "--start",
        start,
        "--seed",
        str(seed),
    ]


SINK_ARGS = {
    "mongo": ["sink", "mongo"],
    # small files and a 1 s rotation: many objects, boundaries that differ from run to run
    "s3": ["sink", "s3", "--flush-records", "150", "--rotate-seconds", "1"],
}


def topic_records(topic: str) -> tuple[list[dict], list]:
    """(valid records as published, poison messages) read back from the topic."""
    poison_values = {v for v, _ in POISON}
    valid, poison = [], []
    for m in consume_all(topic):
        (poison if m.value() in poison_values else valid).append(m)
    return [json.loads(m.value()) for m in valid], poison


def start_assigned_sinks(env: dict, logs: dict[str, Path], timeout: float) -> dict[str, subprocess.Popen]:
    """Both sinks as `user-events sink` processes (logs: sink -> log file), once each has its partitions."""
    sinks = {s: start_cli(SINK_ARGS[s], env, logs[s]) for s in SINK_ARGS}
    for s in SINK_ARGS:
        wait_assigned(logs[s], timeout, f"{s} assignment")
    return sinks


def assert_exactly_once(p, expect_poison: bool = True) -> dict:
    records, poison = topic_records(p.topic)
    df = records_frame(records)
    # MongoDB: one document per distinct event, dashboard counts equal to pandas over the records
    db = mongo_db(p.mongo_db)
    ids = expected_event_ids(df)
    stored = [d["_id"] for d in db.events.find({}, {"_id": 1})]
    assert len(stored) == len(set(stored)) == len(ids)
    assert set(stored) == ids
    assert mongo_minute_counts(db) == expected_minute_counts(df)
    # S3: every valid message exactly once over all objects, in its hour's folder
    lines = s3_lines(p.topic)
    got = Counter(json.dumps(r, sort_keys=True) for _, r in lines)
    want = Counter(json.dumps(r, sort_keys=True) for r in records)
    assert sum(got.values()) == sum(want.values())
    assert got == want
    assert all(hour_folder(r["event_time"]) in key for key, r in lines)
    # both groups committed everything
    ends = end_offsets(p.topic)
    assert committed_offsets(p.topic, p.group("mongo")) == ends
    assert committed_offsets(p.topic, p.group("s3")) == ends
    if expect_poison:
        assert len(poison) == len(POISON)
        assert_dlq(p)
    return {"records": len(records), "distinct": len(ids), "objects": len({k for k, _ in lines})}


def assert_dlq(p) -> None:
    """Every poison message is in the DLQ, once per sink at least, with its reason and origin."""
    reasons = dict(POISON)
    seen = set()
    for m in consume_all(p.dlq):
        h = {k: v.decode() for k, v in m.headers()}
        assert m.value() in reasons, m.value()
        assert h["error"].split(":")[0] == reasons[m.value()], (h["error"], reasons[m.value()])
        assert h["source_topic"] == p.topic and int(h["source_offset"]) >= 0
        seen.add((h["sink"], m.value()))
    assert seen == {(g, v) for g in (p.group("mongo"), p.group("s3")) for v, _ in POISON}


def all_committed(p) -> bool:
    ends = end_offsets(p.topic)
    return committed_offsets(p.topic, p.group("mongo")) == ends and committed_offsets(p.topic, p.group("s3")) == ends


def produce_poison(p) -> None:
    produce(p.topic, ((None, v) for v, _ in POISON))


def run_until_idle(p, tmp_path, idle: float = 4.0) -> None:
    procs = [
        start_cli(SINK_ARGS[s] + ["--until-idle", str(idle)], p.env(), tmp_path / f"{s}-final.log") for s in SINK_ARGS
    ]
    for proc in procs:
        assert proc.wait(120) == 0


def test_sinks_exactly_once_across_sigkills(pipeline, tmp_path):
    """SIGKILL each sink at random moments while 6,000 events stream in (each time after it got its
    partitions, so it had buffered, written and committed some); restart; nothing lost or doubled."""
    p = pipeline
    # Static membership: a restarted sink takes its partitions back at once instead of waiting for the
    # killed member's session to time out (the recovery path - committed offsets, S3 look-up - is the same).
    p.kafka_config.write_text(p.kafka_config.read_text() + "group.instance.id=sigkill-test\n")
    rng = random.Random(20191101)
    produce_poison(p)
    sim = start_cli(simulate_args(6000, 600), p.env(), tmp_path / "simulate.log")
    logs = {s: [] for s in SINK_ARGS}

    def start(s):
        logs[s].append(tmp_path / f"{s}-{len(logs[s])}.log")
        return start_cli(SINK_ARGS[s], p.env(), logs[s][-1])

    sinks = {s: start(s) for s in SINK_ARGS}
    for _round in range(3):
        for s in SINK_ARGS:
            wait_assigned(logs[s][-1], 60, f"{s} assignment")
        time.sleep(rng.uniform(0.5, 3.5))
        for s in SINK_ARGS:
            sinks[s].send_signal(signal.SIGKILL)
            sinks[s].wait(10)
            sinks[s] = start(s)
    assert sim.wait(60) == 0
    for proc in sinks.values():
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    # the killed incarnations left partial results behind: the final runs recover from them
    assert mongo_db(p.mongo_db).events.estimated_document_count() > 0 and s3_lines(p.topic)
    run_until_idle(p, tmp_path)
    summary = assert_exactly_once(p)
    assert summary["records"] == 6000


def test_sinks_rebalance_between_two_processes(pipeline, tmp_path):
    """A second process joins each group mid-stream, then the first leaves (SIGTERM): exactly once."""
    p = pipeline
    produce_poison(p)
    log = {(s, n): tmp_path / f"{s}-{n}.log" for s in SINK_ARGS for n in "ab"}
    # Dynamic membership: a process that stops leaves its group at once (a static member's partitions would
    # wait for its session timeout, for it to come back); two processes on one host need distinct ids anyway.
    env = p.env(USER_EVENTS_SINK_INSTANCE_ID="none")
    first = {s: start_cli(SINK_ARGS[s], env, log[s, "a"]) for s in SINK_ARGS}
    for s in SINK_ARGS:
        wait_assigned(log[s, "a"], 60, f"{s} a assignment", "0, 1, 2")
    # 75 s of stream: the second processes must join while it still runs (a loaded machine took up to a minute
    # to start one)
    sim = start_cli(simulate_args(15000, 200), p.env(), tmp_path / "simulate.log")
    db = mongo_db(p.mongo_db)
    wait_until(lambda: db.events.estimated_document_count() > 300, 60, "a first share of events")
    second = {s: start_cli(SINK_ARGS[s] + ["--until-idle", "5"], env, log[s, "b"]) for s in SINK_ARGS}
    for s in SINK_ARGS:  # the group split the partitions between the two processes
        wait_assigned(log[s, "b"], 60, f"{s} b assignment")
        assert "revoked" in log[s, "a"].read_text()
    time.sleep(1.0)
    assert sim.poll() is None  # still streaming while the first processes leave
    for s, proc in first.items():
        assert stop(proc, signal.SIGTERM) == 0, log[s, "a"].read_text()[-3000:]
    assert sim.wait(120) == 0
    for s, proc in second.items():
        assert proc.wait(120) == 0, log[s, "b"].read_text()[-3000:]
    assert_exactly_once(p)


def _via_proxy(url: str, port: int) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)
    netloc = (host[0] + "@" if len(host) == 2 else "") + f"127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def test_sinks_survive_store_outage(pipeline, tmp_path):
    """MongoDB and S3 unreachable for 12 s mid-stream (connections reset, new ones refused): nothing lost,
    nothing doubled. (pymongo itself waits out up to ~20 s: server selection plus one retryable-write
    retry; boto3 gives up sooner, so the S3 sink's own backoff is exercised.)"""
    import os

    p = pipeline
    mongo_proxy = ToggleProxy(*_target(os.environ["USER_EVENTS_MONGO_URI"]))
    s3_proxy = ToggleProxy(*_target(os.environ["USER_EVENTS_S3_ENDPOINT"]))
    env = p.env(
        USER_EVENTS_MONGO_URI=_via_proxy(os.environ["USER_EVENTS_MONGO_URI"], mongo_proxy.port),
        USER_EVENTS_S3_ENDPOINT=_via_proxy(os.environ["USER_EVENTS_S3_ENDPOINT"], s3_proxy.port),
    )
    logs = {s: tmp_path / f"{s}.log" for s in SINK_ARGS}
    try:
        sinks = start_assigned_sinks(env, logs, 60)
        sim = start_cli(simulate_args(4000, 400), p.env(), tmp_path / "simulate.log")
        db = mongo_db(p.mongo_db)
        wait_until(lambda: db.events.estimated_document_count() > 200, 60, "first events stored")
        mongo_proxy.down()
        s3_proxy.down()
        time.sleep(12.0)
        stored_during_outage = db.events.estimated_document_count()
        mongo_proxy.up()
        s3_proxy.up()
        assert sim.wait(60) == 0
        wait_until(lambda: all_committed(p), 180, "both sinks caught up")
        for s, proc in sinks.items():
            assert stop(proc, signal.SIGTERM) == 0, logs[s].read_text()[-3000:]
    finally:
        mongo_proxy.close()
        s3_proxy.close()
    assert stored_during_outage < 4000  # the outage really hit the stream
    assert "retrying in" in logs["s3"].read_text()  # S3 errors surfaced and were retried with backoff
    assert_exactly_once(p, expect_poison=False)


def test_rees46_sample_replay_to_s3_and_mongo(pipeline, tmp_path, rees46_sample):
    """The real-shaped sample (plus three bad rows) through Kafka: S3 holds exactly its valid rows under hour
    00 of 2019-11-01, MongoDB its distinct events, the DLQ the bad rows."""
    p = pipeline
    bad_rows = [
        "2019-11-01 00:30:00 UTC,view,1,2,,,-3.00,4,s-bad-price",
        "2019-11-01 00:30:00 UTC,click,1,2,,,3.00,4,s-bad-type",
        "2019-11-01 00:30:00 UTC,view,1,2,,,3.00,4",
    ]
    csv_path = tmp_path / "sample_plus_bad.csv"
    csv_path.write_text(rees46_sample.read_text().rstrip("\n") + "\n" + "\n".join(bad_rows) + "\n")
    sim = start_cli(
        ["simulate", "--from-csv", str(csv_path), "--time-mode", "replay", "--rate", "0"], p.env(), tmp_path / "sim.log"
    )
    assert sim.wait(120) == 0, (tmp_path / "sim.log").read_text()[-2000:]
    run_until_idle(p, tmp_path, idle=3.0)

    sample = pd.read_csv(rees46_sample, dtype=str, keep_default_na=False)
    valid = sample[
        sample.event_type.isin(["view", "cart", "remove_from_cart", "purchase"])
        & pd.to_numeric(sample.price, errors="coerce").ge(0)
        & pd.to_datetime(sample.event_time, format="%Y-%m-%d %H:%M:%S UTC", errors="coerce").notna()
    ]
    for c in ("product_id", "category_id", "user_id"):
        valid = valid[pd.to_numeric(valid[c], errors="coerce").gt(0)]
    assert len(valid) == len(sample)  # the sample is clean; the bad rows are ours
    lines = s3_lines(p.topic)
    want = Counter(
        json.dumps(dict(zip(RAW_FIELDS, row, strict=False)), sort_keys=True)
        for row in valid[list(RAW_FIELDS)].itertuples(index=False)
    )
    got = Counter(json.dumps(r, sort_keys=True) for _, r in lines)
    assert got == want
    assert {k.split(f"topics/{p.topic}/")[1].rsplit("/", 1)[0] for k, _ in lines} == {
        "year=2019/month=11/day=01/hour=00"
    }

    db = mongo_db(p.mongo_db)
    assert db.events.count_documents({}) == len(expected_event_ids(valid))
    assert mongo_minute_counts(db) == expected_minute_counts(valid)

    # the watermark: every partition caught up, nothing buffered, the newest event (00:56) -> hour 00 still open
    client, bucket = s3()
    wm = read_watermark(client, bucket, p.topic)
    assert wm["partitions_total"] == 3 and set(wm["partitions"]) == {0, 1, 2}
    assert all(
        d["pending_records"] == 0 and d["committed_offset"] == d["log_end_offset"] for d in wm["partitions"].values()
    )
    newest = datetime.strptime(valid.event_time.max(), "%Y-%m-%d %H:%M:%S UTC")
    assert max(d["max_event_time"] for d in wm["partitions"].values()) == newest.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert hours_complete_before(wm, timedelta(0)) == datetime(2019, 11, 1, tzinfo=UTC)

    dlq = consume_all(p.dlq)
    errors = Counter(
        (dict(m.headers())["sink"].decode(), dict(m.headers())["error"].decode().split(":")[0]) for m in dlq
    )
    assert errors == {
        (group, code): 1
        for group in (p.group("mongo"), p.group("s3"))
        for code in ("price_negative", "event_type_invalid", "wrong_field_count")
    }


def test_sink_sigterm_flushes_and_commits(pipeline, tmp_path):
    """SIGTERM with buffered S3 records (long rotation): they are written and committed, exit 0."""
    p = pipeline
    produce(p.topic, (encode({**GOOD, "user_session": f"s{i}", "user_id": str(i + 1)}) for i in range(300)))
    proc = start_cli(["sink", "s3", "--rotate-seconds", "3600"], p.env(), tmp_path / "s3.log")
    wait_assigned(tmp_path / "s3.log", 60, "assignment")
    time.sleep(2.0)
    assert s3_lines(p.topic) == []  # everything is still buffered (300 < 1000 records, no rotation)
    assert stop(proc, signal.SIGTERM) == 0
    assert len(s3_lines(p.topic)) == 300
    assert committed_offsets(p.topic, p.group("s3")) == end_offsets(p.topic)


def test_minute_buckets_count_each_offset_once(pipeline):
    """events_per_minute updates: replays, partial overlaps and a stale concurrent writer never add an
    offset twice (real MongoDB-wire server)."""
    from user_events.streaming.mongo_sink import apply_bucket_deltas

    coll = mongo_db(pipeline.mongo_db)["events_per_minute"]
    meta = {"b": (datetime(2019, 11, 1, tzinfo=UTC), "view")}

    def apply(deltas):
        apply_bucket_deltas(coll, deltas, dict(meta))
        d = coll.find_one({"_id": "b"})
        return d["count"], d["price_cents"], d["applied"]

    assert apply({"b": {0: {1: 100, 2: 100}}}) == (2, 200, {"p0": 2})
    assert apply({"b": {0: {2: 100, 3: 100}, 1: {7: 5}}}) == (4, 305, {"p0": 3, "p1": 7})  # offset 2 again: skipped
    assert apply({"b": {0: {1: 100, 2: 100, 3: 100}}}) == (4, 305, {"p0": 3, "p1": 7})  # a full replay adds nothing
    assert apply({"b": {0: {4: 1}, 1: {6: 9, 8: 10}}}) == (6, 316, {"p0": 4, "p1": 8})  # p1 offset 6 < applied 7
