"""Blocking asset checks of each lake hour, on the hour's Spark DataFrames, before the warehouse write.

Partition-aware: a check looks at exactly the hours of its run (one hour, or the range of a backfill).
"""

import math
from collections.abc import Callable

import dagster as dg
from pyspark.sql import DataFrame

from user_events.asset_keys import HOURLY_KPIS, HOURLY_TYPED_EVENTS, HOURLY_USER_EVENTS
from user_events.config import settings
from user_events.ingest.resources import SparkResource
from user_events.lake.hour_dirs import hour_stats, read_hours
from user_events.lake.partitions import HOURLY_PARTITIONS, window_hours
from user_events.lake.resources import LakeSettings
from user_events.quality.results import check_event_id_unique, check_reject_rate, check_schema
from user_events.schema import KPI_DAILY, KPI_HOURLY
from user_events.warehouse import anomalies, kpis
from user_events.warehouse.resources import PostgresResource

NO_ROWS = dg.AssetCheckResult(passed=True, metadata={"rows": 0})


def typed_hours_check(name: str, description: str, check: Callable[[DataFrame], dg.AssetCheckResult]):
    """A blocking check of the run's hours of typed events (Spark); an hour range without rows passes."""

    @dg.asset_check(asset=HOURLY_TYPED_EVENTS, name=name, blocking=True, description=description)
    def _check(context: dg.AssetCheckExecutionContext, spark: SparkResource, lake: LakeSettings) -> dg.AssetCheckResult:
        df = read_hours(lake.root(), spark.spark_session, "typed", window_hours(context))
        return NO_ROWS if df is None else check(df)

    return _check


hourly_typed_events_schema = typed_hours_check(
    "hourly_typed_events_schema", "pandera: types, NULLs, value sets, ranges", check_schema
)
hourly_typed_events_unique_event_id = typed_hours_check(
    "hourly_typed_events_unique_event_id", "every event_id occurs once in the hour(s)", check_event_id_unique
)


@dg.asset_check(asset=HOURLY_TYPED_EVENTS, blocking=True, description="rejected / read <= USER_EVENTS_MAX_REJECT_RATE")
def hourly_typed_events_reject_rate(
    context: dg.AssetCheckExecutionContext, spark: SparkResource, lake: LakeSettings
) -> dg.AssetCheckResult:
    stats = hour_stats(lake.root(), spark.spark_session, window_hours(context))
    rows_in = stats["rows_out"] + stats["rejected"]
    return check_reject_rate(stats["rejected"], rows_in, stats["rejected_by_reason"], lake.max_reject_rate)


@dg.asset_check(
    asset=HOURLY_KPIS,
    partitions_def=HOURLY_PARTITIONS,
    description="WARN: the loaded hours' (and their days') conversion rate, revenue and events against the same "
    "hour of the day and of the week before (USER_EVENTS_ANOMALY_MAX_CHANGE)",
)
def hourly_kpis_anomalies(context: dg.AssetCheckExecutionContext, warehouse: PostgresResource) -> dg.AssetCheckResult:
    hours = window_hours(context)
    with warehouse.connect(autocommit=True) as conn:
        results = [
            anomalies.check_anomalies(conn, warehouse.pg_schema, table, kpis.kpi_periods(table, hours))
            for table in (KPI_HOURLY, KPI_DAILY)
        ]
    return anomalies.combined(*results)


def freshness_deadline_cron() -> str:
    """Hour H is due USER_EVENTS_FRESHNESS_MINUTES after its end (the hourly sensor's grace included): that
    minute past each hour (at most 59: an hourly check cannot wait for the hour after next)."""
    return f"{min(math.ceil(settings().freshness_minutes), 59)} * * * *"


LAKE_FRESHNESS_CHECKS = dg.build_time_partition_freshness_checks(
    assets=[HOURLY_TYPED_EVENTS, HOURLY_USER_EVENTS, HOURLY_KPIS],
    deadline_cron=freshness_deadline_cron(),
    timezone="UTC",
    severity=dg.AssetCheckSeverity.ERROR,  # a late hour is what someone must look at (Dagster's default: WARN)
)
LAKE_CHECKS = [
    hourly_typed_events_schema,
    hourly_typed_events_unique_event_id,
    hourly_typed_events_reject_rate,
    hourly_kpis_anomalies,
    *LAKE_FRESHNESS_CHECKS,
]
