"""Pure tests: message validation, the S3 key layout, the watermark arithmetic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from user_events.schema import event_id_of
from user_events.storage.s3_layout import hour_partition_key, object_key, start_offset_of
from user_events.storage.watermark import NOTHING_COMPLETE, hours_complete_before
from user_events.streaming.s3_sink import ndjson_line
from user_events.streaming.validate import ValidationError, parse_message, validate_record

pytestmark = pytest.mark.unit

UTC = UTC
GOOD = {
    "event_time": "2019-11-01 00:00:01 UTC",
    "event_type": "view",
    "product_id": "17302664",
    "category_id": "2053013553853497655",
    "category_code": "",
    "brand": "creed",
    "price": "28.31",
    "user_id": "561587266",
    "user_session": "755422e7-9040-477b-9bd2-6a6e8fd97387",
}


def test_valid_raw_record_is_typed():
    ev = validate_record(GOOD)
    assert ev.event_time == datetime(2019, 11, 1, 0, 0, 1, tzinfo=UTC)
    assert ev.category_id == 2053013553853497655  # beyond 32 bits
    assert ev.category_code is None and ev.brand == "creed"
    assert ev.price == Decimal("28.31")
    assert ev.event_hour == datetime(2019, 11, 1, tzinfo=UTC)
    # the id is the schema's id of the same typed values
    assert ev.event_id == event_id_of(
        datetime(2019, 11, 1, 0, 0, 1, tzinfo=UTC),
        "view",
        17302664,
        2053013553853497655,
        None,
        "creed",
        Decimal("28.31"),
        561587266,
        "755422e7-9040-477b-9bd2-6a6e8fd97387",
    )
    assert ev.raw_dict() == GOOD


def test_json_numbers_iso_times_and_csv_fields_give_the_same_event():
    as_json = dict(GOOD, event_time="2019-11-01T01:00:01+01:00", product_id=17302664, price=28.31, category_code=None)
    assert validate_record(as_json) == validate_record(GOOD)
    assert validate_record(dict(GOOD, event_time="2019-11-01T00:00:01Z")).event_id == validate_record(GOOD).event_id


@pytest.mark.parametrize(
    "change, code",
    [
        ({"event_time": "2019-11-01 25:61:00 UTC"}, "event_time_unparseable"),
        ({"event_time": "2019-11-01 00:00:01"}, "event_time_unparseable"),  # no zone
        ({"event_time": ""}, "event_time_missing"),
        ({"event_type": "click"}, "event_type_invalid"),
        ({"event_type": ""}, "event_type_missing"),
        ({"product_id": ""}, "product_id_missing"),
        ({"product_id": "12ab"}, "product_id_not_integer"),
        ({"product_id": 1.5}, "product_id_not_integer"),
        ({"category_id": "0"}, "category_id_not_positive"),
        ({"user_id": "-5"}, "user_id_not_positive"),
        ({"user_id": "9223372036854775808"}, "user_id_out_of_range"),
        ({"price": ""}, "price_missing"),
        ({"price": "free"}, "price_not_number"),
        ({"price": "NaN"}, "price_not_number"),
        ({"price": "-1.50"}, "price_negative"),
        ({"price": "10000000000000000"}, "price_out_of_range"),
    ],
)
def test_invalid_fields_are_rejected_with_the_batch_reason_code(change, code):
    with pytest.raises(ValidationError) as info:
        validate_record({**GOOD, **change})
    assert info.value.code == code and str(info.value).startswith(code)


def test_edge_values_that_are_valid():
    assert validate_record(dict(GOOD, price="0")).price == 0
    assert validate_record(dict(GOOD, price="5.005")).price == Decimal("5.01")  # numeric(18,2), half up
    assert validate_record(dict(GOOD, user_id="9223372036854775807")).user_id == 2**63 - 1
    assert validate_record(dict(GOOD, user_session="")).user_session is None
    assert validate_record(dict(GOOD, brand=5)).brand == "5"  # a JSON number read as text, as Spark does


def test_wrong_number_of_fields():
    short = {k: v for k, v in GOOD.items() if k != "user_session"}
    with pytest.raises(ValidationError, match="wrong_field_count: .*missing field\\(s\\) user_session"):
        validate_record(short)
    with pytest.raises(ValidationError, match="wrong_field_count: .*unexpected field\\(s\\) extra"):
        validate_record(dict(GOOD, extra="x"))


@pytest.mark.parametrize(
    "value, code",
    [(b"not json", "not_json"), (b"[1,2]", "not_a_json_object"), (b"\xff\xfe", "not_json"), (None, "not_json")],
)
def test_unparseable_messages(value, code):
    with pytest.raises(ValidationError) as info:
        parse_message(value)
    assert info.value.code == code


def test_s3_key_layout_and_partition_keys():
    hour = datetime(2019, 11, 1, 7, tzinfo=UTC)
    key = object_key("user_activity", hour, 2, 1234)
    assert key == "topics/user_activity/year=2019/month=11/day=01/hour=07/user_activity+2+0000001234.json"
    assert start_offset_of(key) == 1234
    assert hour_partition_key(hour) == "2019-11-01-07:00"


def test_ndjson_line_keeps_the_message_bytes_unless_multiline():
    raw = json.dumps(GOOD).encode()
    assert ndjson_line(raw, GOOD) == raw + b"\n"
    pretty = json.dumps(GOOD, indent=2).encode()
    line = ndjson_line(pretty, GOOD)
    assert line.count(b"\n") == 1 and json.loads(line) == GOOD


def _wm(**parts):
    return {"partitions_total": len(parts), "partitions": {int(k[1:]): v for k, v in parts.items()}}


def _p(committed, end, pending=0, pending_min=None, max_t=None):
    return {
        "committed_offset": committed,
        "log_end_offset": end,
        "pending_records": pending,
        "pending_min_event_time": pending_min,
        "max_event_time": max_t,
    }


def test_watermark_pending_events_hold_their_hour_open():
    doc = _wm(
        p0=_p(100, 100, max_t="2019-11-01T03:20:00Z"),
        p1=_p(50, 80, pending=5, pending_min="2019-11-01T02:59:00Z", max_t="2019-11-01T03:10:00Z"),
    )
    # p1 still buffers an event of 02:59 -> hour 02 is open; hour 01 is complete (02:59 - 5 min grace)
    assert hours_complete_before(doc, timedelta(minutes=5)) == datetime(2019, 11, 1, 2, tzinfo=UTC)


def test_watermark_idle_caught_up_partition_does_not_hold_back():
    doc = _wm(
        p0=_p(100, 100, max_t="2019-11-01T05:20:00Z"),
        p1=_p(7, 7, max_t="2019-11-01T00:10:00Z"),  # idle since midnight, nothing to read
    )
    assert hours_complete_before(doc, timedelta(minutes=5)) == datetime(2019, 11, 1, 5, tzinfo=UTC)
    # the same partition lagging behind (unread messages) holds the watermark at what it stored
    doc["partitions"][1]["log_end_offset"] = 9
    assert hours_complete_before(doc, timedelta(minutes=5)) == datetime(2019, 11, 1, 0, tzinfo=UTC)


def test_watermark_grace_and_missing_partitions():
    doc = _wm(p0=_p(10, 10, max_t="2019-11-01T05:03:00Z"))
    assert hours_complete_before(doc, timedelta(minutes=5)) == datetime(2019, 11, 1, 4, tzinfo=UTC)
    assert hours_complete_before(doc, timedelta(0)) == datetime(2019, 11, 1, 5, tzinfo=UTC)
    doc["partitions_total"] = 2  # a partition has no watermark yet
    assert hours_complete_before(doc, timedelta(0)) == NOTHING_COMPLETE
    assert hours_complete_before({"partitions": {}}, timedelta(0)) == NOTHING_COMPLETE
