"""The code location: every domain's Definitions merged into one.

Each domain (ingest, warehouse, streaming, lake, dashboards, operations) owns its assets, checks, jobs, sensors and the resources
whose keys it defines (batch_job, spanning ingest and warehouse, is composed in batch.py); resource keys are unique across domains so the merge never has to choose.
Domain modules are imported as modules (not their `defs`): Dagster refuses a module with several
Definitions objects at module scope.
"""

import dagster as dg

from user_events import batch as _batch
from user_events.dashboards import definitions as _dashboards
from user_events.ingest import definitions as _ingest
from user_events.lake import definitions as _lake
from user_events.operations import definitions as _operations
from user_events.streaming import definitions as _streaming
from user_events.warehouse import definitions as _warehouse

# In-process by default (also for `dagster asset materialize` and UI materialisations): the Spark assets
# share the run's one SparkSession instead of starting a JVM per step.
defs = dg.Definitions.merge(
    _ingest.defs,
    _warehouse.defs,
    _streaming.defs,
    _lake.defs,
    _dashboards.defs,
    _operations.defs,
    dg.Definitions(jobs=[_batch.batch_job], executor=dg.in_process_executor),
)
