"""The one set of validation rules for a raw event: the accepted text shapes, the limits, the reason codes
and their order. The Spark validator (`ingest.transforms`) and the Python one of the sinks
(`streaming.validate`) both derive from here, so a row the batch path accepts is a message the sinks accept.

The shapes are regular expressions without anchors; `spark_regex` / `python_regex` anchor them to the
whole text for each engine. `user_events_tests/streaming/test_streaming_validate_parity.py` runs both
validators on the same rows, fuzzed ones included, and requires the same reason or event id for each.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from user_events.schema import EVENT_ID_TIME_FORMAT, EVENT_TYPES, ID_FIELDS, MONEY_PRECISION, MONEY_SCALE, PG_MONEY_TYPE

# The raw (REES46) event_time, e.g. "2019-11-01 00:00:00 UTC": the event id's time text plus " UTC", so its
# first RAW_TIME_ID_CHARS characters are that text. The validators take it on a fast path.
RAW_TIME_SUFFIX = " UTC"
RAW_TIME_FORMAT = EVENT_ID_TIME_FORMAT + RAW_TIME_SUFFIX
RAW_TIME_ID_CHARS = len(datetime(2019, 11, 1, tzinfo=UTC).strftime(EVENT_ID_TIME_FORMAT))
RAW_TIME_CHARS = RAW_TIME_ID_CHARS + len(RAW_TIME_SUFFIX)
_DIGITS = {"%Y": "[0-9]{4}", "%m": "[0-9]{2}", "%d": "[0-9]{2}", "%H": "[0-9]{2}", "%M": "[0-9]{2}", "%S": "[0-9]{2}"}


def _shape_of(time_format: str) -> str:
    shape = time_format
    for directive, digits in _DIGITS.items():
        shape = shape.replace(directive, digits)
    return shape


RAW_TIME_SHAPE = _shape_of(RAW_TIME_FORMAT)  # the fast path's shape; TIME_SHAPE accepts it too

# event_time: "YYYY-MM-DD HH:MM:SS UTC", or ISO-8601 ('T' or a space) with Z or an offset. Groups: date,
# clock, UTC|Z, offset hours, offset minutes.
TIME_SHAPE = r"([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?)(?: ?(UTC|Z)|([+-][0-9]{2})(?::?([0-9]{2}))?)"
INTEGER_SHAPE = r"[+-]?[0-9]+"  # product_id, category_id, user_id
NUMBER_SHAPE = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"  # price

# A value is trimmed of spaces only before it is checked (Spark's `trim`): a tab, a line break or a
# no-break space stays and makes the value malformed.
TRIMMED = " "

MAX_BIGINT = 2**63 - 1  # ids are PostgreSQL bigint
MIN_BIGINT = -(2**63)
# price is money (schema.MONEY_PRECISION, MONEY_SCALE): PRICE_LIMIT and above does not fit
PRICE_LIMIT = 10 ** (MONEY_PRECISION - MONEY_SCALE)

WRONG_FIELD_COUNT = "wrong_field_count"


def id_reasons(field: str) -> tuple[str, ...]:
    return (f"{field}_missing", f"{field}_not_integer", f"{field}_out_of_range", f"{field}_not_positive")


TIME_MISSING, TIME_UNPARSEABLE = TIME_REASONS = ("event_time_missing", "event_time_unparseable")
TYPE_MISSING, TYPE_INVALID = TYPE_REASONS = ("event_type_missing", "event_type_invalid")
PRICE_MISSING, PRICE_NOT_NUMBER, PRICE_OUT_OF_RANGE, PRICE_NEGATIVE = PRICE_REASONS = (
    "price_missing",
    "price_not_number",
    "price_out_of_range",
    "price_negative",
)

# Every rejection reason, in the order the rules are applied: the first failing one is the row's reason.
REASONS: tuple[str, ...] = (
    (WRONG_FIELD_COUNT,)
    + TIME_REASONS
    + TYPE_REASONS
    + id_reasons("product_id")
    + id_reasons("category_id")
    + PRICE_REASONS
    + id_reasons("user_id")
)

REASON_DOCS: dict[str, str] = {
    WRONG_FIELD_COUNT: "the record does not have exactly 9 fields (raw_line holds the record)",
    TIME_MISSING: "event_time empty",
    TIME_UNPARSEABLE: "event_time is not 'YYYY-MM-DD HH:MM:SS UTC' nor ISO-8601 with Z or an offset, "
    "or names an impossible date/time",
    TYPE_MISSING: "event_type empty",
    TYPE_INVALID: f"event_type not one of {', '.join(EVENT_TYPES)}",
    PRICE_MISSING: "price empty",
    PRICE_NOT_NUMBER: "price is not a decimal number",
    PRICE_OUT_OF_RANGE: f"price does not fit {PG_MONEY_TYPE}",
    PRICE_NEGATIVE: "price below zero (zero is valid)",
}
for _f in ID_FIELDS:
    REASON_DOCS.update(
        {
            f"{_f}_missing": f"{_f} empty",
            f"{_f}_not_integer": f"{_f} is not an integer (digits with an optional sign)",
            f"{_f}_out_of_range": f"{_f} beyond 64-bit signed integer",
            f"{_f}_not_positive": f"{_f} is zero or negative",
        }
    )


def spark_regex(shape: str) -> str:
    """The shape as a Spark (Java) regex for `rlike` / `regexp_extract`, matching the whole text."""
    return rf"^(?:{shape})$"


def python_regex(shape: str) -> re.Pattern[str]:
    """The shape as a compiled Python regex for `.match`, matching the whole text (ASCII digits only)."""
    return re.compile(rf"(?:{shape})\Z")


def format_raw_time(t: datetime) -> str:
    """RAW_TIME_FORMAT of an aware (any zone) or UTC-naive datetime."""
    return (t.astimezone(UTC) if t.tzinfo is not None else t).strftime(RAW_TIME_FORMAT)


def raw_text_fields(
    event_time, event_type, product_id, category_id, category_code, brand, price, user_id, user_session
) -> list[str]:
    """An event's nine values (RAW_FIELDS order) as raw text: the time in RAW_TIME_FORMAT (text is kept as it
    is), NULL as ''. What the CSV and the Kafka messages carry."""
    return [
        format_raw_time(event_time) if isinstance(event_time, datetime) else str(event_time),
        event_type,
        str(product_id),
        str(category_id),
        category_code or "",
        brand or "",
        str(price),
        str(user_id),
        user_session or "",
    ]
