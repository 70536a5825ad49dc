"""The code location: every domain's Definitions merged into one.

Each domain (ingest, warehouse, streaming, lake) owns its assets, checks, jobs, sensors and the resources
whose keys it defines; resource keys are unique across domains so the merge never has to choose.
"""

import dagster as dg

from user_events.ingest.definitions import defs as ingest_defs
from user_events.lake.definitions import defs as lake_defs
from user_events.streaming.definitions import defs as streaming_defs
from user_events.warehouse.definitions import defs as warehouse_defs

defs = dg.Definitions.merge(ingest_defs, warehouse_defs, streaming_defs, lake_defs)
