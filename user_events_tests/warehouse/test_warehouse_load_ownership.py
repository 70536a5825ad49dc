"""Which load owns which rows: no route deletes rows that nothing replaces (issue 9, defect 1).

Real PostgreSQL, Kafka, S3 (SeaweedFS) and Spark. One isolated pipeline (topic, schema, lake and batch
directories): the batch job loads three hours; the hourly routes run against a lake that holds nothing, then
against a lake that holds a part of the same events plus new ones. Expected rows and KPIs come from pandas over
the CSVs (user_events_tests.reference), never from the code under test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from user_events.warehouse.resources import connect
from user_events_tests import reference
from user_events_tests.lake.test_lake_hourly import (
    ASSETS,
    HOUR_STARTS,
    HOURS,
    cli,
    hour_job_args,
    isolated_pipeline,
    load_hour,
    materialize_args,
    restamped_sample,
)
from user_events_tests.lake.test_lake_hourly import run_cli as ok_cli
from user_events_tests.streaming.support import require_services

RAW_HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"


@pytest.fixture(autouse=True)
def _services():
    require_services("USER_EVENTS_KAFKA_BOOTSTRAP", "USER_EVENTS_S3_ENDPOINT", "USER_EVENTS_PG_URL")


@pytest.fixture(scope="module")
def owned_env(tmp_path_factory):
    yield from isolated_pipeline(
        tmp_path_factory, "owner_test", USER_EVENTS_BATCH_DIR=str(tmp_path_factory.mktemp("batch"))
    )


def pg(sql: str, params=None) -> list[tuple]:
    with connect(os.environ["USER_EVENTS_PG_URL"], autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def snapshot(schema: str) -> dict[str, list]:
    return {
        "user_events": pg(f'SELECT event_id FROM "{schema}".user_events ORDER BY 1'),
        "kpi_hourly": pg(f'SELECT * FROM "{schema}".kpi_hourly ORDER BY 1'),
        "kpi_daily": pg(f'SELECT * FROM "{schema}".kpi_daily ORDER BY 1'),
        "rejected_events": pg(f'SELECT reason, source FROM "{schema}".rejected_events ORDER BY 1, 2'),
    }


def assert_kpis_describe_user_events(schema: str, events: pd.DataFrame) -> None:
    """kpi_hourly / kpi_daily equal the pandas KPIs of exactly `events`, which are exactly user_events' rows."""
    stored = {r[0] for r in pg(f'SELECT event_id FROM "{schema}".user_events')}
    assert stored == set(events["event_id"]), "user_events holds exactly the expected events, each once"
    for table, period in (("kpi_hourly", "event_hour"), ("kpi_daily", "event_date")):
        with connect(os.environ["USER_EVENTS_PG_URL"], autocommit=True) as conn:
            cur = conn.execute(f'SELECT * FROM "{schema}".{table} ORDER BY 1')
            names = [d.name for d in cur.description]
            actual = {r[0]: dict(zip(names, r, strict=False)) for r in cur.fetchall()}
        want = reference.kpis(events, period)
        assert set(actual) == set(want), f"{table} periods"
        for p, metrics in want.items():
            reference.assert_metrics_equal(actual[p], metrics, f"{table}[{p}]")


def run_batch(csv_path: Path) -> None:
    import dagster as dg

    from user_events.definitions import defs

    os.environ["USER_EVENTS_RAW_CSV"] = str(csv_path)
    try:
        with dg.instance_for_test() as instance:
            assert defs.resolve_job_def("batch_job").execute_in_process(instance=instance).success
    finally:
        os.environ.pop("USER_EVENTS_RAW_CSV", None)


@pytest.fixture(scope="module")
def batch_loaded(owned_env, rees46_sample, tmp_path_factory):
    csv_path = restamped_sample(rees46_sample, tmp_path_factory.mktemp("batch_input") / "restamped.csv")
    run_batch(csv_path)
    events, _rejected, _dups = reference.accepted_events(csv_path)
    schema = owned_env["USER_EVENTS_PG_SCHEMA"]
    assert_kpis_describe_user_events(schema, events)
    return csv_path, events


def test_hour_job_on_an_empty_lake_changes_nothing_and_fails_clearly(owned_env, batch_loaded):
    schema = owned_env["USER_EVENTS_PG_SCHEMA"]
    before = snapshot(schema)
    proc = cli(*hour_job_args(HOURS[0]))
    assert proc.returncode != 0, "loading an hour the lake has no objects for must not report success"
    assert "no lake objects" in proc.stdout + proc.stderr
    assert snapshot(schema) == before


def test_load_assets_before_typed_events_change_nothing(owned_env, batch_loaded):
    """docs/lake.md's UI route (Materialize the load over a range) before hourly_typed_events ever ran."""
    schema = owned_env["USER_EVENTS_PG_SCHEMA"]
    before = snapshot(schema)
    proc = cli(*materialize_args("hourly_user_events,hourly_kpis"))
    assert proc.returncode != 0
    assert "hourly_typed_events" in proc.stdout + proc.stderr
    assert snapshot(schema) == before


def test_batch_and_lake_rows_coexist_each_event_once(owned_env, batch_loaded, tmp_path):
    """Hour 1 arrives through the lake too (its batch events plus two new ones): the hourly load adds the new
    events and keeps the batch's; reloading the batch keeps the lake's; KPIs always describe user_events."""
    schema = owned_env["USER_EVENTS_PG_SCHEMA"]
    csv_path, batch_events = batch_loaded
    hour1_events = batch_events[batch_events["event_hour"] == HOUR_STARTS[1]]
    lines = Path(csv_path).read_text().splitlines()[1:]
    hour1_lines = [line for line in lines if line.startswith("2019-11-01 01:")]
    extra = [
        "2019-11-01 01:10:00 UTC,purchase,4242,2053013555631882655,,lake-only,12.34,777000777,lake-session",
        "2019-11-01 01:20:00 UTC,view,4243,2053013555631882655,,lake-only,1.00,777000778,lake-session-2",
    ]
    lake_csv = tmp_path / "lake.csv"
    lake_csv.write_text(RAW_HEADER + "\n".join(hour1_lines[: len(hour1_lines) // 2] + extra) + "\n")
    ok_cli("user-events", "simulate", "--from-csv", str(lake_csv), "--time-mode", "replay", "--rate", "0")
    ok_cli("user-events", "sink", "s3", "--until-idle", "3")
    lake_events, _r, _d = reference.accepted_events(lake_csv)
    assert len(lake_events) > len(extra)
    union = pd.concat([batch_events, lake_events]).drop_duplicates("event_id").reset_index(drop=True)
    assert len(union) == len(batch_events) + len(extra)

    load_hour(HOURS[1])
    assert_kpis_describe_user_events(schema, union)
    assert pg(f"SELECT count(*) FROM \"{schema}\".user_events WHERE brand = 'lake-only'") == [(2,)]
    assert (
        len(hour1_events) + 2
        == pg(f'SELECT count(*) FROM "{schema}".user_events WHERE event_hour = %s', (HOUR_STARTS[1],))[0][0]
    )

    run_batch(csv_path)  # the batch again: its rows replaced, the lake's kept, nothing twice
    assert_kpis_describe_user_events(schema, union)

    load_hour(HOURS[1])  # the hour again: unchanged
    assert_kpis_describe_user_events(schema, union)


def test_range_over_hours_without_lake_objects_leaves_them_and_says_so(owned_env, batch_loaded):
    """A range run of the whole hourly path over hours 0–2 while the lake holds hour 1 only (from the test
    above): hours 0 and 2 keep the batch's rows, and each of their partitions carries an observation saying
    it was left as it was (a single-run range materialises every hour of the range at once)."""
    import dagster as dg

    schema = owned_env["USER_EVENTS_PG_SCHEMA"]
    csv_path, batch_events = batch_loaded
    hour0_and_2 = (HOUR_STARTS[0], HOUR_STARTS[2])
    sql = f'SELECT event_id FROM "{schema}".user_events WHERE event_hour IN (%s, %s) ORDER BY 1'
    before = pg(sql, hour0_and_2)
    assert len(before) == int(batch_events["event_hour"].isin(hour0_and_2).sum())
    ok_cli(*materialize_args(ASSETS))
    assert pg(sql, hour0_and_2) == before
    with dg.DagsterInstance.get() as instance:
        for key in ("hourly_typed_events", "hourly_user_events", "hourly_kpis"):
            records = instance.fetch_observations(dg.AssetKey(key), limit=50).records
            left = {r.partition_key for r in records if "left_as_it_was" in r.asset_observation.metadata}
            assert left == {HOURS[0], HOURS[2]}, key
