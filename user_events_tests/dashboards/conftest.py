"""Fixtures of the dashboard tests: the local Superset of `make services-up`, and a warehouse schema of the
tests' own loaded by the real batch_job from the real-shaped sample (plus a few invalid rows, so the
data-quality chart has something to count), provisioned through the `superset_dashboards` asset."""

from __future__ import annotations

import csv
import io
import os
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from user_events.dashboards.assets import superset_dashboards
from user_events.dashboards.provision import Placement, SupersetClient, provision
from user_events.dashboards.resources import SupersetResource
from user_events.warehouse.resources import PostgresResource, connect
from user_events_tests.dashboards.support import superset_client

BAD_ROWS = [  # three rows validation refuses, for two reasons at least
    "2019-11-01 05:00:00 UTC,teleport,1003461,2053013555631882655,,xiaomi,489.07,520088904,bad-1",
    "2019-11-01 05:00:01 UTC,view,1003461,2053013555631882655,,xiaomi,-1.00,520088904,bad-2",
    "2019-11-01 05:00:02 UTC,view,1003461,2053013555631882655,,xiaomi,-2.50,520088904,bad-3",
]


def purchases_outnumbering_carts(sample: str) -> list[str]:
    """Valid purchase rows (each its own session) to add when the sample's purchases do not outnumber its carts,
    so the funnel's counts are never already in stage order and the tests see the chart keep stage order. The
    shared REES46 sample has them so (its carts happened before its window); a generated sample has not."""
    types = Counter(row[1] for row in {tuple(row) for row in csv.reader(io.StringIO(sample))})  # as loaded: distinct
    missing = max(0, types["cart"] - types["purchase"] + 1)
    return [
        f"2019-11-01 05:10:00 UTC,purchase,1003461,2053013555631882655,,xiaomi,489.07,{600000000 + i},extra-{i}"
        for i in range(missing)
    ]


@dataclass
class ProvisionedWarehouse:
    pg_url: str
    schema: str
    client: SupersetClient
    result: dg.ExecuteInProcessResult

    def sql(self, query: str, params=()) -> list[tuple]:
        with connect(self.pg_url, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{self.schema}"')
            return conn.execute(query, params).fetchall()


def superset_resource() -> SupersetResource:
    return SupersetResource(
        url=os.environ["USER_EVENTS_SUPERSET_URL"],
        username=os.environ["USER_EVENTS_SUPERSET_USER"],
        password=os.environ["USER_EVENTS_SUPERSET_PASSWORD"],
    )


def materialize_dashboards(warehouse_url: str, schema: str) -> dg.ExecuteInProcessResult:
    """The `superset_dashboards` asset materialised on `schema` (provisioning, as a user runs it after a load)."""
    result = dg.materialize(
        [superset_dashboards],
        resources={"superset": superset_resource(), "warehouse": PostgresResource(url=warehouse_url, pg_schema=schema)},
    )
    assert result.success
    return result


@pytest.fixture(scope="session")
def superset() -> SupersetClient:
    return superset_client()


@pytest.fixture(scope="session")
def warehouse_url() -> str:
    url = os.environ.get("USER_EVENTS_PG_URL")
    if not url:
        pytest.fail("USER_EVENTS_PG_URL unset: run `make services-up` first (the reader role lives there)")
    return url


@pytest.fixture(scope="session")
def kpi_warehouse(rees46_sample, warehouse_url, superset, tmp_path_factory) -> ProvisionedWarehouse:
    from user_events_tests.batch_fixtures import batch_defs

    schema = f"dash_test_{uuid.uuid4().hex[:8]}"
    tmp = tmp_path_factory.mktemp("dashboards")
    csv_path = tmp / "sample_with_rejects.csv"
    sample = Path(rees46_sample).read_text().rstrip("\n")
    extra = purchases_outnumbering_carts(sample)
    csv_path.write_text(sample + "\n" + "\n".join(extra + BAD_ROWS) + "\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("USER_EVENTS_BATCH_DIR", str(tmp / "batch"))
        mp.setenv("USER_EVENTS_RAW_CSV", str(csv_path))
        job = batch_defs(warehouse_url, schema).resolve_job_def("batch_job")
        batch = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
        assert batch.success, "batch_job failed on the real-shaped sample"
        result = materialize_dashboards(warehouse_url, schema)
    yield ProvisionedWarehouse(warehouse_url, schema, superset, result)
    with connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    provision(superset, Placement.from_env())  # the local dashboards back on the configured schema
