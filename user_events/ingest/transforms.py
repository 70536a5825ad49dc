"""Pure DataFrame transforms of the batch path (also used by the hourly S3 JSON path).

Nothing here touches Dagster, files other than its inputs, or the warehouse: each function takes
DataFrames (or a session and paths) and returns DataFrames, so each is unit-testable on its own.

Validation follows docs/reference.md; a rejected row carries exactly one reason, the first failing rule in
REASONS order (the fields in raw order; per field: missing, malformed, out of range). Reason strings are
stable: dashboards and tests rely on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField

from user_events.quality.event_ids import ID_HASH_COL, id_hash, repeated_id_hashes
from user_events.schema import (
    BRAND_DETAILS,
    EVENT_ID_HEX_CHARS,
    EVENT_ID_SEPARATOR,
    EVENT_ID_TIME_FORMAT,
    EVENT_TYPES,
    RAW_FIELDS,
    REJECTED_EVENTS,
    SPARK_MONEY_TYPE,
    USER_EVENTS,
    raw_spark_schema,
    spark_datetime_pattern,
)
from user_events.validation_rules import (
    INTEGER_SHAPE,
    NUMBER_SHAPE,
    PRICE_MISSING,
    PRICE_NEGATIVE,
    PRICE_NOT_NUMBER,
    PRICE_OUT_OF_RANGE,
    RAW_TIME_CHARS,
    RAW_TIME_ID_CHARS,
    RAW_TIME_SHAPE,
    REASON_DOCS,
    REASONS,
    TIME_MISSING,
    TIME_SHAPE,
    TIME_UNPARSEABLE,
    TYPE_INVALID,
    TYPE_MISSING,
    WRONG_FIELD_COUNT,
    spark_regex,
)
from user_events.validation_rules import id_reasons as _id_reasons

MALFORMED_COL = "_malformed"  # the raw record when its number of fields is wrong, else NULL
SOURCE_COL = "_source"  # where the row came from (file URI, or partition key)
REASON_COL = "reason"
EVENT_ID_COL = "t_event_id"  # validate_raw's event id (NULL for rejected rows)

# the rules (shapes, limits, reasons and their order) are validation_rules'; here they become Spark columns
_TIME_RE = spark_regex(TIME_SHAPE)
_INT_RE = spark_regex(INTEGER_SHAPE)
_NUMBER_RE = spark_regex(NUMBER_SHAPE)
_RAW_TIME_RE = spark_regex(RAW_TIME_SHAPE)
EVENT_ID_TIME_PATTERN = spark_datetime_pattern(EVENT_ID_TIME_FORMAT)

CSV_OPTIONS = {
    "header": "true",
    # quoted fields may hold the separator, doubled quotes and newlines (RFC 4180)
    "multiLine": "true",
    "quote": '"',
    "escape": '"',
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": MALFORMED_COL,
    "encoding": "UTF-8",
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
}


def read_raw_csv(spark: SparkSession, paths: str | Sequence[str], multiline: bool = True) -> DataFrame:
    """Raw CSV file(s) as the nine fields (strings, NULL when empty) plus MALFORMED_COL and SOURCE_COL.

    The header line of each file is skipped (check it beforehand: Spark does not). A record with the
    wrong number of fields keeps what could be split and gets its raw text in MALFORMED_COL.
    multiline=False splits files across cores but is only exact when no quoted field holds a line
    break (ingest.inputs.scan_local tells).
    """
    schema = raw_spark_schema().add(StructField(MALFORMED_COL, StringType(), True))
    paths = [paths] if isinstance(paths, str) else list(paths)
    options = dict(CSV_OPTIONS, multiLine=str(bool(multiline)).lower())
    df = spark.read.options(**options).schema(schema).csv(paths)
    return df.select(*RAW_FIELDS, MALFORMED_COL, F.col("_metadata.file_path").alias(SOURCE_COL))


# F.trim trims validation_rules.TRIMMED (spaces) only, as the rules say
def _blank(c: Column) -> Column:
    return c.isNull() | (F.trim(c) == "")


def _is_raw_time_format(t: Column) -> Column:
    """event_time text already in the REES46 form 'YYYY-MM-DD HH:MM:SS UTC' (the fast path)."""
    return (F.length(t) == RAW_TIME_CHARS) & t.rlike(_RAW_TIME_RE)


def _raw_time_id_text(t: Column) -> Column:
    """The event id's time text inside a raw-format event_time (its leading characters)."""
    return F.substring(t, 1, RAW_TIME_ID_CHARS)


def parse_event_time(c: Column) -> Column:
    """Timestamp (UTC, whole seconds) of an accepted event_time text, else NULL."""
    t = F.trim(c)
    date, clock = F.regexp_extract(t, _TIME_RE, 1), F.regexp_extract(t, _TIME_RE, 2)
    utc, off_h, off_m = (F.regexp_extract(t, _TIME_RE, i) for i in (3, 4, 5))
    zone = F.when(utc != "", F.lit("Z")).otherwise(
        F.concat(off_h, F.lit(":"), F.when(off_m == "", F.lit("00")).otherwise(off_m))
    )
    iso = F.concat(date, F.lit("T"), clock, zone)
    # the event id is to the second (schema.canonical_event_fields), so the stored time is too
    general = F.when(t.rlike(_TIME_RE), F.date_trunc("second", iso.cast("timestamp")))
    return F.when(_is_raw_time_format(c), _raw_time_id_text(c).cast("timestamp")).otherwise(general)


def _canonical_int(c: Column) -> Column:
    """True when the text is exactly how Spark prints its bigint value (the common case: no regex needed)."""
    n = c.cast("bigint")
    return n.isNotNull() & (n > 0) & (n.cast("string") == c)


def _id_rule(field: str) -> Column:
    raw = F.col(field)
    c = F.trim(raw)
    missing, not_int, out_of_range, not_pos = _id_reasons(field)
    return (
        F.when(_canonical_int(raw), F.lit(None).cast("string"))
        .when(_blank(raw), F.lit(missing))
        .when(~c.rlike(_INT_RE), F.lit(not_int))
        .when(c.cast("bigint").isNull(), F.lit(out_of_range))
        .when(c.cast("bigint") <= 0, F.lit(not_pos))
    )


def _price_rule() -> Column:
    raw = F.col("price")
    c = F.trim(raw)
    p = raw.cast(SPARK_MONEY_TYPE)
    plain = p.isNotNull() & raw.rlike(r"^[0-9]+(\.[0-9]{1,2})?$")  # common case: one cheap regex
    return (
        F.when(plain, F.lit(None).cast("string"))
        .when(_blank(raw), F.lit(PRICE_MISSING))
        .when(~c.rlike(_NUMBER_RE), F.lit(PRICE_NOT_NUMBER))
        .when(c.cast(SPARK_MONEY_TYPE).isNull(), F.lit(PRICE_OUT_OF_RANGE))
        # the sign of the number as written: -0.001 is negative even though it rounds to 0.00
        .when(c.cast("double") < 0, F.lit(PRICE_NEGATIVE))
    )


def rejection_reason(has_malformed: bool = True, parsed_time: Column | None = None) -> Column:
    """The first failing rule's reason (REASONS order), NULL for a valid row.

    `parsed_time`: the already parsed event_time column, if the caller has one (saves parsing twice).
    """
    parsed = parse_event_time(F.col("event_time")) if parsed_time is None else parsed_time
    rules = []
    if has_malformed:
        rules.append(F.when(F.col(MALFORMED_COL).isNotNull(), F.lit(WRONG_FIELD_COUNT)))
    rules += [
        F.when(_blank(F.col("event_time")), F.lit(TIME_MISSING)).when(parsed.isNull(), F.lit(TIME_UNPARSEABLE)),
        F.when(_blank(F.col("event_type")), F.lit(TYPE_MISSING)).when(
            ~F.col("event_type").isin(*EVENT_TYPES), F.lit(TYPE_INVALID)
        ),
        _id_rule("product_id"),
        _id_rule("category_id"),
        _price_rule(),
        _id_rule("user_id"),
    ]
    return F.coalesce(*rules)


def _null_if_empty(name: str) -> Column:
    c = F.col(name)
    return F.when(c == "", F.lit(None).cast("string")).otherwise(c)


def event_id_column(
    event_time: Column,
    event_type: Column,
    product_id: Column,
    category_id: Column,
    category_code: Column,
    brand: Column,
    price: Column,
    user_id: Column,
    user_session: Column,
    time_text: Column | None = None,
) -> Column:
    """Spark twin of schema.event_id_of over typed columns (time a UTC timestamp, price SPARK_MONEY_TYPE).

    `time_text`: the time already as EVENT_ID_TIME_PATTERN text in UTC, when known (saves formatting).
    """
    parts = [
        F.date_format(event_time, EVENT_ID_TIME_PATTERN) if time_text is None else time_text,
        event_type,
        product_id.cast("string"),
        category_id.cast("string"),
        F.coalesce(category_code, F.lit("")),
        F.coalesce(brand, F.lit("")),
        price.cast(SPARK_MONEY_TYPE).cast("string"),
        user_id.cast("string"),
        F.coalesce(user_session, F.lit("")),
    ]
    return F.substring(F.sha2(F.concat_ws(EVENT_ID_SEPARATOR, *parts), 256), 1, EVENT_ID_HEX_CHARS)


def _typed_columns() -> list[Column]:
    raw_time = F.col("event_time")
    typed = {
        "event_time": parse_event_time(raw_time),
        "event_type": F.col("event_type"),
        "product_id": F.trim(F.col("product_id")).cast("bigint"),
        "category_id": F.trim(F.col("category_id")).cast("bigint"),
        "category_code": _null_if_empty("category_code"),
        "brand": _null_if_empty("brand"),
        "price": F.trim(F.col("price")).cast(SPARK_MONEY_TYPE),
        "user_id": F.trim(F.col("user_id")).cast("bigint"),
        "user_session": _null_if_empty("user_session"),
    }
    return [c.alias(f"t_{name}") for name, c in typed.items()]


def _check_utc(spark: SparkSession) -> None:
    tz = spark.conf.get("spark.sql.session.timeZone")
    if tz not in ("UTC", "Etc/UTC", "Z", "+00:00"):
        raise ValueError(f"Spark session time zone must be UTC (event ids and hours depend on it), got {tz}")


def validate_raw(
    raw_df: DataFrame, source: str | Column | None = None, rejected_at: datetime | Column | None = None
) -> DataFrame:
    """Raw rows with their rejection reason and typed values side by side (see split_validated).

    `source` defaults to the raw frame's SOURCE_COL; `rejected_at` to the current timestamp.
    """
    _check_utc(raw_df.sparkSession)
    has_malformed = MALFORMED_COL in raw_df.columns
    src = F.col(SOURCE_COL) if source is None else (source if isinstance(source, Column) else F.lit(source))
    when = (
        F.current_timestamp()
        if rejected_at is None
        else (rejected_at if isinstance(rejected_at, Column) else F.lit(rejected_at).cast("timestamp"))
    )
    malformed = F.col(MALFORMED_COL) if has_malformed else F.lit(None).cast("string")
    typed = raw_df.select(
        *RAW_FIELDS,
        malformed.alias(MALFORMED_COL),
        src.cast("string").alias(SOURCE_COL),
        when.alias("rejected_at"),
        *_typed_columns(),
    )
    time_text = F.when(_is_raw_time_format(F.col("event_time")), _raw_time_id_text(F.col("event_time"))).otherwise(
        F.date_format(F.col("t_event_time"), EVENT_ID_TIME_PATTERN)
    )
    with_reason = typed.select(
        "*",
        time_text.alias("t_time_text"),
        rejection_reason(True, F.col("t_event_time")).alias(REASON_COL),
    )
    t = {f: F.col(f"t_{f}") for f in RAW_FIELDS}
    event_id = event_id_column(*(t[f] for f in RAW_FIELDS), time_text=F.col("t_time_text"))
    return with_reason.withColumn(EVENT_ID_COL, F.when(F.col(REASON_COL).isNull(), event_id))


def compact_validated(validated: DataFrame) -> DataFrame:
    """validate_raw's output with the raw text kept only where it is needed (rejected rows): cheaper to store."""
    rejected = F.col(REASON_COL).isNotNull()
    return validated.select(
        *(F.when(rejected, F.col(f)).alias(f) for f in RAW_FIELDS),
        *(c for c in validated.columns if c not in RAW_FIELDS and c != "t_time_text"),
    )


ROWS_COUNTED = "_rows"
ACCEPTED_COUNTED = "_accepted"


def reason_counts() -> list[Column]:
    """Aggregates over validate_raw's output: all rows (ROWS_COUNTED), accepted rows (ACCEPTED_COUNTED) and
    one count per rejection reason, named by the reason -- for DataFrame.observe during a write."""
    reason = F.col(REASON_COL)
    return [
        F.count(F.lit(1)).alias(ROWS_COUNTED),
        F.count(F.when(reason.isNull(), 1)).alias(ACCEPTED_COUNTED),
        *(F.count(F.when(reason == r, 1)).alias(r) for r in REASONS),
    ]


HOURS_COLLECTED = "_hours"


def event_rows_and_hours() -> list[Column]:
    """Aggregates over typed events: their number (ROWS_COUNTED) and their distinct event_hour values, sorted
    (HOURS_COLLECTED) -- for DataFrame.observe while the events are written."""
    return [
        F.count(F.lit(1)).alias(ROWS_COUNTED),
        F.array_sort(F.collect_set(F.col("event_hour"))).alias(HOURS_COLLECTED),
    ]


def split_validated(validated: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(typed accepted events with event_id and derived columns, rejected rows) from validate_raw's output."""
    t = {f: F.col(f"t_{f}") for f in RAW_FIELDS}
    accepted = validated.where(F.col(REASON_COL).isNull())
    typed = accepted.select(
        F.col(EVENT_ID_COL).alias("event_id"),
        *(t[f].alias(f) for f in RAW_FIELDS),
        F.date_trunc("hour", t["event_time"]).alias("event_hour"),
        F.to_date(t["event_time"]).alias("event_date"),
    )
    rejected = validated.where(F.col(REASON_COL).isNotNull()).select(
        *RAW_FIELDS,
        F.col(MALFORMED_COL).alias("raw_line"),
        F.col(REASON_COL).alias("reason"),
        F.col(SOURCE_COL).alias("source"),
        F.col("rejected_at"),
    )
    assert typed.columns == USER_EVENTS.column_names and rejected.columns == REJECTED_EVENTS.column_names
    return typed, rejected


def dedupe_events(typed_df: DataFrame, repeated_hashes: DataFrame | None = None) -> DataFrame:
    """Each event_id once, lazily (no action).

    Rows sharing an event_id are equal in every column (all columns derive from the id's canonical
    fields), so keeping one is a distinct over whole rows. Given the (small) set of candidate hashes
    (repeated_id_hashes), only those rows are de-duplicated; all others pass through a broadcast
    anti-join: no shuffle of the whole data set, which on a few cores costs far more than the extra scan.
    """
    if repeated_hashes is None:
        return typed_df.distinct()
    hashes = F.broadcast(repeated_hashes)
    keyed = typed_df.withColumn(ID_HASH_COL, id_hash(F.col("event_id")))
    single = keyed.join(hashes, ID_HASH_COL, "left_anti").drop(ID_HASH_COL)
    repeated = keyed.join(hashes, ID_HASH_COL, "left_semi").drop(ID_HASH_COL).distinct()
    return single.unionByName(repeated)


BROADCAST_DUPLICATE_IDS = 200_000


def dedupe_typed_events(typed_df: DataFrame) -> DataFrame:
    """Each event_id once, the plan chosen by how many ids repeat (runs one narrow Spark job to find out):
    up to BROADCAST_DUPLICATE_IDS repeated id hashes are broadcast (dedupe_events with candidates); more (a
    mostly duplicate input) make a full distinct the cheaper plan. Read typed_df from storage, not from a
    plan that parses the input: it is scanned twice."""
    hashes = repeated_id_hashes(typed_df).collect()
    if len(hashes) > BROADCAST_DUPLICATE_IDS:
        return dedupe_events(typed_df)
    candidates = typed_df.sparkSession.createDataFrame([(r[0],) for r in hashes], f"{ID_HASH_COL} long")
    return dedupe_events(typed_df, candidates)


def _join_on_brand(left: DataFrame, right: DataFrame) -> DataFrame:
    """Left join per brand, the NULL brand matching itself."""
    right = right.withColumnRenamed("brand", "_right_brand")  # both sides derive from one frame: rename
    return left.join(right, left["brand"].eqNullSafe(right["_right_brand"]), "left").drop("_right_brand")


def brand_details(typed_df: DataFrame) -> DataFrame:
    """One row per brand (NULL brand is its own row) over accepted, de-duplicated events.

    avg_price: mean price over the brand's events of any type; revenue: sum of price over purchases;
    sessions/users: distinct non-NULL user_session / distinct user_id among the brand's events;
    conversion_rate: sessions with a purchase of the brand / sessions with any event of the brand
    (NULL when the brand only has events without a session).
    """
    # Distinct counts as two-level aggregations: Spark's own plan for several count(DISTINCT) expands every
    # row once per distinct column and grew super-linearly with the rows (docs/batch.md).
    is_type = {t: F.col("event_type") == t for t in EVENT_TYPES}
    counts = typed_df.groupBy("brand").agg(
        F.avg(F.col("price").cast("double")).alias("avg_price"),
        F.count(F.when(is_type["view"], 1)).alias("views"),
        F.count(F.when(is_type["cart"], 1)).alias("carts"),
        F.count(F.when(is_type["purchase"], 1)).alias("purchases"),
        F.coalesce(F.sum(F.when(is_type["purchase"], F.col("price"))), F.lit(0)).alias("revenue"),
    )
    sessions = (
        typed_df.where(F.col("user_session").isNotNull())
        .groupBy("brand", "user_session")
        .agg(F.max(is_type["purchase"].cast("int")).alias("purchased"))
        .groupBy("brand")
        .agg(F.count(F.lit(1)).alias("sessions"), F.sum("purchased").alias("purchase_sessions"))
    )
    users = typed_df.select("brand", "user_id").distinct().groupBy("brand").agg(F.count(F.lit(1)).alias("users"))
    agg = _join_on_brand(_join_on_brand(counts, sessions), users)
    n_sessions = F.coalesce(F.col("sessions"), F.lit(0))
    out = agg.select(
        "brand",
        "avg_price",
        "views",
        "carts",
        "purchases",
        F.col("revenue").cast(SPARK_MONEY_TYPE).alias("revenue"),
        n_sessions.alias("sessions"),
        F.coalesce(F.col("users"), F.lit(0)).alias("users"),
        F.when(n_sessions > 0, F.col("purchase_sessions") / n_sessions).alias("conversion_rate"),
    )
    assert out.columns == BRAND_DETAILS.column_names
    return out


__all__ = [
    "REASONS",
    "REASON_DOCS",
    "read_raw_csv",
    "validate_raw",
    "split_validated",
    "dedupe_events",
    "dedupe_typed_events",
    "repeated_id_hashes",
    "brand_details",
    "event_id_column",
    "parse_event_time",
]
