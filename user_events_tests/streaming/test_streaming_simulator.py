"""`user-events simulate` against real Kafka: message format, keys, time modes, CSV replay, failures."""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pandas as pd

from user_events.schema import RAW_FIELDS
from user_events_tests.streaming.support import consume_all, kafka, start_cli

RAW_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\Z")


def run_simulate(p, tmp_path, *args: str) -> tuple[int, dict]:
    proc = start_cli(["simulate", *args], p.env(), tmp_path / "sim.log")
    code = proc.wait(120)
    lines = [line for line in (tmp_path / "sim.log").read_text().splitlines() if line.startswith("{")]
    return code, (json.loads(lines[-1]) if lines else {})


# 3,000 generated events of a fixed seed, as fast as possible, with their own times from 10:00
SEEDED_REPLAY = (
    "--count",
    "3000",
    "--rate",
    "0",
    "--time-mode",
    "replay",
    "--start",
    "2019-11-01T10:00:00Z",
    "--seed",
    "5",
)


def test_generated_events_in_replay_mode(pipeline, tmp_path):
    code, summary = run_simulate(pipeline, tmp_path, *SEEDED_REPLAY)
    assert code == 0 and summary["produced"] == summary["delivered"] == 3000 and summary["failed"] == 0
    msgs = consume_all(pipeline.topic)
    assert len(msgs) == 3000
    assert {m.partition() for m in msgs} == {0, 1, 2}  # default 3 partitions, keys spread
    df = pd.DataFrame([json.loads(m.value()) for m in msgs])
    assert list(df.columns) == list(RAW_FIELDS)
    assert all(isinstance(v, str) for v in df.to_numpy().ravel())
    assert df.event_time.map(lambda t: bool(RAW_TIME.match(t))).all()
    times = pd.to_datetime(df.event_time, format="%Y-%m-%d %H:%M:%S UTC", utc=True)
    assert times.min() >= pd.Timestamp("2019-11-01T10:00:00Z") and times.max() < pd.Timestamp("2019-11-01T10:00:02Z")
    assert set(df.event_type) <= {"view", "cart", "remove_from_cart", "purchase"} and (df.event_type == "view").any()
    assert (pd.to_numeric(df.price) >= 0).all() and (pd.to_numeric(df.user_id) > 0).all()
    # key = user_session (none when empty), and a session's events keep their order
    by_key = defaultdict(list)
    for m in msgs:
        rec = json.loads(m.value())
        assert m.key() == (rec["user_session"].encode() if rec["user_session"] else None)
        by_key[m.key()].append((m.partition(), m.offset(), rec["event_time"]))
    for key, items in by_key.items():
        if key is None:
            continue
        assert len({p for p, _, _ in items}) == 1
        assert [t for _, _, t in sorted(items)] == sorted(t for _, _, t in items)
    # same seed, same events
    code, _ = run_simulate(pipeline, tmp_path, *SEEDED_REPLAY)
    again = consume_all(pipeline.topic)
    assert Counter(m.value() for m in again) == Counter({v: 2 * n for v, n in Counter(m.value() for m in msgs).items()})


def test_live_mode_restamps_with_publication_time(pipeline, tmp_path):
    before = datetime.now(UTC).replace(microsecond=0)
    code, summary = run_simulate(
        pipeline, tmp_path, "--count", "500", "--rate", "2000", "--time-mode", "live", "--seed", "9"
    )
    after = datetime.now(UTC)
    assert code == 0 and summary["delivered"] == 500
    times = [
        datetime.strptime(json.loads(m.value())["event_time"], "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
        for m in consume_all(pipeline.topic)
    ]
    assert len(times) == 500 and all(before <= t <= after for t in times)


def test_csv_replay_publishes_the_rows(pipeline, tmp_path, rees46_sample):
    code, summary = run_simulate(
        pipeline, tmp_path, "--from-csv", str(rees46_sample), "--count", "1000", "--time-mode", "replay", "--rate", "0"
    )
    assert code == 0 and summary["delivered"] == 1000
    rows = pd.read_csv(rees46_sample, dtype=str, keep_default_na=False, nrows=1000)
    want = Counter(json.dumps(r, sort_keys=True) for r in rows.to_dict("records"))
    got = Counter(json.dumps(json.loads(m.value()), sort_keys=True) for m in consume_all(pipeline.topic))
    assert got == want


def test_duration_bounds_the_run(pipeline, tmp_path):
    started = time.monotonic()
    code, summary = run_simulate(pipeline, tmp_path, "--duration", "2", "--rate", "500", "--seed", "3")
    assert code == 0
    assert 300 <= summary["produced"] <= 1000 and summary["failed"] == 0
    assert time.monotonic() - started < 60


def test_failed_deliveries_are_counted_and_fail_the_command(pipeline, tmp_path):
    # The broker rejects every message: the topic only accepts record batches of at most 64 bytes.
    kafka().ensure_topic(pipeline.topic, 1, config={"max.message.bytes": "64"})
    code, summary = run_simulate(pipeline, tmp_path, "--count", "50", "--rate", "0", "--seed", "3")
    assert code == 1
    assert summary["produced"] == 50 and summary["failed"] == 50 and summary["delivered"] == 0
    assert "failed" in (tmp_path / "sim.log").read_text()
