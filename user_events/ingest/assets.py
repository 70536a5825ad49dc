"""Batch ingest assets: raw CSV -> typed events (Parquet) -> brand details (Parquet). Thin: each asset calls
its steps (steps.py; the Spark work is in transforms.py) and reports progress."""

import time

import dagster as dg

from user_events.ingest import steps
from user_events.ingest.handles import BrandDetailsData, RawInput, TypedEvents
from user_events.ingest.resources import BatchSettings, SparkResource
from user_events.progress import progress
from user_events.redaction import redact_url

GROUP = "ingest"


@dg.asset(
    group_name=GROUP,
    description="Raw event CSV file(s) named by USER_EVENTS_RAW_CSV (path, glob or s3a:// URI); unset: the "
    "project's generated one-day sample under .data/sample (generated on first use).",
)
def raw_events_csv(
    context: dg.AssetExecutionContext, spark: SparkResource, batch: BatchSettings
) -> dg.Output[RawInput]:
    spec, is_default = batch.raw_csv_spec()
    steps.generate_sample_if_missing(spec, is_default, lambda line: progress(context, line))
    raw = RawInput(redact_url(spec), steps.vetted_inputs(spec, spark))
    progress(context, steps.input_summary(raw.files))
    return dg.Output(raw, metadata=steps.raw_input_metadata(raw, generated_sample=is_default))


@dg.asset(
    group_name=GROUP,
    description="Accepted events, typed, with event_id and event_hour/event_date, exact duplicates dropped "
    "(Parquet under USER_EVENTS_BATCH_DIR/typed_events); rejected rows with reasons beside them.",
)
def typed_events(
    context: dg.AssetExecutionContext, spark: SparkResource, batch: BatchSettings, raw_events_csv: RawInput
) -> dg.Output[TypedEvents]:
    with spark.retrying(context):
        started = time.monotonic()
        session = spark.spark_session
        progress(context, "parsing and validating the raw rows")
        counts = steps.write_validated(steps.read_raw_rows(session, raw_events_csv), batch.validated_path())
        progress(
            context,
            f"{counts.rows_in:,} rows read, {counts.accepted:,} valid, {counts.rejected:,} rejected; de-duplicating",
        )
        events = steps.typed_events_handle(
            batch, raw_events_csv, counts, steps.store_typed_and_rejected(session, batch)
        )
        progress(context, f"{steps.typed_events_summary(events)}, {time.monotonic() - started:.1f}s")
    return dg.Output(events, metadata=steps.typed_events_metadata(events))


@dg.asset(
    group_name=GROUP,
    description="Per-brand views, carts, purchases, revenue, sessions, users, conversion (Parquet).",
)
def brand_details(
    context: dg.AssetExecutionContext, spark: SparkResource, batch: BatchSettings, typed_events: TypedEvents
) -> dg.Output[BrandDetailsData]:
    with spark.retrying(context):
        details = steps.store_brand_details(spark.spark_session, batch, typed_events)
        handle = BrandDetailsData(str(batch.brand_details_path()), details.count())
    progress(context, f"brand details: {handle.rows:,} brands")
    return dg.Output(handle, metadata=steps.brand_details_metadata(handle, details))
