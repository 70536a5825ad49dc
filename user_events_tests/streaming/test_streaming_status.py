"""Lag and delay made visible (issue 11): the `sink_status` documents and `sink_delay_per_minute`, against
real Kafka, the MongoDB-wire server and SeaweedFS. Expected lag = end offset − committed offset, both read
with plain Kafka clients; expected delays recomputed with pandas from the stored documents."""

from __future__ import annotations

import signal

import pandas as pd

from user_events_tests.streaming.support import (
    GOOD_RECORD,
    committed_offsets,
    encode,
    end_offsets,
    mongo_db,
    produce,
    start_cli,
    wait_until,
)


def records(n: int, start: int = 0):
    return (encode({**GOOD_RECORD, "user_session": f"s{i}", "user_id": str(i + 1)}) for i in range(start, start + n))


def test_s3_sink_status_reports_lag_as_end_minus_committed(pipeline, tmp_path):
    """300 records stored and committed by a first run; 200 more that a second run only buffers (1 h rotation):
    its status document must show lag 200 = end − committed per partition, then 0 once it stopped."""
    p = pipeline
    env = p.env(USER_EVENTS_SINK_INSTANCE_ID="status-test")
    produce(p.topic, records(300))
    first = start_cli(["sink", "s3", "--rotate-seconds", "1", "--until-idle", "3"], env, tmp_path / "s3-0.log")
    assert first.wait(120) == 0, (tmp_path / "s3-0.log").read_text()[-2000:]
    produce(p.topic, records(200, start=300))
    ends = end_offsets(p.topic)
    committed = committed_offsets(p.topic, p.group("s3"))
    assert sum(ends.values()) - sum(committed.values()) == 200  # the scenario: exactly the new records are uncommitted

    proc = start_cli(["sink", "s3", "--rotate-seconds", "3600", "--progress-seconds", "1"], env, tmp_path / "s3-1.log")
    status = mongo_db(p.mongo_db).sink_status
    doc_id = f"{p.group('s3')}|status-test"

    def current():
        return status.find_one({"_id": doc_id, "state": "running", "partitions.2": {"$exists": True}})

    try:
        wait_until(
            lambda: current() is not None and (tmp_path / "s3-1.log").read_text().count("progress:") >= 2,
            120,
            "a status document",
        )
        doc = current()
        assert (
            doc["sink"] == "s3"
            and doc["topic"] == p.topic
            and doc["group"] == p.group("s3")
            and doc["instance_id"] == "status-test"
        )
        by_partition = {d["partition"]: d for d in doc["partitions"]}
        assert {q: d["end_offset"] for q, d in by_partition.items()} == ends
        assert (
            {q: d["committed"] for q, d in by_partition.items()}
            == committed_offsets(p.topic, p.group("s3"))
            == committed
        )
        assert all(d["lag"] == ends[q] - committed[q] for q, d in by_partition.items())
        assert doc["lag"] == 200
        assert "lag=200" in (tmp_path / "s3-1.log").read_text()  # the progress line says it too
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    final = status.find_one({"_id": doc_id})
    assert final["state"] == "stopped" and final["lag"] == 0 and final["last_store_at"] is not None
    assert (
        {d["partition"]: d["committed"] for d in final["partitions"]}
        == ends
        == committed_offsets(p.topic, p.group("s3"))
    )


def test_mongo_sink_status_and_delay_per_minute(pipeline, tmp_path):
    """After a drained run: the status document says lag 0 with committed = end, and `sink_delay_per_minute`
    holds the count, p50, p95 and max of ingested_at − kafka_ts per minute of ingested_at, as pandas computes
    them from the stored documents."""
    p = pipeline
    produce(p.topic, records(1500))
    proc = start_cli(
        ["sink", "mongo", "--until-idle", "3"], p.env(USER_EVENTS_SINK_INSTANCE_ID="m1"), tmp_path / "mongo.log"
    )
    assert proc.wait(120) == 0, (tmp_path / "mongo.log").read_text()[-2000:]
    db = mongo_db(p.mongo_db)
    doc = db.sink_status.find_one({"_id": f"{p.group('mongo')}|m1"})
    ends = end_offsets(p.topic)
    assert doc["state"] == "stopped" and doc["lag"] == 0 and doc["last_store_at"] is not None
    assert {d["partition"]: (d["end_offset"], d["committed"], d["lag"]) for d in doc["partitions"]} == {
        q: (e, e, 0) for q, e in ends.items()
    }

    events = pd.DataFrame(list(db.events.find({}, {"ingested_at": 1, "kafka_ts": 1})))
    events["delay_ms"] = (events.ingested_at - events.kafka_ts).dt.total_seconds() * 1000
    events["minute"] = events.ingested_at.dt.floor("min")
    want = events.groupby("minute").delay_ms.agg(
        count="size", p50=lambda s: s.quantile(0.5), p95=lambda s: s.quantile(0.95), max="max"
    )
    got = {d["minute"]: d for d in db.sink_delay_per_minute.find()}
    assert {m.to_pydatetime() for m in want.index} == set(got)
    for minute, row in want.iterrows():
        d = got[minute.to_pydatetime()]
        assert d["_id"] == f"{minute:%Y-%m-%dT%H:%M}Z|mongo" and d["sink"] == "mongo" and d["count"] == row["count"]
        # the sink measures with microseconds, BSON dates keep milliseconds: 1 ms tolerance
        for field, col in (("p50_ms", "p50"), ("p95_ms", "p95"), ("max_ms", "max")):
            assert abs(d[field] - row[col]) <= 1.0, (field, d[field], row[col])
