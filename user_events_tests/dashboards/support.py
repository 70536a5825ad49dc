"""Helpers of the dashboard tests: the provisioned charts' own queries sent to Superset's chart data API.

A chart's query is built from the chart's saved params as Superset stores them (read back over the REST
API after provisioning), so what the tests compare is what the chart asks Superset for; the expected values
come from plain SQL / pandas, never from the bundle.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest

from user_events.dashboards.provision import SupersetClient

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


def _time_filters(params: dict) -> list[dict]:
    return [
        {"col": f["subject"], "op": "TEMPORAL_RANGE", "val": f["comparator"]}
        for f in params.get("adhoc_filters", [])
        if f.get("operator") == "TEMPORAL_RANGE"
    ]


def _other_filters(params: dict) -> list[dict]:
    return [
        {"col": f["subject"], "op": f["operator"], "val": f["comparator"]}
        for f in params.get("adhoc_filters", [])
        if f.get("operator") not in ("TEMPORAL_RANGE",)
    ]


def _aggregate_orderby(params: dict, metrics: list) -> list:
    """The order the frontend's buildQuery asks for: the chart's `order_by_cols` (any chart); a funnel orders
    by its metric only with `sort_by_metric` (else as `order_by_cols` say, or not at all); the aggregate
    tables (`timeseries_limit_metric`, `order_desc`) by their metric, descending."""
    explicit = [json.loads(o) for o in params.get("order_by_cols", [])]
    if params.get("viz_type") == "funnel":
        return [[metrics[0], False]] if params.get("sort_by_metric") else explicit
    return explicit or [[metrics[0], False]]


def chart_query(chart: dict) -> dict:
    """The chart data request of the chart's params (the shape the dashboard's frontend sends)."""
    p = chart["params"]
    datasource = {"id": int(p["datasource"].split("__")[0]), "type": "table"}
    query: dict = {
        "filters": _time_filters(p) + _other_filters(p),
        "extras": {"having": "", "where": ""},
        "row_limit": p.get("row_limit", 10000),
    }
    if p.get("x_axis"):
        axis = {
            "columnType": "BASE_AXIS",
            "sqlExpression": p["x_axis"],
            "label": p["x_axis"],
            "expressionType": "SQL",
            "timeGrain": p.get("time_grain_sqla"),
        }
        query["columns"] = [axis] + list(p.get("groupby", []))
        query["metrics"] = p.get("metrics") or [p["metric"]]
        query["orderby"] = [[axis["label"], True]]
        query["is_timeseries"] = False
    elif p.get("query_mode") == "raw":
        query["columns"] = p["all_columns"]
        query["orderby"] = [json.loads(o) for o in p.get("order_by_cols", [])]
    else:
        query["columns"] = list(p.get("groupby", []))
        query["metrics"] = p.get("metrics") or [p["metric"]]
        query["orderby"] = _aggregate_orderby(p, query["metrics"])
    return {"datasource": datasource, "queries": [query], "result_format": "json", "result_type": "full", "force": True}


def chart_rows(client: SupersetClient, key: str) -> list[dict]:
    return client.chart_data(chart_query(chart_by_uuid(client, key)))
