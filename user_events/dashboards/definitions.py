"""Dashboards domain: the Superset dashboards as assets, `dashboards_job`, and the `superset` resource."""

import dagster as dg

from user_events.dashboards.assets import DASHBOARD_ASSETS
from user_events.dashboards.resources import superset_resource

dashboards_job = dg.define_asset_job(
    "dashboards_job",
    selection=dg.AssetSelection.assets(*DASHBOARD_ASSETS),
    description="Provision the Superset dashboards from the repository's bundle and refresh dataset metadata",
)

defs = dg.Definitions(assets=DASHBOARD_ASSETS, jobs=[dashboards_job], resources={"superset": superset_resource()})
