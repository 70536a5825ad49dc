"""Helpers of the dashboard tests: the provisioned charts' data through Superset's chart data API.

A chart's rows come from `GET /api/v1/chart/<id>/data/`, which runs the query context the chart is saved
with (the one the dashboard, CSV export and reports use), so what the tests compare is what the chart asks
Superset for; the expected values come from plain SQL / pandas, never from the bundle.
"""

from __future__ import annotations

import json
import os
import uuid
from urllib.parse import urlsplit

import pytest
import yaml

from user_events.dashboards.provision import BUNDLE_DIR, Placement, SupersetClient

NS = uuid.UUID("6f1d0e4a-3b6c-4f59-9a55-0c7e2d1b8a10")  # the bundle's UUIDs are uuid5(NS, "<kind>.<key>")


def bundle_uuid(kind: str, key: str) -> str:
    return str(uuid.uuid5(NS, f"{kind}.{key}"))


def superset_client() -> SupersetClient:
    missing = [
        v
        for v in ("USER_EVENTS_SUPERSET_URL", "USER_EVENTS_SUPERSET_USER", "USER_EVENTS_SUPERSET_PASSWORD")
        if not os.environ.get(v)
    ]
    if missing:
        pytest.fail(f"Superset not configured ({', '.join(missing)} unset): run `make services-up` first")
    return SupersetClient(
        os.environ["USER_EVENTS_SUPERSET_URL"],
        os.environ["USER_EVENTS_SUPERSET_USER"],
        os.environ["USER_EVENTS_SUPERSET_PASSWORD"],
    )


def chart_by_uuid(client: SupersetClient, key: str) -> dict:
    """The stored chart (id, params, datasource) provisioned from charts/<key>.yaml."""
    wanted = bundle_uuid("ch", key)
    for c in client.list_all("chart", ("id", "uuid", "slice_name")):
        if c.get("uuid") == wanted:
            chart = client.get(f"/api/v1/chart/{c['id']}")["result"]
            chart["params"] = json.loads(chart["params"])
            return chart
    raise AssertionError(f"chart {key} ({wanted}) is not in Superset")


def dashboard_charts(client: SupersetClient, slug: str) -> list[dict]:
    """The charts Superset lists on the dashboard (`GET /api/v1/dashboard/<slug>/charts`)."""
    return client.get(f"/api/v1/dashboard/{slug}/charts")["result"]


def saved_chart_data(client: SupersetClient, chart_id: int, force: bool = True) -> dict:
    """The chart's first result as `GET /api/v1/chart/<id>/data/` answers it: the chart's own saved query
    context, as the API, CSV export and reports run it (`force`: not from Superset's result cache)."""
    params = {"force": "true"} if force else {}
    return client.get(f"/api/v1/chart/{chart_id}/data/", **params)["result"][0]


def chart_rows(client: SupersetClient, key: str) -> list[dict]:
    """The rows of the chart provisioned from charts/<key>.yaml, through its saved query context."""
    return saved_chart_data(client, chart_by_uuid(client, key)["id"])["data"]


def dataset_labels(client: SupersetClient, dataset_id: int) -> dict[str, str]:
    """The dataset's verbose names: metric or column name -> the label Superset shows for it."""
    dataset = client.get(f"/api/v1/dataset/{dataset_id}")["result"]
    names = {m["metric_name"]: m.get("verbose_name") for m in dataset["metrics"]}
    names.update({c["column_name"]: c.get("verbose_name") for c in dataset["columns"]})
    return {name: label for name, label in names.items() if label}


def series_labels(client: SupersetClient, key: str) -> list[str]:
    """What the chart labels its series (legend) or columns (table header) with: the columns of its saved
    query's result, the x axis left out, through the dataset's verbose names, as Superset's frontend maps
    them (a whole column name only: "<metric>, <group>" of a grouped chart keeps the metric's own name)."""
    chart = chart_by_uuid(client, key)
    labels = dataset_labels(client, int(chart["params"]["datasource"].split("__")[0]))
    colnames = saved_chart_data(client, chart["id"])["colnames"]
    return [labels.get(c, c) for c in colnames if c != chart["params"].get("x_axis")]


def _database_uri(client: SupersetClient, bundle_file: str) -> str:
    name = yaml.safe_load((BUNDLE_DIR / "databases" / bundle_file).read_text())["database_name"]
    found = {d["database_name"]: d["id"] for d in client.list_all("database", ("id", "database_name"))}
    return client.get(f"/api/v1/database/{found[name]}/connection")["result"]["sqlalchemy_uri"]


def current_placement(client: SupersetClient) -> Placement:
    """Where the provisioned dashboards read now (to put them back after a test provisioned them elsewhere)."""
    warehouse = urlsplit(_database_uri(client, "warehouse.yaml"))
    live = urlsplit(_database_uri(client, "live.yaml"))
    schemas = {d["table_name"]: d["schema"] for d in client.list_all("dataset", ("table_name", "schema"))}
    return Placement(
        pg_host=warehouse.hostname,
        pg_port=warehouse.port,
        pg_db=warehouse.path.lstrip("/"),
        pg_schema=schemas["kpi_daily"],
        mongo_host=live.hostname,
        mongo_port=live.port,
        mongo_db=live.path.lstrip("/"),
    )
