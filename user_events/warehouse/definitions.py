"""Warehouse domain: the PostgreSQL tables, KPI checks, `batch_job`, and the `warehouse` resource."""

import dagster as dg

from user_events.ingest.definitions import INGEST_ASSETS
from user_events.warehouse.assets import WAREHOUSE_ASSETS
from user_events.warehouse.checks import WAREHOUSE_CHECKS
from user_events.warehouse.resources import warehouse_resource

BATCH_ASSET_KEYS = [k for a in INGEST_ASSETS + WAREHOUSE_ASSETS for k in a.keys]

# In process: one SparkSession (a JVM) serves every step, and values between steps stay small pickles.
batch_job = dg.define_asset_job(
    "batch_job",
    selection=dg.AssetSelection.assets(*BATCH_ASSET_KEYS),
    executor_def=dg.in_process_executor,
    description="raw CSV (USER_EVENTS_RAW_CSV) -> typed_events -> brand_details -> PostgreSQL tables and KPIs",
)

defs = dg.Definitions(
    assets=WAREHOUSE_ASSETS,
    asset_checks=WAREHOUSE_CHECKS,
    jobs=[batch_job],
    resources={"warehouse": warehouse_resource()},
)
