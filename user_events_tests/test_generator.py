"""The dataset generator (seeded, realistic, dirty on purpose) and `user-events generate`."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest

from user_events.generator import generate_events, raw_row, write_csv
from user_events.ingest.inputs import resolve_inputs
from user_events.schema import RAW_FIELDS, RAW_HEADER

pytestmark = pytest.mark.unit


def test_generate_events_is_seeded_time_ordered_and_exact():
    a = list(generate_events(seed=3, n_events=5_000))
    b = list(generate_events(seed=3, n_events=5_000))
    assert a == b and len(a) == 5_000
    assert list(generate_events(seed=4, n_events=50)) != a[:50]
    times = [e["event_time"] for e in a]
    assert times == sorted(times)
    start = datetime(2019, 11, 1, tzinfo=UTC)
    assert start <= times[0] and times[-1] < start + timedelta(days=1)
    assert set(a[0]) == set(RAW_FIELDS)
    assert {e["event_type"] for e in a} == {"view", "cart", "remove_from_cart", "purchase"}


def test_session_model_is_realistic():
    events = list(generate_events(seed=11, n_events=60_000))
    n = len(events)
    share = lambda pred: sum(1 for e in events if pred(e)) / n  # noqa: E731
    assert 0.13 <= share(lambda e: e["brand"] is None) <= 0.23
    assert 0.30 <= share(lambda e: e["category_code"] is None) <= 0.44
    assert 0 < share(lambda e: e["user_session"] is None) < 0.005
    assert 0 < share(lambda e: e["price"] == "0.00") < 0.02
    assert share(lambda e: e["event_type"] == "view") > 0.8
    sessions_of: dict[int, set] = {}
    for e in events:
        sessions_of.setdefault(e["user_id"], set()).add(e["user_session"])
    returning = sum(1 for s in sessions_of.values() if len(s) >= 2) / len(sessions_of)
    assert 0.1 < returning < 0.6
    # purchases follow a cart in the same session; some carts are abandoned
    carted, bought = set(), set()
    for e in events:
        if e["user_session"] is None:
            continue
        if e["event_type"] == "cart":
            carted.add(e["user_session"])
        elif e["event_type"] == "purchase":
            assert e["user_session"] in carted
            bought.add(e["user_session"])
    assert 0 < len(bought) < len(carted)
    # popularity is skewed: the top brand is far above the median one
    counts: dict[str, int] = {}
    for e in events:
        if e["brand"]:
            counts[e["brand"]] = counts.get(e["brand"], 0) + 1
    ranked = sorted(counts.values(), reverse=True)
    assert ranked[0] > 20 * ranked[len(ranked) // 2]


def test_rate_mode_is_endless_and_flat():
    events = list(islice(generate_events(seed=1, rate=10, duration=None), 1_000))
    assert len(events) == 1_000
    assert events[-1]["event_time"] - events[0]["event_time"] < timedelta(minutes=10)


def test_write_csv_counts_and_round_trip(tmp_path):
    stats = write_csv(tmp_path / "x.csv", rows=10_000, seed=5, duplicate_rate=0.01, invalid_rate=0.012)
    assert stats["rows"] == 10_000 and stats["duplicates"] == 100 and stats["invalid"] == 120
    assert len(stats["invalid_by_kind"]) == 12 and sum(stats["invalid_by_kind"].values()) == 120
    with open(tmp_path / "x.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(RAW_FIELDS) and len(rows) == 10_001
    assert sum(1 for a, b in zip(rows[1:], rows[2:], strict=False) if a == b) >= 100
    first = next(generate_events(seed=5, n_events=stats["clean"]))
    assert rows[1] == raw_row(first)
    assert resolve_inputs(str(tmp_path / "x.csv"))[0].records == 10_000


def test_generate_command(tmp_path):
    out = tmp_path / "cli.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "user_events.cli", "generate", "--rows", "1000", "--seed", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith(RAW_HEADER + "\n") and "wrote 1,000 rows" in proc.stdout
