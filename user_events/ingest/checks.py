"""Asset checks of the batch ingest, on the Spark DataFrames (pandera.pyspark from schema.py + Spark counts).

All blocking: they run before anything is written to the warehouse, and a failure stops the run there.
"""


import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from user_events.config import env
from user_events.ingest.assets import brand_details, typed_events
from user_events.ingest.handles import BrandDetailsData, TypedEvents
from user_events.ingest.resources import SparkResource
from user_events.schema import BRAND_DETAILS, USER_EVENTS, TableSpec, pandera_spark_schema

MAX_REJECT_RATE_VAR = "USER_EVENTS_MAX_REJECT_RATE"
DEFAULT_MAX_REJECT_RATE = 0.05


def max_reject_rate() -> float:
    raw = env(MAX_REJECT_RATE_VAR)
    if raw is None:
        return DEFAULT_MAX_REJECT_RATE
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        raise dg.Failure(description=f"{MAX_REJECT_RATE_VAR}={raw!r} is not a number (a rate, e.g. 0.05)") from None
    if not 0.0 <= value <= 1.0:
        raise dg.Failure(description=f"{MAX_REJECT_RATE_VAR}={raw!r} must be between 0 and 1")
    return value


def pandera_errors(df: DataFrame, table: TableSpec) -> dict:
    """pandera's error report for the DataFrame against the table's schema ({} when it conforms)."""
    checked = pandera_spark_schema(table).validate(df)
    return dict(checked.pandera.errors or {})


def _error_count(errors: dict) -> int:
    return sum(len(items) for by_type in errors.values() for items in by_type.values())


# Reusable check bodies (the hourly lake checks call them on their hours' DataFrames).


def check_schema(df: DataFrame, table: TableSpec = USER_EVENTS) -> dg.AssetCheckResult:
    """pandera against the table's schema; the error report in the metadata."""
    errors = pandera_errors(df, table)
    return dg.AssetCheckResult(
        passed=not errors,
        metadata={"errors": dg.MetadataValue.json(errors), "error_count": _error_count(errors)},
    )


def check_event_id_unique(df: DataFrame) -> dg.AssetCheckResult:
    """Every event_id once: a group-by count over 64-bit id hashes finds the candidates, an exact
    group-by over the candidates' ids decides."""
    from user_events.ingest.transforms import ID_HASH_COL, id_hash, repeated_id_hashes

    candidates = F.broadcast(repeated_id_hashes(df))
    keyed = df.select("event_id", id_hash(F.col("event_id")).alias(ID_HASH_COL))
    dup = keyed.join(candidates, ID_HASH_COL, "left_semi").groupBy("event_id").count().where(F.col("count") > 1)
    n = dup.count()
    sample = [r[0] for r in dup.limit(5).collect()] if n else []
    return dg.AssetCheckResult(
        passed=n == 0, metadata={"duplicate_event_ids": n, "sample": dg.MetadataValue.json(sample)}
    )


def check_reject_rate(rejected: int, rows_in: int, rejected_by_reason: dict | None = None) -> dg.AssetCheckResult:
    """rejected / rows_in <= USER_EVENTS_MAX_REJECT_RATE (0 rows read: passes)."""
    limit = max_reject_rate()
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


@dg.asset_check(asset=typed_events, blocking=True, description="pandera: types, NULLs, value sets and ranges")
def typed_events_schema(spark: SparkResource, typed_events: TypedEvents) -> dg.AssetCheckResult:
    return check_schema(spark.session().read.parquet(typed_events.path))


@dg.asset_check(asset=typed_events, blocking=True, description="every event_id occurs once")
def typed_events_unique_event_id(spark: SparkResource, typed_events: TypedEvents) -> dg.AssetCheckResult:
    return check_event_id_unique(spark.session().read.parquet(typed_events.path))


@dg.asset_check(
    asset=typed_events,
    blocking=True,
    description=f"rejected rows / rows read <= {MAX_REJECT_RATE_VAR} (default {DEFAULT_MAX_REJECT_RATE})",
)
def typed_events_reject_rate(typed_events: TypedEvents) -> dg.AssetCheckResult:
    return check_reject_rate(typed_events.rejected, typed_events.rows_in, typed_events.rejected_by_reason)


def rule_violations(df: DataFrame, rules: dict[str, str]) -> dict[str, int]:
    """Rule name -> offending rows (Spark SQL predicate selecting them), for the rules some row breaks; one
    Spark job for all rules."""
    counts = df.select(*(F.count(F.when(F.expr(rule), 1)).alias(name) for name, rule in rules.items())).first()
    return {name: int(counts[name]) for name in rules if counts[name]}


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
    for name, differs in zip(("views_total", "carts_total", "purchases_total"), totals):
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
    additional_ins={"typed_events": dg.AssetIn("typed_events")},
)
def brand_details_sane(
    spark: SparkResource, brand_details: BrandDetailsData, typed_events: TypedEvents
) -> dg.AssetCheckResult:
    session = spark.session()
    details = session.read.parquet(brand_details.path)
    errors = pandera_errors(details, BRAND_DETAILS)
    inconsistent = brand_details_inconsistencies(details, session.read.parquet(typed_events.path))
    return dg.AssetCheckResult(
        passed=not errors and not inconsistent,
        metadata={
            "errors": dg.MetadataValue.json(errors),
            "error_count": _error_count(errors),
            "inconsistencies": dg.MetadataValue.json(inconsistent),
        },
    )
