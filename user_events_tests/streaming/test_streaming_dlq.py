"""DLQ exactly once (issue 11): a sink that dies between the DLQ write and the offset commit leaves one DLQ
record per poison message, not two. Real Kafka, MongoDB-wire server and SeaweedFS; the crash is injected
with USER_EVENTS_FAULT=after_dlq_write (the sink exits at once, like a SIGKILL, right after the DLQ write)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from user_events_tests.streaming.support import (
    GOOD_RECORD,
    committed_offsets,
    consume_all,
    encode,
    end_offsets,
    mongo_db,
    produce,
    s3_lines,
    start_cli,
)

POISON = [b"not json at all", json.dumps({**GOOD_RECORD, "price": "-1.00"}).encode()]


@pytest.mark.parametrize("sink", ["mongo", "s3"])
def test_crash_between_dlq_write_and_commit_leaves_one_dlq_record(pipeline, tmp_path, sink):
    p = pipeline
    good = [encode({**GOOD_RECORD, "user_session": f"s{i}", "user_id": str(i + 1)}) for i in range(40)]
    # poison in the middle of the stream, on the same partitions as good records (same keys)
    items = good[:20] + [(b"s1", POISON[0]), (b"s2", POISON[1])] + good[20:]
    produce(p.topic, items)
    args = ["sink", sink, "--until-idle", "3"] + (["--rotate-seconds", "1"] if sink == "s3" else [])
    crashed = start_cli(args, p.env(USER_EVENTS_FAULT="after_dlq_write"), tmp_path / "crash.log")
    assert crashed.wait(120) == 137, (tmp_path / "crash.log").read_text()[-2000:]  # it died at the fault point
    again = start_cli(args, p.env(), tmp_path / "again.log")
    assert again.wait(120) == 0, (tmp_path / "again.log").read_text()[-2000:]

    dlq = consume_all(p.dlq)  # read_committed (librdkafka's default), as any DLQ reader should
    got = Counter((m.value(), dict(m.headers())["source_offset"].decode()) for m in dlq)
    assert sorted(v for v, _ in got) == sorted(POISON)
    assert set(got.values()) == {1}, got  # each poison message once
    assert all(dict(m.headers())["sink"].decode() == p.group(sink) for m in dlq)
    assert committed_offsets(p.topic, p.group(sink)) == end_offsets(p.topic)
    if sink == "mongo":
        assert mongo_db(p.mongo_db).events.count_documents({}) == 40
    else:
        assert len(s3_lines(p.topic)) == 40
