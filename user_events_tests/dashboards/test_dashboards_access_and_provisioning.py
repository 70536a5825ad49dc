"""Least privilege and provisioning as code: the reader role may only SELECT in the warehouse schema; no
password is in the dashboard files, Superset's metadata database or its log; provisioning is idempotent
and an edited chart file updates the chart."""

from __future__ import annotations

import shutil
import sqlite3
from urllib.parse import urlsplit

import psycopg
import pytest

from user_events.config import PROJECT_ROOT
from user_events.dashboards.provision import BUNDLE_DIR, DASHBOARD_SLUGS, Placement, bundle_files, provision
from user_events.devservices.core import State, services_dir
from user_events.devservices.postgres import READER_PASSWORD_SECRET
from user_events.warehouse.access import READER_ROLE
from user_events_tests.dashboards.support import bundle_uuid


def _reader_password() -> str:
    return State().data["secrets"][READER_PASSWORD_SECRET]


def _reader_conn(warehouse_url: str, dbname: str | None = None):
    u = urlsplit(warehouse_url)
    return psycopg.connect(
        host=u.hostname,
        port=u.port,
        dbname=dbname or u.path.lstrip("/"),
        user=READER_ROLE,
        password=_reader_password(),
        autocommit=True,
        connect_timeout=10,
    )


STATEMENTS = {
    "INSERT": "INSERT INTO {s}.kpi_daily (day) VALUES ('2030-01-01')",
    "UPDATE": "UPDATE {s}.kpi_daily SET orders = 0",
    "DELETE": "DELETE FROM {s}.brand_details",
    "DROP": "DROP TABLE {s}.kpi_daily",
    "CREATE": "CREATE TABLE {s}.intruder (x int)",
    "CREATE in public": "CREATE TABLE public.intruder (x int)",
    "CREATE SCHEMA": "CREATE SCHEMA intruder",
    "TRUNCATE": "TRUNCATE {s}.rejected_events",
}


@pytest.mark.parametrize("what", list(STATEMENTS))
def test_reader_role_is_denied_every_write(kpi_warehouse, what):
    with _reader_conn(kpi_warehouse.pg_url) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied|must be owner"):
            conn.execute(STATEMENTS[what].format(s=f'"{kpi_warehouse.schema}"'))


def test_reader_role_reads_the_warehouse_including_tables_created_later(kpi_warehouse):
    with psycopg.connect(kpi_warehouse.pg_url, autocommit=True) as owner:
        owner.execute(f'CREATE TABLE "{kpi_warehouse.schema}".created_later AS SELECT 42 AS answer')
    with _reader_conn(kpi_warehouse.pg_url) as conn:
        assert conn.execute(f'SELECT count(*) FROM "{kpi_warehouse.schema}".kpi_daily').fetchone()[0] >= 1
        assert conn.execute(f'SELECT answer FROM "{kpi_warehouse.schema}".created_later').fetchone() == (42,)


def test_reader_role_cannot_reach_the_dagster_database(warehouse_url):
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        _reader_conn(warehouse_url, dbname="dagster").close()


def _secrets(warehouse_url: str) -> dict[str, str]:
    return {"reader password": _reader_password(), "warehouse owner password": urlsplit(warehouse_url).password}


def test_no_database_password_in_the_dashboard_files_or_superset_metadata(kpi_warehouse, warehouse_url):
    secrets = _secrets(warehouse_url)
    files = bundle_files() + sorted((PROJECT_ROOT / "user_events" / "dashboards" / "server").glob("*.py"))
    files += sorted((PROJECT_ROOT / "docker").rglob("*"))
    for path in (p for p in files if p.is_file()):
        text = path.read_text(errors="replace")
        for what, value in secrets.items():
            assert value not in text, f"{what} found in {path}"
    superset_dir = services_dir() / "superset"
    for path in (superset_dir / "superset.db", superset_dir / "superset.log"):
        blob = path.read_bytes()
        for what, value in secrets.items():
            assert value.encode() not in blob, f"{what} found in {path}"
    with sqlite3.connect(f"file:{superset_dir / 'superset.db'}?mode=ro", uri=True) as db:
        uris = [r[0] for r in db.execute("SELECT sqlalchemy_uri FROM dbs")]
        stored = [r[0] for r in db.execute("SELECT password FROM dbs")]
        logged = db.execute(
            "SELECT count(*) FROM logs WHERE json LIKE ?", (f"%{secrets['reader password']}%",)
        ).fetchone()[0]
    assert uris and all(
        "@" in u and ":" not in u.split("://", 1)[1].split("@")[0] for u in uris if u.startswith("postgresql")
    ), uris
    assert all(p is None for p in stored), "a database password is stored (encrypted) in Superset's metadata"
    assert logged == 0


def _counts(client) -> dict[str, int]:
    return {
        "dashboards": sum(1 for d in client.list_all("dashboard", ("slug",)) if d.get("slug") in DASHBOARD_SLUGS),
        "charts": len(client.list_all("chart", ("id",))),
        "datasets": len(client.list_all("dataset", ("id",))),
        "databases": len(client.list_all("database", ("id",))),
    }


def test_provisioning_twice_leaves_one_of_each_and_an_edited_chart_is_updated(kpi_warehouse, tmp_path):
    client = kpi_warehouse.client
    placement = Placement(**{**Placement.from_env().__dict__, "pg_schema": kpi_warehouse.schema})
    n_charts = len(list((BUNDLE_DIR / "charts").glob("*.yaml")))
    n_datasets = len(list((BUNDLE_DIR / "datasets").rglob("*.yaml")))
    provision(client, placement)
    provision(client, placement)
    assert _counts(client) == {"dashboards": 2, "charts": n_charts, "datasets": n_datasets, "databases": 2}
    uuids = {c["uuid"] for c in client.list_all("chart", ("uuid",))}
    assert bundle_uuid("ch", "tile_conversion_rate") in uuids

    edited = tmp_path / "bundle"
    shutil.copytree(BUNDLE_DIR, edited)
    chart = edited / "charts" / "tile_conversion_rate.yaml"
    chart.write_text(chart.read_text().replace("slice_name: Conversion rate", "slice_name: Conversion rate (edited)"))
    try:
        provision(client, placement, bundle_dir=edited)
        titles = {c["uuid"]: c["slice_name"] for c in client.list_all("chart", ("uuid", "slice_name"))}
        assert titles[bundle_uuid("ch", "tile_conversion_rate")] == "Conversion rate (edited)"
        assert _counts(client)["charts"] == n_charts
    finally:
        provision(client, placement)
    titles = {c["uuid"]: c["slice_name"] for c in client.list_all("chart", ("uuid", "slice_name"))}
    assert titles[bundle_uuid("ch", "tile_conversion_rate")] == "Conversion rate"
