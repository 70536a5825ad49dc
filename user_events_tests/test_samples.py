"""Which real-shaped sample the tests read, and the generated stand-in's shape (checked with the csv module)."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime

import pytest

from user_events.schema import RAW_FIELDS
from user_events_tests import samples
from user_events_tests.samples import SAMPLE_VAR, SampleError, choose_sample, ensure_generated

pytestmark = pytest.mark.unit


def test_the_named_file_comes_first(tmp_path):
    named, shared = tmp_path / "mine.csv", tmp_path / "shared.csv"
    named.write_text("x\n")
    shared.write_text("y\n")
    chosen = choose_sample({SAMPLE_VAR: str(named)}, shared=shared)
    assert chosen.path == named and not chosen.generated


def test_a_named_file_that_is_missing_is_a_clear_error(tmp_path):
    with pytest.raises(SampleError, match=f"{SAMPLE_VAR}=.*no such file"):
        choose_sample({SAMPLE_VAR: str(tmp_path / "absent.csv")}, shared=tmp_path / "absent-too.csv")


def test_the_shared_sample_when_present(tmp_path):
    shared = tmp_path / "shared.csv"
    shared.write_text("y\n")
    chosen = choose_sample({SAMPLE_VAR: "  "}, shared=shared)
    assert chosen.path == shared and not chosen.generated


def test_without_either_the_generated_stand_in(tmp_path, monkeypatch):
    monkeypatch.setenv("USER_EVENTS_DATA_DIR", str(tmp_path / "data"))
    chosen = choose_sample({}, shared=tmp_path / "no-shared" / "sample.csv")
    assert chosen.generated and chosen.path.is_relative_to(tmp_path / "data")
    assert "generated" in chosen.origin


def test_the_generated_stand_in_has_the_shared_samples_shape(tmp_path):
    path = ensure_generated(tmp_path / "sample.csv")
    written = path.stat().st_mtime_ns
    assert ensure_generated(path).stat().st_mtime_ns == written  # generated once, then reused
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    assert header == list(RAW_FIELDS)
    assert len(rows) == samples.SAMPLE_ROWS
    assert all(len(r) == 9 for r in rows)
    times = [datetime.strptime(r[0], "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC) for r in rows]
    assert min(times) >= datetime(2019, 11, 1, tzinfo=UTC)
    assert max(times) < datetime(2019, 11, 1, 0, 57, tzinfo=UTC)
    assert times == sorted(times)
    types = Counter(r[1] for r in rows)
    assert set(types) <= {"view", "cart", "remove_from_cart", "purchase"}
    assert types["view"] / len(rows) > 0.8 and types["cart"] > 0 and types["purchase"] > 0
    assert 0.10 < sum(r[5] == "" for r in rows) / len(rows) < 0.26  # brand empty: 18 % in the shared sample
    assert 0.28 < sum(r[4] == "" for r in rows) / len(rows) < 0.46  # category_code empty: 37 %
    assert all(int(r[3]) > 2**31 for r in rows)  # category ids beyond 32 bits
