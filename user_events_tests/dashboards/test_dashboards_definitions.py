"""The dashboards in the code location: lineage from the warehouse tables and MongoDB collections, the job,
and a clear failure (nothing else broken) where Superset is not configured."""

from __future__ import annotations

import os

import dagster as dg

from user_events.asset_keys import mongo_collection, warehouse_table
from user_events.dashboards.assets import superset_dashboards
from user_events.dashboards.resources import NOT_CONFIGURED, SupersetResource
from user_events.warehouse.resources import PostgresResource


def _ancestors(graph, key: dg.AssetKey) -> set[dg.AssetKey]:
    seen, todo = set(), [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen and graph.has(parent):
                seen.add(parent)
                todo.append(parent)
    return seen


def test_dashboards_are_downstream_of_what_they_read():
    from user_events.definitions import defs

    graph = defs.resolve_asset_graph()
    kpis, live = dg.AssetKey(["dashboards", "kpis"]), dg.AssetKey(["dashboards", "live"])
    assert {
        warehouse_table(t) for t in ("kpi_daily", "kpi_hourly", "brand_details", "rejected_events", "user_events")
    } <= graph.get(kpis).parent_keys
    assert {mongo_collection(c) for c in ("events_per_minute", "sink_delay_per_minute", "sink_status")} <= graph.get(
        live
    ).parent_keys
    assert graph.get(kpis).group_name == graph.get(live).group_name == "dashboards"
    # the warehouse tables chain back to the raw CSV: typed_events is among the KPI dashboard's ancestors
    assert dg.AssetKey("typed_events") in _ancestors(graph, kpis)
    assert defs.resolve_job_def("dashboards_job") is not None
    assert defs.resolve_job_def("batch_job").asset_layer.selected_asset_keys.isdisjoint({kpis, live})


def test_materialising_without_superset_says_it_is_not_configured():
    result = dg.materialize(
        [superset_dashboards],
        raise_on_error=False,
        resources={
            "superset": SupersetResource(),
            "warehouse": PostgresResource(url=os.environ.get("USER_EVENTS_PG_URL")),
        },
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "Superset is not configured" in failure.step_failure_data.error.message or NOT_CONFIGURED in str(
        failure.step_failure_data.user_failure_data.description
    )
