"""The PostgreSQL side on its own: COPY round trip, hour replacement, rejected rows, KPI SQL (hand-computed)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from user_events.schema import BRAND_DETAILS, KPI_DAILY, KPI_HOURLY, REJECTED_EVENTS, event_id_of
from user_events.warehouse import kpis, load

UTC = UTC


def ev(hour: int, minute: int, etype: str, user: int, session: str | None, price="10.00", brand="b", second=0):
    t = datetime(2019, 11, 1, hour, minute, second, tzinfo=UTC)
    fields = (t, etype, 1, 2, None, brand, Decimal(price), user, session)
    return {
        "event_id": event_id_of(*fields),
        "event_time": t,
        "event_type": etype,
        "product_id": 1,
        "category_id": 2,
        "category_code": None,
        "brand": brand,
        "price": Decimal(price),
        "user_id": user,
        "user_session": session,
        "event_hour": t.replace(minute=0, second=0),
        "event_date": t.date(),
    }


def batch(rows: list[dict]) -> pa.RecordBatch:
    schema = pa.schema(
        [
            ("event_id", pa.string()),
            ("event_time", pa.timestamp("us", tz="UTC")),
            ("event_type", pa.string()),
            ("product_id", pa.int64()),
            ("category_id", pa.int64()),
            ("category_code", pa.string()),
            ("brand", pa.string()),
            ("price", pa.decimal128(18, 2)),
            ("user_id", pa.int64()),
            ("user_session", pa.string()),
            ("event_hour", pa.timestamp("us", tz="UTC")),
            ("event_date", pa.date32()),
        ]
    )
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def fetch(conn, schema, table, order="1"):
    with conn.cursor() as cur:
        cur.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY {order}')
        names = [d.name for d in cur.description]
        return [dict(zip(names, r, strict=False)) for r in cur]


@pytest.fixture()
def db(pg_conn, pg_schema):
    load.ensure_tables(pg_conn, pg_schema)
    return pg_conn, pg_schema


def test_copy_round_trips_awkward_text_verbatim(db):
    conn, schema = db
    awkward = [
        'o"brien, "the" best',
        "multi\nline\r\nbrand",
        "x'); DROP TABLE user_events;--",
        "löwe 日本製 🙂",
        "\\N",
        "",
        " padded ",
        "tab\there",
        "NULL",
    ]
    rows = [ev(0, i, "view", 1, f"s{i}", brand=b) for i, b in enumerate(awkward)] + [
        ev(1, 0, "view", 1, None, brand=None)
    ]
    stats = load.load_user_events(
        conn, schema, [batch(rows)], [datetime(2019, 11, 1, h, tzinfo=UTC) for h in (0, 1)], loaded_by="batch"
    )
    assert stats["inserted"] == len(rows)
    got = fetch(conn, schema, "user_events", "event_time")
    assert [r["brand"] for r in got] == awkward + [None]  # "" stays "", NULL stays NULL
    assert got[-1]["user_session"] is None
    assert {r["event_id"] for r in got} == {r["event_id"] for r in rows}
    assert got[0]["event_time"] == datetime(2019, 11, 1, 0, 0, tzinfo=UTC)


def test_load_replaces_only_the_hours_of_the_input(db):
    conn, schema = db
    h = lambda n: datetime(2019, 11, 1, n, tzinfo=UTC)  # noqa: E731
    first = [ev(0, 1, "view", 1, "a"), ev(1, 1, "view", 1, "a"), ev(2, 1, "view", 2, "b")]
    assert (
        load.load_user_events(conn, schema, [batch(first)], [h(0), h(1), h(2)], loaded_by="batch")["mode"] == "truncate"
    )
    # a later load of hour 1 only: hour 1 replaced, hours 0 and 2 untouched
    second = [ev(1, 5, "cart", 3, "c"), ev(1, 6, "purchase", 3, "c")]
    stats = load.load_user_events(conn, schema, [batch(second)], [h(1)], loaded_by="batch")
    assert stats == {
        "deleted": 1,
        "inserted": 2,
        "skipped_owned_by_other_load": 0,
        "mode": "delete-owned-hours",
        "kpis": {"kpi_hourly": 1, "kpi_daily": 1},
    }
    got = fetch(conn, schema, "user_events", "event_time")
    assert [(r["event_hour"].hour, r["event_type"]) for r in got] == [
        (0, "view"),
        (1, "cart"),
        (1, "purchase"),
        (2, "view"),
    ]


def owners(conn, schema) -> list[tuple]:
    return [
        (r["event_hour"].hour, r["user_id"], r["loaded_by"]) for r in fetch(conn, schema, "user_events", "event_time")
    ]


def test_each_load_replaces_only_the_rows_it_owns(db):
    """Batch and lake rows of the same hour coexist; an event both loaded is stored once, by its first owner."""
    conn, schema = db
    h = lambda n: datetime(2019, 11, 1, n, tzinfo=UTC)  # noqa: E731
    shared = ev(1, 10, "purchase", 5, "s", price="4.00")
    load.load_user_events(
        conn,
        schema,
        [batch([ev(0, 0, "view", 1, "a"), ev(1, 0, "view", 2, "b"), shared])],
        [h(0), h(1)],
        loaded_by="batch",
    )
    lake = load.load_user_events(conn, schema, [batch([shared, ev(1, 30, "cart", 9, "z")])], [h(1)], loaded_by="lake")
    assert (lake["deleted"], lake["inserted"], lake["skipped_owned_by_other_load"]) == (0, 1, 1)
    assert owners(conn, schema) == [(0, 1, "batch"), (1, 2, "batch"), (1, 5, "batch"), (1, 9, "lake")]
    # an hour the lake loads again with nothing in it loses the lake's rows only
    again = load.load_user_events(conn, schema, [], [h(1)], loaded_by="lake")
    assert (again["deleted"], again["inserted"]) == (1, 0)
    assert owners(conn, schema) == [(0, 1, "batch"), (1, 2, "batch"), (1, 5, "batch")]
    load.load_user_events(conn, schema, [batch([ev(1, 30, "cart", 9, "z")])], [h(1)], loaded_by="lake")
    # the batch reloaded without hour 1's view: its own row goes, the lake's row stays
    load.load_user_events(conn, schema, [batch([ev(0, 0, "view", 1, "a"), shared])], [h(0), h(1)], loaded_by="batch")
    assert owners(conn, schema) == [(0, 1, "batch"), (1, 5, "batch"), (1, 9, "lake")]
    # the KPIs were recomputed in each load's transaction: hour 1 = the shared purchase + the lake's cart
    (h1,) = [r for r in fetch(conn, schema, KPI_HOURLY.name) if r["hour"] == h(1)]
    assert (h1["events"], h1["users"], h1["sessions"], h1["orders"], h1["revenue"]) == (2, 2, 2, 1, Decimal("4.00"))
    with pytest.raises(ValueError, match="loaded_by"):
        load.load_user_events(conn, schema, [], [h(1)], loaded_by="elsewhere")


def test_tables_from_before_row_owners_get_the_column(pg_conn, pg_schema):
    """A user_events table created before `loaded_by` existed is migrated; its rows count as the batch's."""
    conn, schema = pg_conn, pg_schema
    conn.execute(f'CREATE SCHEMA "{schema}"')
    conn.execute(f'CREATE TABLE "{schema}".user_events (event_id text PRIMARY KEY, event_hour timestamptz NOT NULL)')
    conn.execute(f"""INSERT INTO "{schema}".user_events VALUES ('x', '2019-11-01 00:00+00')""")
    load.ensure_tables(conn, schema)
    load.ensure_tables(conn, schema)  # idempotent
    assert conn.execute(f'SELECT event_id, loaded_by FROM "{schema}".user_events').fetchall() == [("x", "batch")]


def test_failed_copy_leaves_table_unchanged(db, monkeypatch):
    conn, schema = db
    hours = [datetime(2019, 11, 1, 0, tzinfo=UTC)]
    load.load_user_events(conn, schema, [batch([ev(0, 0, "view", 1, "a")])], hours, loaded_by="batch")
    before = fetch(conn, schema, "user_events")

    def batches():
        yield batch([ev(0, 1, "view", 2, "b")])
        raise OSError("disk vanished while reading Parquet")

    with pytest.raises(OSError):
        load.load_user_events(conn, schema, batches(), hours, loaded_by="batch")
    assert fetch(conn, schema, "user_events") == before


def _rejected(reason: str, text: str, at: datetime, source="file:/x.csv") -> dict:
    row = {c: None for c in REJECTED_EVENTS.column_names}
    row.update(event_type=text, reason=reason, source=source, rejected_at=at)
    return row


def _rejected_batch(rows):
    fields = [
        (c, pa.timestamp("us", tz="UTC") if c == "rejected_at" else pa.string()) for c in REJECTED_EVENTS.column_names
    ]
    return pa.RecordBatch.from_pylist(rows, schema=pa.schema(fields))


def test_rejected_rows_replaced_per_source_keeping_first_rejection_time(db):
    conn, schema = db
    t1, t2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    load.load_rejected_events(
        conn,
        schema,
        [
            _rejected_batch(
                [
                    _rejected("event_type_invalid", "click", t1),
                    _rejected("event_type_invalid", "click", t1),
                    _rejected("event_type_invalid", "tap", t1, source="file:/other.csv"),
                ]
            )
        ],
        ["file:/x.csv", "file:/other.csv"],
    )
    # reload of x.csv: one old row again (keeps t1), one new row (gets t2); other.csv untouched
    load.load_rejected_events(
        conn,
        schema,
        [_rejected_batch([_rejected("event_type_invalid", "click", t2), _rejected("event_type_invalid", "swipe", t2)])],
        ["file:/x.csv"],
    )
    got = sorted((r["source"], r["event_type"], r["rejected_at"]) for r in fetch(conn, schema, "rejected_events"))
    assert got == [("file:/other.csv", "tap", t1), ("file:/x.csv", "click", t1), ("file:/x.csv", "swipe", t2)]


def test_kpis_hand_computed_with_null_rules(db):
    conn, schema = db
    rows = [
        # hour 0: session a (user 1) views, carts, buys 2 items; session b (user 1) carts, abandons;
        # session c (user 2) buys; a NULL-session purchase by user 3
        ev(0, 1, "view", 1, "a"),
        ev(0, 2, "cart", 1, "a"),
        ev(0, 3, "purchase", 1, "a", price="30.00"),
        ev(0, 4, "purchase", 1, "a", price="20.00", second=1),
        ev(0, 10, "cart", 1, "b"),
        ev(0, 20, "purchase", 2, "c", price="5.00"),
        ev(0, 30, "purchase", 3, None, price="7.00"),
        # hour 1: only views (no cart, no purchase) by user 1 in session a
        ev(1, 0, "view", 1, "a"),
        # hour 2: events without any session
        ev(2, 0, "view", 4, None),
    ]
    hours = [datetime(2019, 11, 1, h, tzinfo=UTC) for h in (0, 1, 2)]
    load.load_user_events(conn, schema, [batch(rows)], hours, loaded_by="batch")
    assert kpis.recompute_kpis(conn, schema, hours) == {"kpi_hourly": 3, "kpi_daily": 1}
    hourly = fetch(conn, schema, KPI_HOURLY.name)
    h0, h1, h2 = hourly
    assert (h0["events"], h0["users"], h0["sessions"], h0["purchases"], h0["orders"]) == (7, 3, 3, 4, 2)
    assert h0["revenue"] == Decimal("62.00")
    assert h0["conversion_rate"] == pytest.approx(2 / 3)
    assert h0["cart_abandonment_rate"] == pytest.approx(1 - 1 / 2)  # carts in a (bought) and b (abandoned)
    assert h0["returning_user_rate"] == pytest.approx(1 / 3)  # user 1 has sessions a and b
    assert h0["repeat_customer_rate"] == pytest.approx(0 / 3)  # buyers 1, 2, 3; none bought in 2 sessions
    assert h0["avg_order_value"] == pytest.approx(62 / 2)
    assert (h1["cart_abandonment_rate"], h1["repeat_customer_rate"], h1["avg_order_value"]) == (None, None, None)
    assert (h1["orders"], h1["conversion_rate"], h1["revenue"]) == (0, 0.0, Decimal("0.00"))
    assert (h2["sessions"], h2["conversion_rate"], h2["returning_user_rate"]) == (0, None, 0.0)
    (day,) = fetch(conn, schema, KPI_DAILY.name)
    assert day["day"] == date(2019, 11, 1)
    assert (day["events"], day["users"], day["sessions"], day["orders"]) == (9, 4, 3, 2)
    assert day["returning_user_rate"] == pytest.approx(1 / 4)
    # recomputing is idempotent, and a period that lost its events loses its row
    assert kpis.recompute_kpis(conn, schema, hours)["kpi_hourly"] == 3
    conn.execute(f'DELETE FROM "{schema}".user_events WHERE event_hour = %s', (hours[2],))
    kpis.recompute_kpis(conn, schema, [hours[2]])
    assert len(fetch(conn, schema, KPI_HOURLY.name)) == 2
    # the day is recomputed from all of its hours, not only the one named
    (day,) = fetch(conn, schema, KPI_DAILY.name)
    assert (day["events"], day["users"], day["sessions"], day["orders"]) == (8, 3, 3, 2)


def test_brand_details_full_replace(db):
    conn, schema = db
    fields = [
        ("brand", pa.string()),
        ("avg_price", pa.float64()),
        ("views", pa.int64()),
        ("carts", pa.int64()),
        ("purchases", pa.int64()),
        ("revenue", pa.decimal128(18, 2)),
        ("sessions", pa.int64()),
        ("users", pa.int64()),
        ("conversion_rate", pa.float64()),
    ]

    def mk(brand):
        return {
            "brand": brand,
            "avg_price": 1.5,
            "views": 1,
            "carts": 0,
            "purchases": 0,
            "revenue": Decimal("0.00"),
            "sessions": 1,
            "users": 1,
            "conversion_rate": 0.0,
        }

    load.replace_table(
        conn, schema, BRAND_DETAILS, [pa.RecordBatch.from_pylist([mk("a"), mk(None)], schema=pa.schema(fields))]
    )
    load.replace_table(conn, schema, BRAND_DETAILS, [pa.RecordBatch.from_pylist([mk("c")], schema=pa.schema(fields))])
    assert [r["brand"] for r in fetch(conn, schema, "brand_details")] == ["c"]


def test_duplicate_ids_fail_the_load_and_roll_back(db):
    conn, schema = db
    hours = [datetime(2019, 11, 1, 0, tzinfo=UTC)]
    load.load_user_events(conn, schema, [batch([ev(0, 0, "view", 1, "a")])], hours, loaded_by="batch")
    before = fetch(conn, schema, "user_events")
    twice = ev(0, 5, "view", 2, "b")
    with pytest.raises(Exception, match="duplicate|unique"):
        load.load_user_events(conn, schema, [batch([twice, twice])], hours, loaded_by="batch")
    assert fetch(conn, schema, "user_events") == before
    # the primary key is back after the rebuild path
    pk = conn.execute(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
        (f'"{schema}".user_events',),
    ).fetchone()[0]
    assert pk == 1


def test_events_by_type_hourly_follows_each_load_of_its_hours(db):
    """The funnel's table: events per (hour, type), replaced with the KPIs by every load of those hours, the
    other load's rows of an hour counted too, an hour that lost its events losing its rows (hand-counted)."""
    conn, schema = db

    def h(hour: int) -> datetime:
        return datetime(2019, 11, 1, hour, tzinfo=UTC)

    def by_type() -> dict:
        return {(r["hour"].hour, r["event_type"]): r["events"] for r in fetch(conn, schema, "events_by_type_hourly")}

    first = [
        ev(0, 0, "view", 1, "a"),
        ev(0, 1, "view", 2, "b"),
        ev(0, 2, "cart", 1, "a"),
        ev(0, 3, "remove_from_cart", 1, "a"),
        ev(0, 4, "purchase", 1, "a"),
        ev(1, 0, "view", 3, None),
    ]
    load.load_user_events(conn, schema, [batch(first)], [h(0), h(1)], loaded_by="batch")
    assert by_type() == {(0, "view"): 2, (0, "cart"): 1, (0, "remove_from_cart"): 1, (0, "purchase"): 1, (1, "view"): 1}
    # the lake adds to hour 1 (its rows and the batch's counted together); hour 0 is left alone
    load.load_user_events(
        conn, schema, [batch([ev(1, 5, "cart", 3, "c"), ev(1, 6, "cart", 4, "d")])], [h(1)], loaded_by="lake"
    )
    assert by_type() == {
        (0, "view"): 2,
        (0, "cart"): 1,
        (0, "remove_from_cart"): 1,
        (0, "purchase"): 1,
        (1, "view"): 1,
        (1, "cart"): 2,
    }
    # the batch reloads hour 0 alone with fewer events: only that hour changes
    load.load_user_events(conn, schema, [batch([ev(0, 0, "view", 1, "a")])], [h(0)], loaded_by="batch")
    assert by_type() == {(0, "view"): 1, (1, "view"): 1, (1, "cart"): 2}
    # replaying the same load leaves the table as it was
    load.load_user_events(conn, schema, [batch([ev(0, 0, "view", 1, "a")])], [h(0)], loaded_by="batch")
    assert by_type() == {(0, "view"): 1, (1, "view"): 1, (1, "cart"): 2}
    # the lake's hour 1 reloaded empty: its cart rows go, the batch's view stays
    load.load_user_events(conn, schema, [], [h(1)], loaded_by="lake")
    assert by_type() == {(0, "view"): 1, (1, "view"): 1}
