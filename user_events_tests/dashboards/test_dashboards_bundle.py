"""The bundle as built for the import API (pure logic): placeholders filled from the environment's host, port
and names only, never a password; one top-level folder; every object with a UUID of its own."""

from __future__ import annotations

import io
import zipfile

import pytest
import yaml

from user_events.dashboards.provision import BUNDLE_ROOT, Placement, build_bundle, bundle_files
from user_events.dashboards.query_context import stale_charts

pytestmark = pytest.mark.unit

ENV = {
    "USER_EVENTS_PG_URL": "postgresql://user_events:owner-secret-1@db.internal:6543/warehouse",
    "USER_EVENTS_PG_SCHEMA": "analytics",
    "USER_EVENTS_MONGO_URI": "mongodb://live.internal:27018/",
    "USER_EVENTS_MONGO_DB": "events_live",
}


def _members() -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(build_bundle(Placement.from_env(ENV)))) as zf:
        return {name: zf.read(name).decode() for name in zf.namelist()}


def test_placement_takes_host_port_and_names_but_never_the_password():
    placement = Placement.from_env(ENV)
    assert (placement.pg_host, placement.pg_port, placement.pg_db, placement.pg_schema) == (
        "db.internal",
        6543,
        "warehouse",
        "analytics",
    )
    assert (placement.mongo_host, placement.mongo_port, placement.mongo_db) == ("live.internal", 27018, "events_live")
    members = _members()
    assert all("owner-secret-1" not in text and "${" not in text for text in members.values())
    warehouse = yaml.safe_load(members[f"{BUNDLE_ROOT}/databases/warehouse.yaml"])
    assert warehouse["sqlalchemy_uri"] == "postgresql+psycopg2://user_events_reader@db.internal:6543/warehouse"
    live = yaml.safe_load(members[f"{BUNDLE_ROOT}/databases/live.yaml"])
    assert live["sqlalchemy_uri"] == "mongodb://live.internal:27018/events_live?mode=superset"
    kpi = yaml.safe_load(members[f"{BUNDLE_ROOT}/datasets/warehouse/kpi_daily.yaml"])
    assert kpi["schema"] == "analytics"


def test_bundle_has_one_root_folder_and_unique_uuids():
    members = _members()
    assert {name.split("/", 1)[0] for name in members} == {BUNDLE_ROOT}
    assert len(members) == len(bundle_files())
    uuids = [yaml.safe_load(text).get("uuid") for name, text in members.items() if not name.endswith("metadata.yaml")]
    assert len(uuids) == len(set(uuids)) and None not in uuids


def test_every_dashboard_chart_is_placed_and_every_chart_file_is_on_a_dashboard():
    members = _members()
    charts = {yaml.safe_load(t)["uuid"] for n, t in members.items() if "/charts/" in n}
    placed = set()
    for name, text in members.items():
        if "/dashboards/" in name:
            position = yaml.safe_load(text)["position"]
            placed |= {
                node["meta"]["uuid"]
                for node in position.values()
                if isinstance(node, dict) and node.get("type") == "CHART"
            }
    assert placed == charts


def test_every_chart_is_saved_with_the_query_context_its_params_call_for():
    """Superset's chart data API (and CSV export, reports) runs a chart's saved query context: each chart file
    carries the one its params call for (`python -m user_events.dashboards.query_context` writes them)."""
    assert stale_charts() == [], "run `python -m user_events.dashboards.query_context`"
