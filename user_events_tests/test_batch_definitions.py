"""The code location loads, and batch_job has the asset graph and checks the contract names."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg

from user_events.config import PROJECT_ROOT


def test_code_location_has_batch_job_and_graph():
    from user_events.definitions import defs

    job = defs.resolve_job_def("batch_job")
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    batch_keys = {"raw_events_csv", "typed_events", "brand_details"} | {
        f"warehouse/{t}" for t in ("user_events", "rejected_events", "brand_details", "kpi_daily", "kpi_hourly")
    }
    assert batch_keys <= keys
    assert job.executor_def is dg.in_process_executor
    graph = defs.resolve_asset_graph()
    parents = lambda k: {p.to_user_string() for p in graph.get(dg.AssetKey.from_user_string(k)).parent_keys}  # noqa: E731
    assert parents("typed_events") == {"raw_events_csv"}
    # one asset per warehouse table, fed by both the batch path and the hourly lake loads (issue 9)
    assert parents("warehouse/user_events") == {"typed_events", "hourly_user_events"}
    assert parents("warehouse/rejected_events") == {"typed_events", "hourly_user_events"}
    assert parents("warehouse/kpi_daily") == parents("warehouse/kpi_hourly") == {"warehouse/user_events", "hourly_kpis"}
    assert parents("hourly_user_events") == {"hourly_typed_events"}
    assert parents("hourly_typed_events") == {"lake_events_hourly"}
    assert parents("lake_events_hourly") == {"kafka/events"}
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert {
        ("typed_events", "typed_events_schema"),
        ("typed_events", "typed_events_unique_event_id"),
        ("typed_events", "typed_events_reject_rate"),
        ("brand_details", "brand_details_sane"),
        ("warehouse/kpi_daily", "kpi_daily_ranges"),
        ("warehouse/kpi_hourly", "kpi_hourly_ranges"),
    } <= checks
    from user_events.ingest.definitions import INGEST_CHECKS
    from user_events.warehouse.checks import WAREHOUSE_CHECKS

    specs = [spec for c in INGEST_CHECKS + WAREHOUSE_CHECKS for spec in c.check_specs]
    blocking = {spec.name for spec in specs if spec.blocking}
    assert len(blocking) == 6
    # the KPI anomaly checks only warn: a load never fails, nor stops, because of them
    assert {spec.name for spec in specs} - blocking == {"kpi_hourly_anomalies", "kpi_daily_anomalies"}


def test_dagster_cli_validates_the_code_location():
    proc = (
        subprocess.run(
            [
                str(PROJECT_ROOT / ".venv" / "bin" / "dagster"),
                "definitions",
                "validate",
                "-m",
                "user_events.definitions",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=PROJECT_ROOT,
        )
        if (PROJECT_ROOT / ".venv" / "bin" / "dagster").exists()
        else subprocess.run(
            [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "user_events.definitions"],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=PROJECT_ROOT,
        )
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
