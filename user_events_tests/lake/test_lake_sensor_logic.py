"""The hourly sensor's pure functions (no services): what it requests, reports and keeps in its cursor."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from user_events.lake import sensors

pytestmark = pytest.mark.unit

A = {"Key": "topics/t/year=2019/month=11/day=01/hour=00/t+0+0000000000.json", "Size": 10, "ETag": '"a"'}
B = {"Key": "topics/t/year=2019/month=11/day=01/hour=00/t+1+0000000000.json", "Size": 32, "ETag": '"b"'}
C = {"Key": "topics/t/year=2019/month=11/day=01/hour=01/t+0+0000000007.json", "Size": 5, "ETag": '"c"'}


def test_fingerprint_ignores_listing_order_and_changes_with_any_object():
    assert sensors.fingerprint([A, B]) == sensors.fingerprint([B, A])
    assert sensors.fingerprint([A]) != sensors.fingerprint([A, B]), "an object added"
    assert sensors.fingerprint([A]) != sensors.fingerprint([{**A, "ETag": '"z"'}]), "an object rewritten"
    assert sensors.fingerprint([A]) != sensors.fingerprint([{**A, "Size": 11}])


def test_hours_to_request_are_the_changed_hours_oldest_first():
    by_hour = {"2019-11-01-01:00": [C], "2019-11-01-00:00": [A, B]}
    unchanged = {"2019-11-01-00:00": sensors.fingerprint([A, B])}
    assert sensors.hours_to_request(by_hour, {}) == [
        ("2019-11-01-00:00", sensors.fingerprint([A, B])),
        ("2019-11-01-01:00", sensors.fingerprint([C])),
    ]
    assert sensors.hours_to_request(by_hour, unchanged) == [("2019-11-01-01:00", sensors.fingerprint([C]))]
    assert sensors.hours_to_request(by_hour, {**unchanged, "2019-11-01-01:00": sensors.fingerprint([C])}) == []


def test_parse_cursor_reads_the_requested_and_reported_hours():
    assert sensors.parse_cursor(None) == ({}, {})
    assert sensors.parse_cursor(json.dumps({"requested": {"h": "1"}, "reported": {"h": "2"}})) == (
        {"h": "1"},
        {"h": "2"},
    )


def test_hour_totals_add_records_only_when_every_object_says():
    assert sensors.hour_totals([A, B]) == {"objects": 2, "bytes": 42}
    records = {A["Key"]: 3, B["Key"]: 4}
    assert sensors.hour_totals([A, B], lambda o: records.get(o["Key"])) == {"objects": 2, "bytes": 42, "records": 7}
    assert "records" not in sensors.hour_totals([A, C], lambda o: records.get(o["Key"])), "C's count is unknown"


def test_hour_reports_only_changed_hours_with_their_completeness():
    by_hour = {"2019-11-01-00:00": [A, B], "2019-11-01-01:00": [C]}
    complete_before = datetime(2019, 11, 1, 1, tzinfo=UTC)  # hour 00 complete, hour 01 not
    reports = sensors.hour_reports(by_hour, {"2019-11-01-01:00": "old"}, complete_before, lambda o: 1)
    got = {key: (fp, dict((k, v.value) for k, v in m.metadata.items())) for key, fp, m in reports}
    assert got == {
        "2019-11-01-00:00": (
            sensors.fingerprint([A, B]),
            {"objects": 2, "bytes": 42, "records": 2, "complete": True, "fingerprint": sensors.fingerprint([A, B])},
        ),
        "2019-11-01-01:00": (
            sensors.fingerprint([C]),
            {"objects": 1, "bytes": 5, "records": 1, "complete": False, "fingerprint": sensors.fingerprint([C])},
        ),
    }
    assert all(m.partition == key for key, _, m in reports)
    settled = {key: fp for key, fp, _ in reports}
    assert sensors.hour_reports(by_hour, settled, complete_before) == []


def test_object_records_heads_each_object_once_per_etag():
    heads = []

    class Client:
        def head_object(self, Bucket, Key):
            heads.append(Key)
            return {"Metadata": {"records": "12"} if Key == A["Key"] else {}}

    records_of = sensors.ObjectRecords()(Client(), "bucket")
    assert [records_of(A), records_of(A), records_of(B)] == [12, 12, None]
    assert heads == [A["Key"], B["Key"]]
    assert records_of({**A, "ETag": '"new"'}) == 12 and heads[-1] == A["Key"], "a rewritten object is asked again"
