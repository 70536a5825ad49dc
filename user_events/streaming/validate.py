"""Validation of one raw event (a Kafka JSON message, or a CSV row's nine fields) into a typed event.

Pure Python, no Spark: the rules, their order and the reason codes are those of the batch path (both
derive from `user_events.validation_rules`; a parity test runs both on the same rows), so a message the
sinks accept is a row the batch and hourly loads accept, and a rejected one carries the reason code
rejected_events would:

- wrong_field_count (a JSON object with a missing or an unexpected key, a CSV row without 9 fields);
- event_time_missing / _unparseable (`YYYY-MM-DD HH:MM:SS UTC`, or ISO-8601 with Z or an offset);
- event_type_missing / _invalid (view, cart, remove_from_cart, purchase);
- <id>_missing / _not_integer / _out_of_range (64-bit) / _not_positive for product_id, category_id, user_id;
- price_missing / _not_number / _out_of_range (beyond the money type, schema.PG_MONEY_TYPE) / _negative (zero is valid).
The first failing rule wins, in that order (user_id after price, as in the batch path). Empty
`brand`, `category_code`, `user_session` become None. A JSON number or boolean is read as its text, as
Spark reads it into a string column.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from user_events.schema import EVENT_TYPES, RAW_FIELDS, event_id_of, round_money
from user_events.validation_rules import (
    INTEGER_SHAPE,
    MAX_BIGINT,
    MIN_BIGINT,
    NUMBER_SHAPE,
    PRICE_LIMIT,
    PRICE_MISSING,
    PRICE_NEGATIVE,
    PRICE_NOT_NUMBER,
    PRICE_OUT_OF_RANGE,
    RAW_TIME_CHARS,
    RAW_TIME_SUFFIX,
    TIME_MISSING,
    TIME_SHAPE,
    TIME_UNPARSEABLE,
    TRIMMED,
    TYPE_INVALID,
    TYPE_MISSING,
    WRONG_FIELD_COUNT,
    id_reasons,
    python_regex,
    raw_text_fields,
)

# Message-level reasons (no batch twin: a CSV row is always text in fields)
NOT_JSON = "not_json"
NOT_AN_OBJECT = "not_a_json_object"

_EVENT_TYPES = frozenset(EVENT_TYPES)
_RAW_FIELD_SET = frozenset(RAW_FIELDS)
# the rules (shapes, limits, reasons and their order) are validation_rules'; the Spark validator's too
_TIME_RE = python_regex(TIME_SHAPE)
_INT_RE = python_regex(INTEGER_SHAPE)
_NUMBER_RE = python_regex(NUMBER_SHAPE)


class ValidationError(ValueError):
    """The event is invalid. `code` is the batch path's reason code; str(error) = "code: detail"."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


@dataclass(frozen=True, slots=True)
class TypedEvent:
    event_time: datetime  # timezone-aware, UTC, whole seconds
    event_type: str
    product_id: int
    category_id: int
    category_code: str | None
    brand: str | None
    price: Decimal  # two decimals
    user_id: int
    user_session: str | None

    def values(self) -> tuple:
        """The nine typed values in RAW_FIELDS order."""
        return (
            self.event_time,
            self.event_type,
            self.product_id,
            self.category_id,
            self.category_code,
            self.brand,
            self.price,
            self.user_id,
            self.user_session,
        )

    @property
    def event_id(self) -> str:
        return event_id_of(*self.values())

    @property
    def event_hour(self) -> datetime:
        return self.event_time.replace(minute=0, second=0, microsecond=0)

    def raw_dict(self) -> dict[str, str]:
        """The event in the raw message format: nine strings, empty string for a missing text field."""
        return dict(zip(RAW_FIELDS, raw_text_fields(*self.values()), strict=True))


def _text(value: Any) -> str | None:
    """A raw value as text, the way Spark reads a JSON value into a string column (None stays None)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _blank(text: str | None) -> bool:
    return text is None or text.strip(TRIMMED) == ""


def parse_event_time(value: Any) -> datetime:
    """Aware UTC datetime (whole seconds) of the raw format or ISO-8601 with Z/offset; ValidationError otherwise."""
    text = _text(value)
    if _blank(text):
        raise ValidationError(TIME_MISSING)
    # Fast path for the raw format (validation_rules.RAW_TIME_FORMAT), e.g. "2019-11-01 00:00:00 UTC".
    if (
        len(text) == RAW_TIME_CHARS
        and text.endswith(RAW_TIME_SUFFIX)
        and text[4] == "-"
        and text[10] == " "
        and text[13] == ":"
    ):
        try:
            return datetime(
                int(text[0:4]),
                int(text[5:7]),
                int(text[8:10]),
                int(text[11:13]),
                int(text[14:16]),
                int(text[17:19]),
                tzinfo=UTC,
            )
        except ValueError:
            raise ValidationError(TIME_UNPARSEABLE, repr(value)) from None
    m = _TIME_RE.match(text.strip(TRIMMED))
    if m is None:
        raise ValidationError(TIME_UNPARSEABLE, repr(value))
    date, clock, utc, off_h, off_m = m.groups()
    zone = "+00:00" if utc else f"{off_h}:{off_m or '00'}"
    try:
        t = datetime.fromisoformat(f"{date}T{clock}{zone}")
    except ValueError:
        raise ValidationError(TIME_UNPARSEABLE, repr(value)) from None
    return t.astimezone(UTC).replace(microsecond=0)


def parse_id(name: str, value: Any) -> int:
    missing, not_integer, out_of_range, not_positive = id_reasons(name)
    text = _text(value)
    if _blank(text):
        raise ValidationError(missing)
    text = text.strip(TRIMMED)
    if not _INT_RE.match(text):
        raise ValidationError(not_integer, repr(value))
    n = int(text)
    if n > MAX_BIGINT or n < MIN_BIGINT:
        raise ValidationError(out_of_range, repr(value))
    if n <= 0:
        raise ValidationError(not_positive, repr(value))
    return n


def parse_price(value: Any) -> Decimal:
    """The price in the money type (schema.round_money: half-up, as the warehouse stores it)."""
    text = _text(value)
    if _blank(text):
        raise ValidationError(PRICE_MISSING)
    text = text.strip(TRIMMED)
    if not _NUMBER_RE.match(text):
        raise ValidationError(PRICE_NOT_NUMBER, repr(value))
    exact = Decimal(text)
    try:
        p = round_money(exact)
    except InvalidOperation:  # far too many digits for the context
        raise ValidationError(PRICE_OUT_OF_RANGE, repr(value)) from None
    if abs(p) >= PRICE_LIMIT:
        raise ValidationError(PRICE_OUT_OF_RANGE, repr(value))
    if exact < 0:  # the sign as written: -0.001 is negative although it rounds to 0.00
        raise ValidationError(PRICE_NEGATIVE, repr(value))
    return p


def _optional_text(value: Any) -> str | None:
    text = _text(value)
    return None if text == "" else text


def validate_record(record: Mapping[str, Any]) -> TypedEvent:
    """The typed event of a mapping with exactly the nine raw keys (values as text or JSON scalars)."""
    if len(record) != len(RAW_FIELDS) or record.keys() != _RAW_FIELD_SET:
        keys = set(record.keys())
        missing = [f for f in RAW_FIELDS if f not in keys]
        extra = sorted(str(k) for k in keys - _RAW_FIELD_SET)
        parts = []
        if missing:
            parts.append("missing field(s) " + ", ".join(missing))
        if extra:
            parts.append("unexpected field(s) " + ", ".join(extra))
        raise ValidationError(WRONG_FIELD_COUNT, f"{len(keys)} fields instead of 9; " + "; ".join(parts))
    event_time = parse_event_time(record["event_time"])
    event_type = _text(record["event_type"])
    if _blank(event_type):
        raise ValidationError(TYPE_MISSING)
    if event_type not in _EVENT_TYPES:
        raise ValidationError(TYPE_INVALID, repr(event_type))
    product_id = parse_id("product_id", record["product_id"])
    category_id = parse_id("category_id", record["category_id"])
    price = parse_price(record["price"])
    user_id = parse_id("user_id", record["user_id"])
    return TypedEvent(
        event_time=event_time,
        event_type=event_type,
        product_id=product_id,
        category_id=category_id,
        category_code=_optional_text(record["category_code"]),
        brand=_optional_text(record["brand"]),
        price=price,
        user_id=user_id,
        user_session=_optional_text(record["user_session"]),
    )


def parse_message(value: bytes | None) -> tuple[dict, TypedEvent]:
    """(decoded JSON object, typed event) of a Kafka message value; ValidationError with the reason otherwise."""
    if value is None:
        raise ValidationError(NOT_JSON, "empty message (no value)")
    try:
        record = json.loads(value)
    except UnicodeDecodeError:
        raise ValidationError(NOT_JSON, "not UTF-8") from None
    except ValueError as exc:
        raise ValidationError(NOT_JSON, str(exc)) from None
    if not isinstance(record, dict):
        raise ValidationError(NOT_AN_OBJECT, f"a JSON {type(record).__name__}")
    return record, validate_record(record)


def parse_messages(messages: Iterable) -> tuple[list[tuple[Any, dict, TypedEvent]], list[tuple[Any, str]]]:
    """A batch of Kafka messages split into (message, record, event) for each valid one and (message, reason)
    for each poison one."""
    valid, poison = [], []
    for m in messages:
        try:
            record, event = parse_message(m.value())
        except ValidationError as exc:
            poison.append((m, str(exc)))
            continue
        valid.append((m, record, event))
    return valid, poison


def minute_start(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)
