"""batch_job end to end: real Spark, real PostgreSQL, results checked against an independent pandas model."""

from __future__ import annotations

import csv
import os
from decimal import Decimal

import pandas as pd
import pytest

from user_events.run_report import failure_message
from user_events.schema import KPI_DAILY, KPI_HOURLY, RAW_HEADER, WAREHOUSE_TABLES
from user_events.warehouse import load
from user_events_tests import reference


def snapshot(conn, schema) -> dict[str, list]:
    out = {}
    for spec in WAREHOUSE_TABLES:
        rows = conn.execute(f'SELECT * FROM "{schema}"."{spec.name}"').fetchall()
        out[spec.name] = sorted(rows, key=repr)
    return out


def materialization(result, key: str) -> dict:
    for event in result.get_asset_materialization_events():
        if event.asset_key.to_user_string() == key:
            return event.step_materialization_data.materialization.metadata
    raise AssertionError(f"{key} not materialized")


def check_results(result) -> dict[str, bool]:
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()}


def test_batch_job_on_rees46_sample(run_batch, rees46_sample, pg_conn, pg_schema, pg_url, monkeypatch):
    from urllib.parse import urlsplit

    result = run_batch(rees46_sample)
    assert result.success, failure_message(result)
    password = urlsplit(pg_url).password
    if password:  # never in logs or metadata
        assert not any(password in str(event) for event in result.all_events)
    checks = check_results(result)
    assert len(checks) == 8 and all(checks.values()), checks  # 6 blocking checks and the 2 anomaly warnings

    events, rejected, duplicates = reference.accepted_events(rees46_sample)
    counts = load.table_counts(pg_conn, pg_schema)
    assert counts["user_events"] == len(events)
    assert counts["rejected_events"] == rejected
    typed_meta = materialization(result, "typed_events")
    assert typed_meta["duplicates_dropped"].value == duplicates
    assert typed_meta["rows_in"].value == len(events) + rejected + duplicates
    # `path` is where the data is (USER_EVENTS_BATCH_DIR), not the IO manager's pickle of the handle
    batch_dir = os.environ["USER_EVENTS_BATCH_DIR"]
    assert typed_meta["path"].value == os.path.join(batch_dir, "typed_events")
    assert materialization(result, "brand_details")["path"].value == os.path.join(batch_dir, "brand_details")

    ids = {r[0] for r in pg_conn.execute(f'SELECT event_id FROM "{pg_schema}".user_events')}
    assert ids == set(events["event_id"])

    for table, period in ((KPI_DAILY, "event_date"), (KPI_HOURLY, "event_hour")):
        want = reference.kpis(events, period)
        with pg_conn.cursor() as cur:
            cur.execute(f'SELECT * FROM "{pg_schema}"."{table.name}"')
            names = [d.name for d in cur.description]
            got = {row[0]: dict(zip(names, row, strict=False)) for row in cur}
        assert set(got) == set(want), table.name
        for key, metrics in want.items():
            reference.assert_metrics_equal(got[key], metrics, f"{table.name}[{key}]")

    want_brands = reference.brand_details(events)
    with pg_conn.cursor() as cur:
        cur.execute(f'SELECT * FROM "{pg_schema}".brand_details')
        names = [d.name for d in cur.description]
        got_brands = {row[0]: dict(zip(names, row, strict=False)) for row in cur}
    assert set(got_brands) == set(want_brands)
    for brand, want in want_brands.items():
        got = got_brands[brand]
        for name, value in want.items():
            if name in ("avg_price", "conversion_rate") and value is not None:
                assert got[name] == pytest.approx(value, rel=1e-9), (brand, name)
            else:
                assert got[name] == value, (brand, name, got[name], value)

    # the funnel's table: events per UTC hour and type, counted by pandas over the reference events
    want_by_type = {
        (pd.Timestamp(h).to_pydatetime(), t): int(n)
        for (h, t), n in events.groupby(["event_hour", "event_type"]).size().items()
    }
    got_by_type = {
        (hour, etype): n
        for hour, etype, n in pg_conn.execute(
            f'SELECT hour, event_type, events FROM "{pg_schema}".events_by_type_hourly'
        )
    }
    assert got_by_type == want_by_type

    daily_meta = materialization(result, "warehouse/kpi_daily")
    assert isinstance(daily_meta["conversion_rate"].value, float)
    assert daily_meta["events"].value == len(events)

    # a second run on the same input leaves every table exactly as it was
    first = snapshot(pg_conn, pg_schema)
    again = run_batch(rees46_sample)
    assert again.success, failure_message(again)
    assert snapshot(pg_conn, pg_schema) == first

    # a load that fails after COPY has sent data leaves the previous state
    real_write_batch = load._write_batch

    def copy_then_fail(copy, encoder, batch):
        real_write_batch(copy, encoder, batch)
        raise RuntimeError("injected failure in the middle of COPY")

    monkeypatch.setattr(load, "_write_batch", copy_then_fail)
    broken = run_batch(rees46_sample)
    assert not broken.success
    assert "injected failure" in failure_message(broken)
    assert snapshot(pg_conn, pg_schema) == first


def _write(path, text: str | bytes):
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def test_high_reject_rate_fails_the_check_before_the_warehouse(run_batch, tmp_path, pg_conn, pg_schema):
    good = "2019-11-01 00:00:00 UTC,view,1,2,,b,5.00,3,s"
    bad = "2019-11-01 00:00:00 UTC,click,1,2,,b,5.00,3,s"
    path = _write(tmp_path / "bad.csv", RAW_HEADER + "\n" + "\n".join([good, bad, bad, bad]) + "\n")
    result = run_batch(path, USER_EVENTS_MAX_REJECT_RATE="0.5")
    assert not result.success
    checks = check_results(result)
    assert checks["typed_events:typed_events_reject_rate"] is False
    evaluation = [e for e in result.get_asset_check_evaluations() if e.check_name == "typed_events_reject_rate"][0]
    assert evaluation.metadata["reject_rate"].value == 0.75
    assert "typed_events_reject_rate" in failure_message(result)
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "typed_events" in materialized
    assert not any(k.startswith("warehouse/") for k in materialized)
    exists = pg_conn.execute("SELECT to_regclass(%s)", (f'"{pg_schema}".user_events',)).fetchone()[0]
    assert exists is None  # nothing was written to PostgreSQL


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("missing.csv", None, "no raw CSV found"),
        ("empty.csv", "", "is empty"),
        ("noheader.csv", "2019-11-01 00:00:00 UTC,view,1,2,,b,5.00,3,s\n", "does not start with the header"),
        ("binary.csv", bytes(range(256)) * 8, "looks binary"),
        ("only_header.csv", RAW_HEADER + "\n", "no data rows"),
    ],
)
def test_unusable_input_ends_with_one_clear_message(run_batch, tmp_path, pg_conn, pg_schema, name, content, expected):
    path = tmp_path / name
    if content is not None:
        _write(path, content)
    result = run_batch(path)
    assert not result.success
    message = failure_message(result)
    assert expected in message and "USER_EVENTS_RAW_CSV" in message, message
    assert "Traceback" not in message and "java." not in message
    assert pg_conn.execute("SELECT to_regclass(%s)", (f'"{pg_schema}".user_events',)).fetchone()[0] is None


def test_unreachable_warehouse_is_one_clear_message_without_password(spark, rees46_sample, tmp_path, monkeypatch):
    import dagster as dg

    from user_events_tests.batch_fixtures import batch_defs

    monkeypatch.setenv("USER_EVENTS_RAW_CSV", str(rees46_sample))
    monkeypatch.setenv("USER_EVENTS_BATCH_DIR", str(tmp_path))
    url = "postgresql://someone:S3cretPassw0rd@127.0.0.1:1/nowhere"
    job = batch_defs(url, "public").resolve_job_def("batch_job")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "USER_EVENTS_PG_URL" in message and "127.0.0.1:1" in message, message
    assert "S3cretPassw0rd" not in message
    for event in result.all_events:  # nor anywhere in the run's events
        assert "S3cretPassw0rd" not in str(event)
    assert not list(tmp_path.iterdir())  # failed before any Spark work


def test_generated_dataset_rejects_match_the_generator(run_batch, tmp_path, pg_conn, pg_schema):
    from user_events.generator import write_csv

    stats = write_csv(tmp_path / "gen.csv", rows=20_000, seed=7, duplicate_rate=0.01, invalid_rate=0.01)
    result = run_batch(tmp_path / "gen.csv")
    assert result.success, failure_message(result)
    got = dict(pg_conn.execute(f'SELECT reason, count(*) FROM "{pg_schema}".rejected_events GROUP BY 1').fetchall())
    assert got == stats["invalid_by_kind"]
    events, rejected, duplicates = reference.accepted_events(tmp_path / "gen.csv")
    assert rejected == stats["invalid"]
    assert load.table_counts(pg_conn, pg_schema)["user_events"] == len(events)
    # the generated brands with quotes, commas, unicode and SQL survive verbatim
    brands = {r[0] for r in pg_conn.execute(f'SELECT DISTINCT brand FROM "{pg_schema}".user_events')}
    tricky = {b for b in events["brand"].dropna().unique() if any(ch in b for ch in "\"',;") or not b.isascii()}
    assert tricky and tricky <= brands
    revenue = pg_conn.execute(f'SELECT sum(revenue) FROM "{pg_schema}".brand_details').fetchone()[0]
    assert revenue == sum(events.loc[events["event_type"] == "purchase", "price"], Decimal("0.00"))
    with open(tmp_path / "gen.csv", newline="") as fh:
        assert sum(1 for _ in csv.reader(fh)) - 1 == stats["rows"]
