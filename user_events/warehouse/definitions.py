"""Warehouse domain: the PostgreSQL tables, KPI checks and the `warehouse` resource (`batch_job`, which runs
them after the ingest assets, is composed above the domains in user_events/batch.py)."""

import dagster as dg

from user_events.warehouse.assets import WAREHOUSE_ASSETS
from user_events.warehouse.checks import WAREHOUSE_CHECKS
from user_events.warehouse.resources import warehouse_resource

defs = dg.Definitions(
    assets=WAREHOUSE_ASSETS,
    asset_checks=WAREHOUSE_CHECKS,
    resources={"warehouse": warehouse_resource()},
)
