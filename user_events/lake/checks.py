"""Blocking asset checks of each lake hour, on the hour's Spark DataFrames, before the warehouse write.

Partition-aware: a check looks at exactly the hours of its run (one hour, or the range of a backfill).
"""

import dagster as dg

from user_events.ingest.quality import check_event_id_unique, check_reject_rate, check_schema
from user_events.ingest.resources import SparkResource
from user_events.lake.assets import hour_stats, hourly_typed_events, read_hours, window_hours
from user_events.lake.resources import LakeSettings

NO_ROWS = dg.AssetCheckResult(passed=True, metadata={"rows": 0})


@dg.asset_check(asset=hourly_typed_events, blocking=True, description="pandera: types, NULLs, value sets, ranges")
def hourly_typed_events_schema(
    context: dg.AssetCheckExecutionContext, spark: SparkResource, lake: LakeSettings
) -> dg.AssetCheckResult:
    df = read_hours(lake.root(), spark.spark_session, "typed", window_hours(context))
    return NO_ROWS if df is None else check_schema(df)


@dg.asset_check(asset=hourly_typed_events, blocking=True, description="every event_id occurs once in the hour(s)")
def hourly_typed_events_unique_event_id(
    context: dg.AssetCheckExecutionContext, spark: SparkResource, lake: LakeSettings
) -> dg.AssetCheckResult:
    df = read_hours(lake.root(), spark.spark_session, "typed", window_hours(context))
    return NO_ROWS if df is None else check_event_id_unique(df)


@dg.asset_check(asset=hourly_typed_events, blocking=True, description="rejected / read <= USER_EVENTS_MAX_REJECT_RATE")
def hourly_typed_events_reject_rate(
    context: dg.AssetCheckExecutionContext, spark: SparkResource, lake: LakeSettings
) -> dg.AssetCheckResult:
    stats = hour_stats(lake.root(), spark.spark_session, window_hours(context))
    rows_in = stats["rows_out"] + stats["rejected"]
    return check_reject_rate(stats["rejected"], rows_in, stats["rejected_by_reason"], lake.max_reject_rate)


LAKE_CHECKS = [hourly_typed_events_schema, hourly_typed_events_unique_event_id, hourly_typed_events_reject_rate]
