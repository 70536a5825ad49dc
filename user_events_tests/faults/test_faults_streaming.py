"""A service dies under the streaming workload and comes back: nothing the producer had acknowledged is lost
or stored twice, and nobody restarts the sinks (issue 28's matrix: the streaming workload's cells).

Both sinks run as plain `user-events sink` processes and the simulator publishes; one service's process group
(the Kafka broker, the MongoDB-wire server or the S3 store) is, mid-stream, either SIGKILLed and brought back
10 s later by `python -m user_events.devservices up NAME` (same ports, same data), or stalled: SIGSTOP for 20 s,
then SIGCONT (a hung server, or a network partition). The simulator must still deliver
everything, the sink that depends on the service must store again within 10 s of its return, and MongoDB and
S3 must hold every event of the topic exactly once, with no empty object in S3.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from datetime import UTC, datetime

import pytest

from user_events_tests.faults.support import FAULTS, devservices_up, service_group
from user_events_tests.streaming.support import (
    committed_offsets,
    end_offsets,
    mongo_db,
    s3,
    start_cli,
    stop,
    wait_until,
)
from user_events_tests.streaming.test_streaming_sinks import SINK_ARGS, assert_exactly_once, simulate_args

pytestmark = pytest.mark.faults
EVENTS = 6000
# the sink whose stores show that work resumed after the service's return
WATCHED_SINK = {"kafka": "mongo", "mongo": "mongo", "s3": "s3"}


def s3_objects(topic: str) -> list[dict]:
    client, bucket = s3()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"topics/{topic}/")
    return [o for page in pages for o in page.get("Contents", [])]


def stored_since(p, sink: str, since: datetime) -> bool:
    if sink == "mongo":
        return mongo_db(p.mongo_db).events.find_one({"ingested_at": {"$gt": since}}, {"_id": 1}) is not None
    return any(o["LastModified"] > since for o in s3_objects(p.topic))


@pytest.fixture
def service_back_up(request):
    yield
    service = request.node.callspec.params["service"]
    with contextlib.suppress(OSError):
        os.killpg(service_group(service), signal.SIGCONT)
    devservices_up(service)  # the next tests find it running, whatever happened


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("service", ["kafka", "mongo", "s3"])
def test_a_service_failing_mid_stream_loses_and_duplicates_nothing(service, fault, pipeline, tmp_path, service_back_up):
    p = pipeline
    sinks = {s: start_cli(SINK_ARGS[s], p.env(), tmp_path / f"{s}.log") for s in SINK_ARGS}
    sim = start_cli(simulate_args(EVENTS, 200), p.env(), tmp_path / "simulate.log")
    db = mongo_db(p.mongo_db)
    try:
        wait_until(lambda: db.events.estimated_document_count() > 1000, 120, "a first share of events stored")
        FAULTS[fault](service)
        back_at, back_wall = time.monotonic(), datetime.now(UTC)
        watched = WATCHED_SINK[service]
        wait_until(lambda: stored_since(p, watched, back_wall), 60, f"the {watched} sink to store again", 0.2)
        resumed = time.monotonic() - back_at
        print(f"{service} {fault}: back -> {watched} sink storing again: {resumed:.1f}s")
        assert resumed <= 10, resumed
        assert sim.wait(180) == 0, (tmp_path / "simulate.log").read_text()[-2000:]

        def drained() -> bool:
            ends = end_offsets(p.topic)
            return all(committed_offsets(p.topic, p.group(s)) == ends for s in SINK_ARGS)

        wait_until(drained, 180, "both sinks to commit the whole topic", interval=1.0)
        for s, proc in sinks.items():
            assert proc.poll() is None, f"the {s} sink exited: " + (tmp_path / f"{s}.log").read_text()[-2000:]
    finally:
        for proc in sinks.values():
            stop(proc)
    counts = assert_exactly_once(p, expect_poison=False)
    assert counts["records"] == EVENTS, counts  # every message the simulator sent, once: its producer is idempotent
    assert all(o["Size"] > 0 for o in s3_objects(p.topic)), "an empty object stayed in S3"
