"""The live dashboard end to end: events stamped with the current time published through the simulator,
the MongoDB sink run, and within 15 s the live charts' data (Superset's MongoDB engine over the sink's
per-minute documents) shows exactly those events in their minutes. The delay chart reads documents of the
`sink_delay_per_minute` layout inserted here (the streaming domain writes them)."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from user_events.dashboards.provision import Placement, provision
from user_events.schema import RAW_FIELDS
from user_events_tests.dashboards.support import chart_rows, series_labels
from user_events_tests.streaming.support import consume_all, mongo_db, start_cli

EVENTS = 300
P50, P95 = "p50 delay (ms)", "p95 delay (ms)"  # the delay chart's metrics, as its legend names them


def _placement(mongo_database: str) -> Placement:
    return Placement(**{**Placement.from_env().__dict__, "mongo_db": mongo_database})


def _minute_ms(event_time: str) -> float:
    t = datetime.strptime(event_time, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
    return t.replace(second=0).timestamp() * 1000


def _published(topic: str) -> list[dict]:
    """The messages on the topic, as distinct events: re-stamped to the same second, two identical rows are one
    event (the contract keeps exact duplicates once)."""
    records = [json.loads(m.value()) for m in consume_all(topic)]
    assert len(records) == EVENTS
    return list({tuple(r[f] for f in RAW_FIELDS): r for r in records}.values())


def test_live_dashboard_shows_the_events_just_published(superset, pipeline, rees46_sample, tmp_path):
    client = superset
    provision(client, _placement(pipeline.mongo_db))
    try:
        lines = Path(rees46_sample).read_text().splitlines()
        csv = tmp_path / "live.csv"
        csv.write_text("\n".join(lines[: EVENTS + 1]) + "\n")
        sim = start_cli(
            ["simulate", "--from-csv", str(csv), "--time-mode", "live", "--rate", "0"],
            pipeline.env(),
            tmp_path / "simulate.log",
        )
        assert sim.wait(180) == 0, (tmp_path / "simulate.log").read_text()[-2000:]
        records = _published(pipeline.topic)
        expected = Counter((_minute_ms(r["event_time"]), r["event_type"]) for r in records)

        sink = start_cli(["sink", "mongo", "--until-idle", "3"], pipeline.env(), tmp_path / "sink.log")
        assert sink.wait(240) == 0, (tmp_path / "sink.log").read_text()[-2000:]
        sink_done = time.monotonic()
        got: dict = {}
        while time.monotonic() - sink_done < 15:
            rows = chart_rows(client, "live_events_per_minute")  # a row per minute, a column per event type
            got = Counter({(r["minute"], t): n for r in rows for t, n in r.items() if t != "minute" and n})
            if got == expected:
                break
            time.sleep(0.5)
        assert got == expected
        shown_after = time.monotonic() - sink_done
        assert shown_after < 15

        views = sum(n for (_, t), n in expected.items() if t == "view")
        purchases = sum(n for (_, t), n in expected.items() if t == "purchase")
        ratio = chart_rows(client, "live_purchases_per_view")[0]["purchases_per_view"]
        assert abs(ratio - purchases / views) < 1e-9

        cents = Counter()
        for r in records:
            if r["event_type"] == "purchase":
                cents[_minute_ms(r["event_time"])] += round(float(r["price"]) * 100)
        revenue = {r["minute"]: r["revenue"] for r in chart_rows(client, "live_revenue_per_minute")}
        assert {m: round(v * 100) for m, v in revenue.items() if v} == {m: c for m, c in cents.items() if c}
    finally:
        provision(client, _placement(Placement.from_env().mongo_db))


def test_live_delay_chart_reads_the_per_minute_delay_documents(superset, pipeline):
    client = superset
    db = mongo_db(pipeline.mongo_db)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    docs = []
    for i, (p50, p95) in enumerate([(12.0, 40.0), (15.0, 90.0), (9.0, 33.0)]):
        minute = now - timedelta(minutes=i)
        docs.append(
            {
                "_id": f"{minute:%Y-%m-%dT%H:%MZ}|mongo",
                "minute": minute,
                "sink": "mongo",
                "count": 100 + i,
                "p50_ms": p50,
                "p95_ms": p95,
                "max_ms": p95 + 10,
                "updated_at": now,
            }
        )
    old = now - timedelta(hours=2)  # outside the chart's window
    docs.append(
        {
            "_id": f"{old:%Y-%m-%dT%H:%MZ}|mongo",
            "minute": old,
            "sink": "mongo",
            "count": 1,
            "p50_ms": 999.0,
            "p95_ms": 999.0,
            "max_ms": 999.0,
            "updated_at": now,
        }
    )
    db.sink_delay_per_minute.insert_many(docs)
    provision(client, _placement(pipeline.mongo_db))
    try:
        assert series_labels(client, "live_sink_delay") == [f"{P50}, mongo", f"{P95}, mongo"]  # the legend
        rows = chart_rows(client, "live_sink_delay")  # a row per minute, a column per delay and sink
        got = {r["minute"]: (r[f"{P50}, mongo"], r[f"{P95}, mongo"]) for r in rows}
        want = {d["minute"].timestamp() * 1000: (d["p50_ms"], d["p95_ms"]) for d in docs[:3]}
        assert got == want
    finally:
        provision(client, _placement(Placement.from_env().mongo_db))


LIVE_CHARTS = ("live_events_per_minute", "live_revenue_per_minute", "live_purchases_per_view", "live_sink_delay")


def test_live_charts_on_empty_collections_show_no_rows(superset, pipeline):
    """Before the sinks wrote anything (no per-minute document yet) every live chart answers with no value,
    not with an error (the MongoDB engine made no table for an empty result: "no such table")."""
    provision(superset, _placement(pipeline.mongo_db))
    try:
        for key in LIVE_CHARTS:
            rows = chart_rows(superset, key)
            assert all(v is None for row in rows for v in row.values()), (key, rows)
    finally:
        provision(superset, _placement(Placement.from_env().mongo_db))


# the chart's time window (its TEMPORAL_RANGE filter) and the collection its dataset reads
WINDOWS = {
    "live_events_per_minute": (timedelta(hours=1), "events_per_minute"),
    "live_revenue_per_minute": (timedelta(hours=1), "events_per_minute"),
    "live_purchases_per_view": (timedelta(minutes=15), "events_per_minute"),
    "live_sink_delay": (timedelta(minutes=30), "sink_delay_per_minute"),
}


def test_live_charts_fetch_only_their_time_window_from_mongodb(superset, pipeline):
    """The window reaches MongoDB: the find command each chart sends (MongoDB's profiler records it) filters on
    `minute` from the window's start, so old per-minute documents are not fetched to be dropped by Superset."""
    db = mongo_db(pipeline.mongo_db)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for minute in (now, now - timedelta(hours=3)):
        db.events_per_minute.insert_one(
            {
                "_id": f"{minute:%Y-%m-%dT%H:%MZ}|view",
                "minute": minute,
                "event_type": "view",
                "count": 5,
                "price_cents": 0,
                "updated_at": now,
            }
        )
        db.sink_delay_per_minute.insert_one(
            {
                "_id": f"{minute:%Y-%m-%dT%H:%MZ}|mongo",
                "minute": minute,
                "sink": "mongo",
                "count": 5,
                "p50_ms": 1.0,
                "p95_ms": 2.0,
                "max_ms": 3.0,
                "updated_at": now,
            }
        )
    provision(superset, _placement(pipeline.mongo_db))
    try:
        for key, (window, collection) in WINDOWS.items():
            db.command("profile", 0)
            db.system.profile.drop()
            db.command("profile", 2)
            asked = datetime.now(UTC)
            chart_rows(superset, key)
            db.command("profile", 0)
            finds = [p["command"] for p in db.system.profile.find() if p["command"].get("find") == collection]
            assert finds, (key, list(db.system.profile.find()))
            for find in finds:
                since = find.get("filter", {}).get("minute", {}).get("$gte")
                assert since is not None, (key, find)
                since = since.replace(tzinfo=UTC)
                assert abs((asked - window) - since) < timedelta(minutes=2), (key, since, asked - window)
    finally:
        db.command("profile", 0)
        provision(superset, _placement(Placement.from_env().mongo_db))
