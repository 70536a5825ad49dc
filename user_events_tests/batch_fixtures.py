"""Fixtures of the batch tests: a real PostgreSQL (USER_EVENTS_PG_URL, else the embedded one) in a schema of
its own, and a runner for batch_job with test resources."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import dagster as dg
import pytest

from user_events.config import settings


@pytest.fixture(scope="session")
def pg_url():
    url = os.environ.get("USER_EVENTS_PG_URL", "").strip()
    if url:
        yield url
        return
    from user_events.warehouse.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(settings().data_dir / "embedded-pg-test")
    was_running = pg.is_running()
    yield pg.start()
    if not was_running:
        pg.stop()


@pytest.fixture()
def pg_schema(pg_url):
    """A fresh schema per test, dropped afterwards."""
    from user_events.warehouse.resources import connect

    name = f"batch_test_{uuid.uuid4().hex[:10]}"
    yield name
    with connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture()
def pg_conn(pg_url):
    from user_events.warehouse.resources import connect

    with connect(pg_url, autocommit=True) as conn:
        yield conn


def batch_defs(pg_url: str, pg_schema: str) -> dg.Definitions:
    from user_events.batch import batch_job
    from user_events.ingest.definitions import INGEST_ASSETS, INGEST_CHECKS
    from user_events.ingest.resources import BatchSettings, DataHandleIOManager, SparkResource
    from user_events.warehouse.assets import WAREHOUSE_ASSETS
    from user_events.warehouse.checks import WAREHOUSE_CHECKS
    from user_events.warehouse.resources import PostgresResource

    return dg.Definitions(
        assets=INGEST_ASSETS + WAREHOUSE_ASSETS,
        asset_checks=INGEST_CHECKS + WAREHOUSE_CHECKS,
        jobs=[batch_job],
        resources={
            "io_manager": DataHandleIOManager(),
            "spark": SparkResource(master=os.environ.get("USER_EVENTS_TEST_SPARK_MASTER", "local[2]")),
            "batch": BatchSettings(),
            "warehouse": PostgresResource(url=pg_url, pg_schema=pg_schema),
        },
    )


@pytest.fixture()
def run_batch(spark, pg_url, pg_schema, tmp_path, monkeypatch):
    """run_batch(raw_csv, **env) -> ExecuteInProcessResult of batch_job (raise_on_error=False)."""
    monkeypatch.setenv("USER_EVENTS_BATCH_DIR", str(tmp_path / "batch"))
    instance = dg.DagsterInstance.ephemeral()

    def _run(raw_csv: str | Path, **env):
        monkeypatch.setenv("USER_EVENTS_RAW_CSV", str(raw_csv))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        job = batch_defs(pg_url, pg_schema).resolve_job_def("batch_job")
        return job.execute_in_process(instance=instance, raise_on_error=False)

    return _run
