"""Asset-check results shared by the batch ingest, warehouse KPI and hourly lake checks, each on the caller's
own DataFrame or counts: schema conformance, unique event ids, the reject rate, rule violations."""

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from user_events.config import ConfigError, Settings, settings, variable_name
from user_events.quality.event_ids import ID_HASH_COL, id_hash, repeated_id_hashes
from user_events.quality.reports import error_count, pandera_errors, small_frame_errors
from user_events.schema import USER_EVENTS, TableSpec

MAX_REJECT_RATE_VAR = variable_name("max_reject_rate")
DEFAULT_MAX_REJECT_RATE = Settings.model_fields["max_reject_rate"].default


def max_reject_rate(configured: float | None = None) -> float:
    """The configured threshold (a resource's field), else USER_EVENTS_MAX_REJECT_RATE; a bad value fails the check."""
    if configured is not None:
        return configured
    try:
        return settings().max_reject_rate
    except ConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def check_schema(df: DataFrame, table: TableSpec = USER_EVENTS, small: bool = False) -> dg.AssetCheckResult:
    """pandera against the table's schema; the error report in the metadata. `small`: the frame is a few
    thousand rows at most, checked on the driver (`small_frame_errors`)."""
    errors = small_frame_errors(df, table) if small else pandera_errors(df, table)
    return dg.AssetCheckResult(
        passed=not errors,
        metadata={"errors": dg.MetadataValue.json(errors), "error_count": error_count(errors)},
    )


def check_event_id_unique(df: DataFrame) -> dg.AssetCheckResult:
    """Every event_id once: a group-by count over 64-bit id hashes finds the candidates, an exact
    group-by over the candidates' ids decides."""
    candidates = F.broadcast(repeated_id_hashes(df))
    keyed = df.select("event_id", id_hash(F.col("event_id")).alias(ID_HASH_COL))
    dup = keyed.join(candidates, ID_HASH_COL, "left_semi").groupBy("event_id").count().where(F.col("count") > 1)
    n = dup.count()
    sample = [r[0] for r in dup.limit(5).collect()] if n else []
    return dg.AssetCheckResult(
        passed=n == 0, metadata={"duplicate_event_ids": n, "sample": dg.MetadataValue.json(sample)}
    )


def check_reject_rate(
    rejected: int, rows_in: int, rejected_by_reason: dict | None = None, limit: float | None = None
) -> dg.AssetCheckResult:
    """rejected / rows_in <= limit (unset: USER_EVENTS_MAX_REJECT_RATE; 0 rows read: passes)."""
    limit = max_reject_rate(limit)
    rate = rejected / rows_in if rows_in else 0.0
    return dg.AssetCheckResult(
        passed=rate <= limit,
        metadata={
            "reject_rate": float(rate),
            "max_reject_rate": float(limit),
            "rejected": int(rejected),
            "rows_in": int(rows_in),
            "rejected_by_reason": dg.MetadataValue.json(dict(rejected_by_reason or {})),
        },
    )


def rule_violations(df: DataFrame, rules: dict[str, str]) -> dict[str, int]:
    """Rule name -> offending rows (Spark SQL predicate selecting them), for the rules some row breaks; one
    Spark job for all rules."""
    counts = df.select(*(F.count(F.when(F.expr(rule), 1)).alias(name) for name, rule in rules.items())).first()
    return {name: int(counts[name]) for name in rules if counts[name]}
