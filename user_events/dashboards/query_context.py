"""Each chart's `query_context`: the chart data request Superset's frontend builds from the chart's params.

Superset answers `GET /api/v1/chart/<id>/data/` (and CSV export, and reports) only for a chart saved with a
query context, which its frontend writes when a person saves the chart in Explore. The bundle's charts are
never saved that way, so `python -m user_events.dashboards.query_context` writes it into every
`bundle/charts/*.yaml` from the chart's `params`, and a test fails when a chart's params and its query
context disagree. The params stay the one home of what a chart shows; the query context is derived.

The requests below are the frontend's own (Superset 6.1's buildQuery of each chart type, as a dashboard
sends them), for the chart types the bundle uses. The datasource is a placeholder: the dataset's id is known
only in the Superset that imports the bundle, and the importer replaces `datasource` in the query context,
in its form data and in each query with the imported dataset's (superset/commands/utils.py,
`update_chart_config_dataset`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from user_events.dashboards.provision import BUNDLE_DIR

CHARTS_DIR = BUNDLE_DIR / "charts"
PLACEHOLDER_DATASOURCE = {"id": 0, "type": "table"}
QUERY_CONTEXT_KEY = "query_context:"
GENERATED_NOTE = "# query_context: generated from params by `python -m user_events.dashboards.query_context`\n"


def query_context(params: dict) -> dict:
    """The query context Superset saves for a chart of these params (its datasource a placeholder)."""
    build = QUERY_BUILDERS.get(params["viz_type"])
    if build is None:
        raise ValueError(f"no query context builder for viz_type {params['viz_type']!r}: add one here")
    return {
        "datasource": PLACEHOLDER_DATASOURCE,
        "force": False,
        "queries": [{**common_query(params), **build(params)}],
        "form_data": {**params, "datasource": "{id}__{type}".format(**PLACEHOLDER_DATASOURCE)},
        "result_format": "json",
        "result_type": "full",
    }


def common_query(params: dict) -> dict:
    """What every chart type's query carries: its filters, the time grain, the fixed defaults."""
    extras = {"having": "", "where": ""}
    if params.get("time_grain_sqla"):
        extras = {"time_grain_sqla": params["time_grain_sqla"], **extras}
    query = {
        "filters": [simple_filter(f) for f in params.get("adhoc_filters", [])],
        "extras": extras,
        "applied_time_extras": {},
        "annotation_layers": [],
        "series_limit": 0,
        "group_others_when_limit_reached": False,
        "order_desc": True,
        "url_params": {},
        "custom_params": {},
        "custom_form_data": {},
    }
    if "row_limit" in params:
        query["row_limit"] = params["row_limit"]
    return query


def simple_filter(adhoc: dict) -> dict:
    if adhoc.get("expressionType") != "SIMPLE":  # custom SQL filters go into extras: not built here yet
        raise ValueError(f"only SIMPLE adhoc filters are supported, not {adhoc}")
    return {"col": adhoc["subject"], "op": adhoc["operator"], "val": adhoc["comparator"]}


def x_axis_column(params: dict) -> dict:
    return {
        "timeGrain": params.get("time_grain_sqla"),
        "columnType": "BASE_AXIS",
        "sqlExpression": params["x_axis"],
        "label": params["x_axis"],
        "expressionType": "SQL",
        "isColumnReference": True,
    }


def pivot_by_x_axis(params: dict, metrics: list[str], drop_missing_columns: bool) -> dict:
    return {
        "operation": "pivot",
        "options": {
            "index": [params["x_axis"]],
            "columns": list(params.get("groupby", [])),
            "aggregates": {m: {"operator": "mean"} for m in metrics},
            "drop_missing_columns": drop_missing_columns,
        },
    }


def timeseries_query(params: dict) -> dict:
    """Line and bar charts: one row per x value, a column per metric (and group: "<metric>, <group>"; with a
    single metric the metric's name is dropped: "<group>")."""
    metrics, groupby = list(params["metrics"]), list(params.get("groupby", []))
    post_processing = [pivot_by_x_axis(params, metrics, drop_missing_columns=False)]
    if len(metrics) == 1 and groupby:
        post_processing.append(
            {"operation": "rename", "options": {"columns": {metrics[0]: None}, "level": 0, "inplace": True}}
        )
    post_processing.append({"operation": "flatten"})
    return {
        "columns": [x_axis_column(params), *groupby],
        "metrics": metrics,
        "orderby": [[metrics[0], False]],
        "series_columns": groupby,
        "time_offsets": [],
        "post_processing": post_processing,
    }


def big_number_with_trendline_query(params: dict) -> dict:
    metric = params["metric"]
    return {
        "columns": [x_axis_column(params)],
        "metrics": [metric],
        "post_processing": [pivot_by_x_axis(params, [metric], drop_missing_columns=True), {"operation": "flatten"}],
    }


def big_number_total_query(params: dict) -> dict:
    return {"columns": [], "metrics": [params["metric"]]}


def funnel_query(params: dict) -> dict:
    metric = params["metric"]
    orderby = (
        [[metric, False]] if params.get("sort_by_metric") else [json.loads(o) for o in params.get("order_by_cols", [])]
    )
    return {"columns": list(params["groupby"]), "metrics": [metric], "orderby": orderby}


def table_query(params: dict) -> dict:
    if params.get("query_mode") == "raw":
        query = {
            "columns": list(params["all_columns"]),
            "orderby": [json.loads(o) for o in params.get("order_by_cols", [])],
        }
    else:
        sort_by = params.get("timeseries_limit_metric")
        query = {
            "columns": list(params.get("groupby", [])),
            "metrics": list(params["metrics"]),
            "orderby": [[sort_by, not params.get("order_desc", True)]] if sort_by else [],
            **({"series_limit_metric": sort_by} if sort_by else {}),
        }
    return {**query, "post_processing": [], "time_offsets": []}


QUERY_BUILDERS = {
    "echarts_timeseries_line": timeseries_query,
    "echarts_timeseries_bar": timeseries_query,
    "big_number": big_number_with_trendline_query,
    "big_number_total": big_number_total_query,
    "funnel": funnel_query,
    "table": table_query,
}


def chart_files(charts_dir: Path = CHARTS_DIR) -> list[Path]:
    return sorted(charts_dir.glob("*.yaml"))


def expected_query_context(path: Path) -> str:
    """The query context (JSON text) the chart file's params call for."""
    return json.dumps(query_context(yaml.safe_load(path.read_text())["params"]), separators=(",", ":"))


def stale_charts(charts_dir: Path = CHARTS_DIR) -> list[str]:
    """The chart files whose saved query context is not the one their params call for."""
    return [
        path.name
        for path in chart_files(charts_dir)
        if yaml.safe_load(path.read_text()).get("query_context") != expected_query_context(path)
    ]


def with_query_context(text: str, context: str) -> str:
    """The chart file's text with its `query_context:` line (and the note above it) replaced, comments and
    layout elsewhere kept as they are."""
    lines = [line for line in text.splitlines(keepends=True) if line != GENERATED_NOTE]
    quoted = "'" + context.replace("'", "''") + "'"  # a YAML single-quoted scalar
    return "".join(
        GENERATED_NOTE + f"{QUERY_CONTEXT_KEY} {quoted}\n" if line.startswith(QUERY_CONTEXT_KEY) else line
        for line in lines
    )


def write_query_contexts(charts_dir: Path = CHARTS_DIR) -> list[str]:
    """Write every chart file's query context from its params; the names of the files that changed."""
    changed = []
    for path in chart_files(charts_dir):
        text = path.read_text()
        updated = with_query_context(text, expected_query_context(path))
        if updated != text:
            path.write_text(updated)
            changed.append(path.name)
    return changed


def main() -> int:
    changed = write_query_contexts()
    print(f"query_context written into {', '.join(changed)}" if changed else "every chart's query_context is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
