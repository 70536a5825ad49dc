"""The batch pipeline, a composition of two domains: `batch_job` runs the ingest assets (raw CSV -> typed
events -> brand details) and the warehouse assets (PostgreSQL tables and KPIs) they feed.

Above both domains (like definitions.py), so neither imports the other's definitions. No Definitions object
at module scope: definitions.py adds `batch_job` to the code location, `batch_definitions()` serves the
`user-events batch` command.
"""

import dagster as dg

from user_events.ingest import definitions as _ingest
from user_events.warehouse import definitions as _warehouse

BATCH_ASSET_KEYS = [k for a in _ingest.INGEST_ASSETS + _warehouse.WAREHOUSE_ASSETS for k in a.keys]

# In process: one SparkSession (a JVM) serves every step, and values between steps stay small pickles.
batch_job = dg.define_asset_job(
    "batch_job",
    selection=dg.AssetSelection.assets(*BATCH_ASSET_KEYS),
    executor_def=dg.in_process_executor,
    description="raw CSV (USER_EVENTS_RAW_CSV) -> typed_events -> brand_details -> PostgreSQL tables and KPIs",
)


def batch_definitions() -> dg.Definitions:
    """ingest + warehouse only: the batch job needs no other domain."""
    return dg.Definitions.merge(_ingest.defs, _warehouse.defs, dg.Definitions(jobs=[batch_job]))
