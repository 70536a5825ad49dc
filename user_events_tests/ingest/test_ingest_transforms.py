"""Unit tests of the pure Spark transforms, on hand-written rows with hand-computed expectations, run in the
order the ingest assets run them (ingest/support.py calls their steps)."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from user_events.ingest import transforms as T
from user_events.ingest.inputs import scan_local
from user_events.schema import RAW_FIELDS, RAW_HEADER, event_id_of
from user_events_tests.ingest.support import typed_and_rejected, validated_as_stored

GOOD = [
    "2019-11-01 00:00:00 UTC",
    "view",
    "1003461",
    "2053013555631882655",
    "electronics.smartphone",
    "xiaomi",
    "489.07",
    "520088904",
    "4d3b30da-a5e4-49df-b1a8-ba5943f1dd33",
]


def row(**changes) -> list[str]:
    r = list(GOOD)
    for k, v in changes.items():
        r[RAW_FIELDS.index(k)] = v
    return r


def write_rows(path, rows, header=True) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        buf.write(RAW_HEADER + "\n")
    for r in rows:
        if isinstance(r, str):  # a literal line
            buf.write(r + "\n")
        else:
            w.writerow(r)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return str(path)


def stored(spark, path, multiline=True):
    """(typed events, rejected rows) of a raw CSV file, as typed_events stores them."""
    return typed_and_rejected(spark, T.read_raw_csv(spark, str(path), multiline=multiline), Path(path).parent / "v")


def validate_file(spark, path, multiline=True):
    typed, rejected = stored(spark, path, multiline)
    return typed.orderBy("event_id").collect(), rejected.collect()


# one row per reason, in REASONS order, each failing only that rule
REASON_CASES = [
    ("wrong_field_count", "2019-11-01 00:00:00 UTC,view,1,2,,x,5,3"),
    ("wrong_field_count", "2019-11-01 00:00:00 UTC,view,1,2,,x,5,3,s,extra"),
    ("event_time_missing", row(event_time="")),
    ("event_time_unparseable", row(event_time="2019-11-01 25:61:00 UTC")),
    ("event_time_unparseable", row(event_time="2019-02-30 00:00:00 UTC")),
    ("event_time_unparseable", row(event_time="2019-11-01 00:00:00")),  # no zone: ambiguous
    ("event_time_unparseable", row(event_time="yesterday")),
    ("event_type_missing", row(event_type="")),
    ("event_type_invalid", row(event_type="click")),
    ("event_type_invalid", row(event_type="View")),
    ("product_id_missing", row(product_id="")),
    ("product_id_not_integer", row(product_id="12ab")),
    ("product_id_not_integer", row(product_id="1.5")),
    ("product_id_out_of_range", row(product_id="9223372036854775808")),  # 2**63
    ("product_id_not_positive", row(product_id="0")),
    ("category_id_missing", row(category_id="")),
    ("category_id_not_integer", row(category_id="1e3")),
    ("category_id_out_of_range", row(category_id="-99999999999999999999")),
    ("category_id_not_positive", row(category_id="-5")),
    ("price_missing", row(price="")),
    ("price_not_number", row(price="free")),
    ("price_not_number", row(price="NaN")),
    ("price_out_of_range", row(price="1e30")),
    ("price_negative", row(price="-1.50")),
    ("price_negative", row(price="-0.001")),
    ("user_id_missing", row(user_id="")),
    ("user_id_not_integer", row(user_id="abc")),
    ("user_id_out_of_range", row(user_id="99999999999999999999")),
    ("user_id_not_positive", row(user_id="-1")),
    # several failures: the first rule in REASONS order wins
    ("event_type_invalid", row(event_type="click", product_id="x", price="-1")),
    ("product_id_missing", row(product_id="", user_id="0")),
]


@pytest.mark.parametrize("multiline", [True, False])
def test_every_reason_is_detected_with_first_rule_winning(spark, tmp_path, multiline):
    path = write_rows(tmp_path / "bad.csv", [r for _, r in REASON_CASES])
    typed, rejected = validate_file(spark, path, multiline)
    assert typed == []
    # file order is kept within one small file
    assert [r["reason"] for r in rejected] == [reason for reason, _ in REASON_CASES]
    assert {r["reason"] for r in rejected} == set(T.REASONS)
    assert all(r["source"].endswith("/bad.csv") and r["rejected_at"] is not None for r in rejected)
    by_reason = {}
    for r in rejected:
        by_reason.setdefault(r["reason"], r)
    assert by_reason["wrong_field_count"]["raw_line"] == "2019-11-01 00:00:00 UTC,view,1,2,,x,5,3"
    assert rejected[1]["raw_line"] == "2019-11-01 00:00:00 UTC,view,1,2,,x,5,3,s,extra"
    assert by_reason["price_not_number"]["price"] == "free"  # raw text kept
    assert by_reason["event_time_unparseable"]["raw_line"] is None


def test_reasons_are_documented():
    assert set(T.REASON_DOCS) == set(T.REASONS)
    assert len(T.REASONS) == len(set(T.REASONS))


def _reference_event_id(raw: list[str]) -> str:
    """Independent parse of one raw row (Python) -> schema.event_id_of."""
    t = raw[0].strip()
    if t.endswith(" UTC"):
        when = datetime.strptime(t[:-4], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    else:
        when = datetime.fromisoformat(t.replace("Z", "+00:00"))
    return event_id_of(
        when.replace(microsecond=0),
        raw[1],
        int(raw[2]),
        int(raw[3]),
        raw[4] or None,
        raw[5] or None,
        Decimal(raw[6]),
        int(raw[7]),
        raw[8] or None,
    )


TRICKY = [
    row(),
    row(price="5"),
    row(price="5.00"),  # same event as price "5"
    row(price="5.005"),  # half-up: 5.01
    row(price="0"),
    row(price="-0"),  # zero, not negative
    row(event_time="2019-11-01T03:00:00+03:00"),  # same instant as GOOD
    row(event_time="2019-11-01T03:00:00+0300", user_session="b"),
    row(event_time="2019-11-01 01:00:00+01", user_session="c"),
    row(event_time="2019-11-01T00:00:00.750Z", user_session="d"),  # fraction dropped
    row(event_time="2019-10-31T19:30:00-04:30", user_session="e"),
    row(brand="löwe", category_code="日本製.家電"),
    row(brand='o"brien, "the" best', user_session="f"),
    row(brand="multi\nline\nbrand", user_session="g"),
    row(brand="x'); DROP TABLE user_events;--", user_session="h"),
    row(user_session=""),  # NULL session
    row(brand="", category_code=""),  # NULL brand and category
    row(product_id="2147483648", user_id="2147483649", user_session="i"),  # above 2^31
    row(product_id="9223372036854775807", category_id="9223372036854775807", user_session="j"),  # 2^63-1
    row(product_id="+42", user_id="007", user_session="k"),
]


def test_event_id_matches_python_reference_on_tricky_rows(spark, tmp_path):
    path = write_rows(tmp_path / "tricky.csv", TRICKY)
    assert scan_local(path).multiline  # the newline brand forces the multi-line parser
    typed, rejected = validate_file(spark, path)
    assert rejected == []
    got = {r["event_id"] for r in typed}
    expected = {_reference_event_id(r) for r in TRICKY}
    assert got == expected
    # ids are 32 hex chars of sha256 over the canonical text
    canonical = "\x1f".join(["2019-11-01 00:00:00", *GOOD[1:]])  # GOOD's fields, the time without its zone
    assert hashlib.sha256(canonical.encode()).hexdigest()[:32] in got
    # price 5 and 5.00, 0 and -0, and the +03:00 spelling of GOOD collapse onto one id each
    assert len(got) == len(TRICKY) - 3  # and 0 == -0


def test_typed_values(spark, tmp_path):
    path = write_rows(tmp_path / "typed.csv", TRICKY)
    typed, _ = stored(spark, path)
    rows = typed.collect()
    by_session = {r["user_session"]: r for r in rows}
    assert by_session["e"]["event_time"] == datetime(2019, 11, 1, 0, 0)  # -04:30 -> UTC
    assert by_session["d"]["event_time"] == datetime(2019, 11, 1, 0, 0)
    assert by_session["g"]["brand"] == "multi\nline\nbrand"
    assert by_session["f"]["brand"] == 'o"brien, "the" best'
    assert by_session["h"]["brand"] == "x'); DROP TABLE user_events;--"
    assert by_session["j"]["product_id"] == 2**63 - 1 and by_session["j"]["category_id"] == 2**63 - 1
    assert by_session["i"]["product_id"] == 2**31 and by_session["i"]["user_id"] == 2**31 + 1
    assert by_session["k"]["product_id"] == 42 and by_session["k"]["user_id"] == 7
    assert None in by_session  # the empty session became NULL
    assert by_session[None]["brand"] == "xiaomi"
    nulls = [r for r in rows if r["brand"] is None]
    assert len(nulls) == 1 and nulls[0]["category_code"] is None
    prices = sorted({r["price"] for r in rows})
    assert prices == [Decimal("0.00"), Decimal("5.00"), Decimal("5.01"), Decimal("489.07")]
    r = rows[0]
    assert r["event_hour"] == r["event_time"].replace(minute=0, second=0)
    assert r["event_date"] == r["event_time"].date()


def test_line_mode_equals_multiline_mode_without_quoted_newlines(spark, tmp_path):
    rows = [r for r in TRICKY if "\n" not in r[5]] + [r for _, r in REASON_CASES]
    path = write_rows(tmp_path / "plain.csv", rows)
    assert not scan_local(path).multiline
    a = validate_file(spark, path, multiline=True)
    b = validate_file(spark, path, multiline=False)

    def strip(rs):
        return sorted((tuple((k, v) for k, v in r.asDict().items() if k != "rejected_at") for r in rs), key=repr)

    assert [r.asDict() for r in a[0]] == [r.asDict() for r in b[0]]
    assert strip(a[1]) == strip(b[1])


def test_exact_duplicates_dropped_and_counted(spark, tmp_path, monkeypatch):
    rows = [row(), row(), row(price="489.070"), row(user_session="other"), row(user_session=""), row(user_session="")]
    path = write_rows(tmp_path / "dups.csv", rows)
    typed, _ = validated_as_stored(spark, T.read_raw_csv(spark, path), tmp_path / "v")
    deduped = T.dedupe_typed_events(typed)  # the broadcast plan: only the candidate rows de-duplicated
    assert typed.count() - deduped.count() == 3  # row() x3 (489.070 == 489.07) -> 1, NULL-session pair -> 1
    assert deduped.count() == 3
    assert deduped.select("event_id").distinct().count() == 3
    # the plan for many repeated ids (a distinct over whole rows) gives the same rows
    monkeypatch.setattr(T, "BROADCAST_DUPLICATE_IDS", 0)
    by_distinct = T.dedupe_typed_events(typed)
    assert sorted(map(tuple, by_distinct.collect())) == sorted(map(tuple, deduped.collect()))


def test_brand_details_hand_computed(spark, tmp_path):
    rows = [
        *(  # session s1: a view, a cart and a purchase, a second apart
            row(
                event_type=t,
                brand="a",
                price="10",
                user_id="1",
                user_session="s1",
                event_time=f"2019-11-01 00:00:0{i} UTC",
            )
            for i, t in enumerate(("view", "cart", "purchase"))
        ),
        row(event_type="view", brand="a", price="20", user_id="2", user_session="s2"),
        row(event_type="view", brand="", price="0", user_id="3", user_session=""),
        row(event_type="remove_from_cart", brand="b", price="7.5", user_id="3", user_session="s3"),
    ]
    path = write_rows(tmp_path / "brands.csv", rows)
    typed, _ = stored(spark, path)
    got = {r["brand"]: r.asDict() for r in T.brand_details(typed).collect()}
    a = got["a"]
    assert (a["views"], a["carts"], a["purchases"], a["sessions"], a["users"]) == (2, 1, 1, 2, 2)
    assert a["revenue"] == Decimal("10.00") and a["avg_price"] == pytest.approx(12.5)
    assert a["conversion_rate"] == pytest.approx(0.5)
    none = got[None]  # NULL brand is its own row; its only event has no session
    assert (none["views"], none["sessions"], none["users"], none["revenue"]) == (1, 0, 1, Decimal("0.00"))
    assert none["conversion_rate"] is None
    b = got["b"]
    assert (b["views"], b["carts"], b["purchases"], b["sessions"], b["conversion_rate"]) == (0, 0, 0, 1, 0.0)
