"""The dashboards follow the warehouse by themselves: Dagster's declarative automation requests the
`superset_dashboards` run after a load updated a table the KPI dashboard reads, once per load, and never
for the MongoDB collections (the live charts read MongoDB directly). Evaluated with
`dg.evaluate_automation_conditions` on the code location's own definitions and a test instance."""

from __future__ import annotations

import dagster as dg
import pytest

from user_events.asset_keys import mongo_collection, warehouse_table

pytestmark = pytest.mark.unit

KPIS = dg.AssetKey(["dashboards", "kpis"])
LIVE = dg.AssetKey(["dashboards", "live"])
SENSOR = "dashboards_automation"
BATCH_TABLES = ("user_events", "kpi_daily", "kpi_hourly", "events_by_type_hourly", "brand_details", "rejected_events")
# what an hourly lake load writes (it logs these tables' materialisations; brand_details is the batch path's)
LAKE_TABLES = ("user_events", "kpi_daily", "kpi_hourly", "events_by_type_hourly", "rejected_events")


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from user_events.definitions import defs

    return defs


class Ticks:
    """Successive evaluations of the dashboards' automation sensor, its cursor carried from one to the next."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        self.defs, self.instance, self.cursor = defs, instance, None
        self.selection = defs.resolve_sensor_def(SENSOR).asset_selection

    def requested(self) -> set[dg.AssetKey]:
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, asset_selection=self.selection, cursor=self.cursor
        )
        self.cursor = result.cursor
        return {key for key in (KPIS, LIVE) if result.get_requested_partitions(key)}


def materialise(instance: dg.DagsterInstance, keys: list[dg.AssetKey]) -> None:
    """A load's materialisations of these upstream assets, in the test instance (stand-ins of the same keys)."""

    @dg.multi_asset(specs=[dg.AssetSpec(key) for key in keys], name="a_load")
    def a_load():
        for key in keys:
            yield dg.MaterializeResult(asset_key=key)

    assert dg.materialize([a_load], instance=instance).success


def test_the_sensor_runs_by_default_and_targets_only_the_dashboards(defs):
    sensor = defs.resolve_sensor_def(SENSOR)
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.asset_selection.resolve(defs.resolve_asset_graph()) == {KPIS, LIVE}


def test_a_batch_load_requests_the_dashboards_once(defs):
    ticks = Ticks(defs, dg.DagsterInstance.ephemeral())
    assert ticks.requested() == set()  # nothing loaded yet: `make services-up` provisions the first time
    materialise(ticks.instance, [warehouse_table(t) for t in BATCH_TABLES])
    assert ticks.requested() == {KPIS, LIVE}  # one run of the multi-asset, both dashboards
    assert ticks.requested() == set()  # nothing changed since: not requested again
    materialise(ticks.instance, [warehouse_table("kpi_daily")])
    assert ticks.requested() == {KPIS, LIVE}


def test_an_hourly_lake_load_alone_requests_them_too(defs):
    """brand_details is never loaded by the lake path: the dashboards must not wait for it."""
    ticks = Ticks(defs, dg.DagsterInstance.ephemeral())
    ticks.requested()
    for table in LAKE_TABLES:  # as hourly_warehouse_load logs them: materialisations without a run of theirs
        ticks.instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=warehouse_table(table)))
    assert ticks.requested() == {KPIS, LIVE}
    assert ticks.requested() == set()


def test_the_mongodb_sink_s_materialisations_request_nothing(defs):
    ticks = Ticks(defs, dg.DagsterInstance.ephemeral())
    ticks.requested()
    materialise(ticks.instance, [mongo_collection(c) for c in ("events_per_minute", "sink_delay_per_minute")])
    assert ticks.requested() == set()
