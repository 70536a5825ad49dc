"""The one set of validation rules for a raw event: the accepted text shapes, the limits, the reason codes
and their order. The Spark validator (`ingest.transforms`) and the Python one of the sinks
(`streaming.validate`) both derive from here, so a row the batch path accepts is a message the sinks accept.

The shapes are regular expressions without anchors; `spark_regex` / `python_regex` anchor them to the
whole text for each engine. `user_events_tests/streaming/test_stream_validate_parity.py` runs both
validators on the same rows, fuzzed ones included, and requires the same reason or event id for each.
"""

from __future__ import annotations

import re

from user_events.schema import EVENT_TYPES, ID_FIELDS

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
PRICE_PRECISION, PRICE_SCALE = 18, 2  # price is numeric(18,2): 16 digits before the point

WRONG_FIELD_COUNT = "wrong_field_count"


def id_reasons(field: str) -> tuple[str, ...]:
    return (f"{field}_missing", f"{field}_not_integer", f"{field}_out_of_range", f"{field}_not_positive")


# Every rejection reason, in the order the rules are applied: the first failing one is the row's reason.
REASONS: tuple[str, ...] = (
    (WRONG_FIELD_COUNT,)
    + ("event_time_missing", "event_time_unparseable")
    + ("event_type_missing", "event_type_invalid")
    + id_reasons("product_id")
    + id_reasons("category_id")
    + ("price_missing", "price_not_number", "price_out_of_range", "price_negative")
    + id_reasons("user_id")
)

REASON_DOCS: dict[str, str] = {
    WRONG_FIELD_COUNT: "the record does not have exactly 9 fields (raw_line holds the record)",
    "event_time_missing": "event_time empty",
    "event_time_unparseable": "event_time is not 'YYYY-MM-DD HH:MM:SS UTC' nor ISO-8601 with Z or an offset, "
    "or names an impossible date/time",
    "event_type_missing": "event_type empty",
    "event_type_invalid": f"event_type not one of {', '.join(EVENT_TYPES)}",
    "price_missing": "price empty",
    "price_not_number": "price is not a decimal number",
    "price_out_of_range": f"price does not fit numeric({PRICE_PRECISION},{PRICE_SCALE})",
    "price_negative": "price below zero (zero is valid)",
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
