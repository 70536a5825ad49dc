"""Pure test of the S3 sink's exactly-once bookkeeping: random crashes, rotations and commits over an
in-memory object store (the real-store versions of these tests are in test_streaming_sinks.py)."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from user_events.storage.s3_layout import hour_prefix, start_offset_of
from user_events.streaming.s3_sink import S3Sink

pytestmark = pytest.mark.unit

UTC = UTC
TOPIC = "t_logic"


class MemoryS3:
    """The few S3 calls the sink makes, over a dict (pure-logic test double)."""

    def __init__(self):
        self.objects: dict[str, tuple[bytes, dict]] = {}
        self.puts = 0

    def put_object(self, Bucket, Key, Body, Metadata=None, **_):
        self.objects[Key] = (bytes(Body), dict(Metadata or {}))
        self.puts += 1

    def head_object(self, Bucket, Key):
        return {"Metadata": self.objects[Key][1]}

    def get_object(self, Bucket, Key):
        import io

        return {"Body": io.BytesIO(self.objects[Key][0])}

    def get_paginator(self, _name):
        store = self

        class P:
            def paginate(self, Bucket, Prefix):
                yield {"Contents": [{"Key": k} for k in sorted(store.objects) if k.startswith(Prefix)]}

        return P()


class Msg:
    def __init__(self, partition, offset, value):
        self._p, self._o, self._v = partition, offset, value

    def partition(self):
        return self._p

    def offset(self):
        return self._o

    def value(self):
        return self._v

    def topic(self):
        return TOPIC

    def error(self):
        return None


def make_log(rng: random.Random, partitions: int, per_partition: int) -> dict[int, list[Msg]]:
    """Messages whose hours interleave (late events) so buffers of several hours are open at once."""
    base = datetime(2019, 11, 1, tzinfo=UTC)
    log = {}
    for p in range(partitions):
        msgs = []
        for o in range(per_partition):
            hour = min(o // 40 + rng.choice([0, 0, 0, -1, -2]), 20)
            t = base + timedelta(hours=max(hour, 0), seconds=rng.randrange(3600))
            rec = {
                "event_time": t.strftime("%Y-%m-%d %H:%M:%S UTC"),
                "event_type": "view",
                "product_id": str(1000 + o),
                "category_id": "7",
                "category_code": "",
                "brand": "",
                "price": "1.00",
                "user_id": str(p * 100000 + o + 1),
                "user_session": f"s{p}-{o}",
            }
            msgs.append(Msg(p, o, json.dumps(rec).encode()))
        log[p] = msgs
    return log


def new_sink(store: MemoryS3, flush_records: int) -> S3Sink:
    sink = S3Sink(TOPIC, store, "bucket", rotate_seconds=5.0, flush_records=flush_records)
    sink.owned = set(range(3))
    sink.on_partitions_assigned([0, 1, 2])
    return sink


@pytest.mark.parametrize("seed", range(12))
def test_random_crashes_store_every_record_exactly_once(seed):
    rng = random.Random(seed)
    log = make_log(rng, partitions=3, per_partition=300)
    store = MemoryS3()
    committed = {p: 0 for p in log}
    flush_records = rng.choice([7, 25, 1000])
    for _run in range(40):
        sink = new_sink(store, flush_records)
        pos = dict(committed)
        clock = 0.0
        crashed = False
        for _step in range(rng.randrange(1, 30)):
            p = rng.randrange(3)
            batch = log[p][pos[p] : pos[p] + rng.randrange(1, 40)]
            if batch:
                sink.process(batch)
                pos[p] += len(batch)
            clock += rng.random() * 4
            if rng.random() < 0.3:
                sink.flush_due(clock + 1e9 if rng.random() < 0.5 else 0.0)  # rotation makes boundaries vary
            if rng.random() < 0.4:
                committed.update(sink.committable())
            if rng.random() < 0.15:
                crashed = True  # SIGKILL: buffers and uncommitted progress are gone
                break
        if not crashed:
            sink.flush_due(0.0, force=True)
            committed.update(sink.committable())
    # a final clean run drains everything
    sink = new_sink(store, flush_records)
    for p, msgs in log.items():
        for i in range(committed[p], len(msgs), 50):
            sink.process(msgs[i : i + 50])
    sink.flush_due(0.0, force=True)

    lines = Counter()
    for key, (body, meta) in store.objects.items():
        part = int(key.rsplit("+", 2)[1])
        recs = [json.loads(line) for line in body.splitlines()]
        offsets = [int(r["product_id"]) - 1000 for r in recs]
        assert (
            offsets == sorted(offsets) and offsets[0] == start_offset_of(key) and offsets[-1] == int(meta["end-offset"])
        )
        for r in recs:
            t = datetime.strptime(r["event_time"], "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
            assert key.startswith(hour_prefix(TOPIC, t.replace(minute=0, second=0)))  # right hour folder
            lines[(part, r["user_session"])] += 1
    expected = {(p, f"s{p}-{o}") for p in log for o in range(len(log[p]))}
    assert set(lines) == expected  # nothing lost
    assert max(lines.values()) == 1  # nothing twice
