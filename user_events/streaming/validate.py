"""Validation of one raw event (a Kafka JSON message, or a CSV row's nine fields) into a typed event.

Pure Python, no Spark: the same rules as the contract's raw-input validation, so a message the sinks
accept is a row the batch path accepts, and a rejected one carries a reason of the same kind:

- `event_time` unparseable (raw `YYYY-MM-DD HH:MM:SS UTC`, or ISO-8601 with `Z` or an offset);
- `event_type` not one of view, cart, remove_from_cart, purchase;
- `product_id`, `category_id`, `user_id` missing, non-integer, <= 0 or beyond 64-bit;
- `price` missing, not a number, or negative (zero is valid);
- wrong number of fields (a JSON object with a missing or an unexpected key).

Empty `brand`, `category_code`, `user_session` become None.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping, Sequence

from user_events.schema import EVENT_TYPES, RAW_FIELDS, event_id_of

MAX_BIGINT = 2**63 - 1
# numeric(18,2): at most 16 digits before the decimal point.
MAX_PRICE = Decimal("9999999999999999.99")
RAW_TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"

_EVENT_TYPES = frozenset(EVENT_TYPES)
_RAW_FIELD_SET = frozenset(RAW_FIELDS)
_INT_TEXT = re.compile(r"\s*[+-]?\d+\s*\Z")


class ValidationError(ValueError):
    """The event is invalid; str(error) is the reason that goes to the DLQ / rejected_events."""


@dataclass(frozen=True, slots=True)
class TypedEvent:
    event_time: datetime  # timezone-aware, UTC
    event_type: str
    product_id: int
    category_id: int
    category_code: str | None
    brand: str | None
    price: Decimal
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
        return {
            "event_time": format_raw_time(self.event_time),
            "event_type": self.event_type,
            "product_id": str(self.product_id),
            "category_id": str(self.category_id),
            "category_code": self.category_code or "",
            "brand": self.brand or "",
            "price": str(self.price),
            "user_id": str(self.user_id),
            "user_session": self.user_session or "",
        }


def format_raw_time(t: datetime) -> str:
    """`YYYY-MM-DD HH:MM:SS UTC` (the raw CSV format) of an aware or UTC-naive datetime."""
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    return t.strftime(RAW_TIME_FORMAT)


def parse_event_time(value: Any) -> datetime:
    """An aware UTC datetime from the raw format or ISO-8601 with Z/offset; ValidationError otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("event_time missing" if value in (None, "") else "event_time unparseable")
    text = value.strip()
    # Fast path for the raw format, e.g. "2019-11-01 00:00:00 UTC".
    if len(text) == 23 and text.endswith(" UTC") and text[4] == "-" and text[7] == "-" and text[13] == ":":
        try:
            return datetime(
                int(text[0:4]), int(text[5:7]), int(text[8:10]),
                int(text[11:13]), int(text[14:16]), int(text[17:19]), tzinfo=timezone.utc,
            )  # fmt: skip
        except ValueError:
            raise ValidationError(f"event_time unparseable: {value!r}") from None
    if text.endswith(" UTC"):
        text = text[:-4] + "Z"
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"event_time unparseable: {value!r}") from None
    if t.tzinfo is None:
        raise ValidationError(f"event_time unparseable (no time zone): {value!r}")
    return t.astimezone(timezone.utc)


def parse_id(name: str, value: Any) -> int:
    if value is None or value == "":
        raise ValidationError(f"{name} missing")
    if isinstance(value, bool):
        raise ValidationError(f"{name} not an integer: {value!r}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and _INT_TEXT.match(value):
        n = int(value)
    else:
        raise ValidationError(f"{name} not an integer: {value!r}")
    if n <= 0:
        raise ValidationError(f"{name} not positive: {value!r}")
    if n > MAX_BIGINT:
        raise ValidationError(f"{name} beyond 64-bit: {value!r}")
    return n


def parse_price(value: Any) -> Decimal:
    if value is None or value == "":
        raise ValidationError("price missing")
    if isinstance(value, bool):
        raise ValidationError(f"price not a number: {value!r}")
    try:
        p = Decimal(value.strip() if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError(f"price not a number: {value!r}") from None
    if not p.is_finite():
        raise ValidationError(f"price not a number: {value!r}")
    if p < 0:
        raise ValidationError(f"price negative: {value!r}")
    if p > MAX_PRICE:
        raise ValidationError(f"price out of range: {value!r}")
    return p


def _optional_text(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} not a string: {value!r}")
    return value


def validate_record(record: Mapping[str, Any]) -> TypedEvent:
    """The typed event of a mapping with exactly the nine raw keys (values as text or JSON scalars)."""
    if len(record) != len(RAW_FIELDS) or record.keys() != _RAW_FIELD_SET:
        keys = set(record.keys())
        missing = [f for f in RAW_FIELDS if f not in keys]
        extra = sorted(str(k) for k in keys - _RAW_FIELD_SET)
        parts = []
        if missing:
            parts.append("missing field(s): " + ", ".join(missing))
        if extra:
            parts.append("unexpected field(s): " + ", ".join(extra))
        raise ValidationError(f"wrong number of fields ({len(keys)} instead of 9); " + "; ".join(parts))
    event_type = record["event_type"]
    if event_type not in _EVENT_TYPES:
        if event_type is None or event_type == "":
            raise ValidationError("event_type missing")
        raise ValidationError(f"event_type not one of {', '.join(EVENT_TYPES)}: {event_type!r}")
    return TypedEvent(
        event_time=parse_event_time(record["event_time"]),
        event_type=event_type,
        product_id=parse_id("product_id", record["product_id"]),
        category_id=parse_id("category_id", record["category_id"]),
        category_code=_optional_text("category_code", record["category_code"]),
        brand=_optional_text("brand", record["brand"]),
        price=parse_price(record["price"]),
        user_id=parse_id("user_id", record["user_id"]),
        user_session=_optional_text("user_session", record["user_session"]),
    )


def validate_fields(values: Sequence[Any]) -> TypedEvent:
    """The typed event of a CSV row's fields in RAW_FIELDS order (wrong field count is an error)."""
    if len(values) != len(RAW_FIELDS):
        raise ValidationError(f"wrong number of fields ({len(values)} instead of 9)")
    return validate_record(dict(zip(RAW_FIELDS, values)))


def parse_message(value: bytes | None) -> tuple[dict, TypedEvent]:
    """(decoded JSON object, typed event) of a Kafka message value; ValidationError with the reason otherwise."""
    if value is None:
        raise ValidationError("empty message (no value)")
    try:
        record = json.loads(value)
    except UnicodeDecodeError:
        raise ValidationError("not UTF-8") from None
    except ValueError as exc:
        raise ValidationError(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise ValidationError(f"not a JSON object: {type(record).__name__}")
    return record, validate_record(record)


def hour_start(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def minute_start(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


ONE_HOUR = timedelta(hours=1)
