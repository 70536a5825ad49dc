"""Ingest domain: raw CSV -> typed events -> brand details (Spark), their checks, and the `spark` resource."""

import dagster as dg

from user_events.ingest.assets import brand_details, raw_events_csv, typed_events
from user_events.ingest.checks import (
    brand_details_sane,
    typed_events_reject_rate,
    typed_events_schema,
    typed_events_unique_event_id,
)
from user_events.ingest.resources import BatchSettings, DataHandleIOManager, spark_resource

INGEST_ASSETS = [raw_events_csv, typed_events, brand_details]
INGEST_CHECKS = [typed_events_schema, typed_events_unique_event_id, typed_events_reject_rate, brand_details_sane]

defs = dg.Definitions(
    assets=INGEST_ASSETS,
    asset_checks=INGEST_CHECKS,
    resources={"spark": spark_resource(), "batch": BatchSettings(), "io_manager": DataHandleIOManager()},
)
