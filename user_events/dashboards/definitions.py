"""Dashboards domain: the Superset dashboards as assets, `dashboards_job`, and the `superset` resource."""

import dagster as dg

from user_events.dashboards.assets import DASHBOARD_ASSETS
from user_events.dashboards.resources import superset_resource

DASHBOARDS = dg.AssetSelection.assets(*DASHBOARD_ASSETS)

dashboards_job = dg.define_asset_job(
    "dashboards_job",
    selection=DASHBOARDS,
    description="Provision the Superset dashboards from the repository's bundle and refresh dataset metadata",
)

# Only the dashboards: another asset given an automation condition later is not automated by this sensor.
dashboards_automation = dg.AutomationConditionSensorDefinition(
    "dashboards_automation",
    target=DASHBOARDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Provisions the dashboards again after a load updated a warehouse table the KPI dashboard reads",
)

defs = dg.Definitions(
    assets=DASHBOARD_ASSETS,
    jobs=[dashboards_job],
    sensors=[dashboards_automation],
    resources={"superset": superset_resource()},
)
