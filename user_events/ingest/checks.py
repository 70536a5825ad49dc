"""Asset checks of the batch ingest, on the Spark DataFrames (pandera.pyspark from schema.py + Spark counts).

All blocking: they run before anything is written to the warehouse, and a failure stops the run there.
"""

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from user_events.asset_keys import TYPED_EVENTS
from user_events.ingest.assets import brand_details, typed_events
from user_events.ingest.handles import BrandDetailsData, TypedEvents
from user_events.ingest.resources import BatchSettings, SparkResource
from user_events.quality.reports import error_count, small_frame_errors
from user_events.quality.results import (
    DEFAULT_MAX_REJECT_RATE,
    MAX_REJECT_RATE_VAR,
    check_event_id_unique,
    check_reject_rate,
    check_schema,
    rule_violations,
)
from user_events.schema import BRAND_DETAILS


@dg.asset_check(asset=typed_events, blocking=True, description="pandera: types, NULLs, value sets and ranges")
def typed_events_schema(spark: SparkResource, typed_events: TypedEvents) -> dg.AssetCheckResult:
    return check_schema(spark.spark_session.read.parquet(typed_events.path))


@dg.asset_check(asset=typed_events, blocking=True, description="every event_id occurs once")
def typed_events_unique_event_id(spark: SparkResource, typed_events: TypedEvents) -> dg.AssetCheckResult:
    return check_event_id_unique(spark.spark_session.read.parquet(typed_events.path))


@dg.asset_check(
    asset=typed_events,
    blocking=True,
    description=f"rejected rows / rows read <= {MAX_REJECT_RATE_VAR} (default {DEFAULT_MAX_REJECT_RATE})",
)
def typed_events_reject_rate(batch: BatchSettings, typed_events: TypedEvents) -> dg.AssetCheckResult:
    return check_reject_rate(
        typed_events.rejected, typed_events.rows_in, typed_events.rejected_by_reason, batch.max_reject_rate
    )


BRAND_RULES = {
    "revenue_without_purchases": "purchases = 0 AND revenue != 0",
    "rate_without_sessions": "sessions = 0 AND conversion_rate IS NOT NULL",
}


def brand_details_inconsistencies(details: DataFrame, events: DataFrame) -> dict[str, int]:
    """Rule name -> number of offending brands (or 1 for a total that does not add up); {} when sane."""
    bad = rule_violations(details, BRAND_RULES)
    # per-brand event counts straight from the events (one hash aggregation into a few thousand rows)
    expected = {
        r[0]: tuple(r[1:])
        for r in events.groupBy("brand")
        .agg(*(F.count(F.when(F.col("event_type") == t, 1)) for t in ("view", "cart", "purchase")))
        .collect()
    }
    got = {r[0]: (r[1], r[2], r[3]) for r in details.select("brand", "views", "carts", "purchases").collect()}
    mismatched = sum(1 for b in set(expected) | set(got) if expected.get(b) != got.get(b))
    totals = [sum(v[i] for v in got.values()) != sum(v[i] for v in expected.values()) for i in range(3)]
    for name, differs in zip(("views_total", "carts_total", "purchases_total"), totals, strict=False):
        if differs:
            bad[name] = 1
    if len(got) != len(expected):
        bad["brand_rows"] = 1
    bad["brand_counts_mismatch"] = mismatched
    return {k: v for k, v in bad.items() if v}


@dg.asset_check(
    asset=brand_details,
    blocking=True,
    description="pandera (non-negative counts, rates in [0,1]) and totals that add up to the typed events",
    additional_ins={"typed_events": dg.AssetIn(TYPED_EVENTS)},
)
def brand_details_sane(
    spark: SparkResource, brand_details: BrandDetailsData, typed_events: TypedEvents
) -> dg.AssetCheckResult:
    session = spark.spark_session
    details = session.read.parquet(brand_details.path)
    errors = small_frame_errors(details, BRAND_DETAILS)
    inconsistent = brand_details_inconsistencies(details, session.read.parquet(typed_events.path))
    return dg.AssetCheckResult(
        passed=not errors and not inconsistent,
        metadata={
            "errors": dg.MetadataValue.json(errors),
            "error_count": error_count(errors),
            "inconsistencies": dg.MetadataValue.json(inconsistent),
        },
    )
