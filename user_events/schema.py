"""The one definition of every table's columns.

Spark schemas, pandera schemas and PostgreSQL DDL are all derived from the specs below, so a column
is added or retyped in exactly one place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from psycopg import sql

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow
    from pyspark.sql.types import StructType

RAW_FIELDS: tuple[str, ...] = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)
RAW_HEADER = ",".join(RAW_FIELDS)

EVENT_TYPES: tuple[str, ...] = ("view", "cart", "remove_from_cart", "purchase")
ID_FIELDS: tuple[str, ...] = ("product_id", "category_id", "user_id")

# Field separator for the event_id hash: a control character that cannot appear in a CSV field
# unnoticed, so ("a", "bc") and ("ab", "c") hash differently.
EVENT_ID_SEPARATOR = "\x1f"
EVENT_ID_HEX_CHARS = 32  # 128 bits of SHA-256


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its Spark, PostgreSQL and validation view."""

    name: str
    kind: str  # one of KINDS
    nullable: bool = True
    unique: bool = False
    allowed: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None
    pg_collation: str | None = None  # e.g. "C" for machine ids: byte-wise compare, faster index builds


# Money (prices, revenue): 18 digits, 2 after the point, in every engine
MONEY_PRECISION, MONEY_SCALE = 18, 2
SPARK_MONEY_TYPE = f"decimal({MONEY_PRECISION},{MONEY_SCALE})"
PG_MONEY_TYPE = f"numeric({MONEY_PRECISION},{MONEY_SCALE})"
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)  # 0.01


def round_money(amount: Decimal) -> Decimal:
    """The amount to MONEY_SCALE decimals, half-up (as the warehouse stores it).
    decimal.InvalidOperation when it has far too many digits for the decimal context."""
    return amount.quantize(_MONEY_QUANTUM, rounding=ROUND_HALF_UP)


# kind -> (Spark SQL type name, PostgreSQL type); the Arrow type is in _ARROW_TYPES
KINDS: dict[str, tuple[str, str]] = {
    "text": ("string", "text"),
    "bigint": ("bigint", "bigint"),
    "timestamp": ("timestamp", "timestamptz"),
    "date": ("date", "date"),
    "money": (SPARK_MONEY_TYPE, PG_MONEY_TYPE),
    "double": ("double", "double precision"),
}


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _rate(name: str) -> ColumnSpec:
    return ColumnSpec(name, "double", nullable=True, min_value=0.0, max_value=1.0)


def _count(name: str) -> ColumnSpec:
    return ColumnSpec(name, "bigint", nullable=False, min_value=0)


USER_EVENTS = TableSpec(
    "user_events",
    (
        ColumnSpec("event_id", "text", nullable=False, unique=True, pg_collation="C"),
        ColumnSpec("event_time", "timestamp", nullable=False),
        ColumnSpec("event_type", "text", nullable=False, allowed=EVENT_TYPES),
        ColumnSpec("product_id", "bigint", nullable=False, min_value=1),
        ColumnSpec("category_id", "bigint", nullable=False, min_value=1),
        ColumnSpec("category_code", "text"),
        ColumnSpec("brand", "text"),
        ColumnSpec("price", "money", nullable=False, min_value=0),
        ColumnSpec("user_id", "bigint", nullable=False, min_value=1),
        ColumnSpec("user_session", "text", pg_collation="C"),
        # derived
        ColumnSpec("event_hour", "timestamp", nullable=False),
        ColumnSpec("event_date", "date", nullable=False),
    ),
    primary_key=("event_id",),
)

REJECTED_EVENTS = TableSpec(
    "rejected_events",
    tuple(ColumnSpec(f, "text") for f in RAW_FIELDS)
    + (
        ColumnSpec("raw_line", "text"),
        ColumnSpec("reason", "text", nullable=False),
        ColumnSpec("source", "text", nullable=False),
        ColumnSpec("rejected_at", "timestamp", nullable=False),
    ),
)

BRAND_DETAILS = TableSpec(
    "brand_details",
    (
        ColumnSpec("brand", "text"),
        ColumnSpec("avg_price", "double", min_value=0),
        _count("views"),
        _count("carts"),
        _count("purchases"),
        ColumnSpec("revenue", "money", nullable=False, min_value=0),
        _count("sessions"),
        _count("users"),
        _rate("conversion_rate"),
    ),
)

KPI_COLUMNS: tuple[ColumnSpec, ...] = (
    _count("events"),
    _count("users"),
    _count("sessions"),
    _count("purchases"),
    _count("orders"),
    ColumnSpec("revenue", "money", nullable=False, min_value=0),
    _rate("conversion_rate"),
    _rate("cart_abandonment_rate"),
    _rate("returning_user_rate"),
    _rate("repeat_customer_rate"),
    ColumnSpec("avg_order_value", "double", min_value=0),
)
KPI_METRIC_NAMES: tuple[str, ...] = tuple(c.name for c in KPI_COLUMNS)

KPI_DAILY = TableSpec("kpi_daily", (ColumnSpec("day", "date", nullable=False),) + KPI_COLUMNS, primary_key=("day",))
KPI_HOURLY = TableSpec(
    "kpi_hourly", (ColumnSpec("hour", "timestamp", nullable=False),) + KPI_COLUMNS, primary_key=("hour",)
)

# Events per UTC hour and event type, recomputed with the KPIs by every load (warehouse/kpis.py): what the
# dashboards' view -> cart -> purchase funnel sums, instead of counting user_events on every open.
EVENTS_BY_TYPE_HOURLY = TableSpec(
    "events_by_type_hourly",
    (
        ColumnSpec("hour", "timestamp", nullable=False),
        ColumnSpec("event_type", "text", nullable=False, allowed=EVENT_TYPES),
        _count("events"),
    ),
    primary_key=("hour", "event_type"),
)

# Which load owns a row of user_events: a load replaces only the rows it owns (see docs/batch.md, "Who owns
# which rows"). Not an event field: typed events (Spark, pandera, Parquet) carry USER_EVENTS' columns, the
# table adds the owner when it loads them.
LOAD_PATHS = ("batch", "lake")
LOADED_BY = ColumnSpec("loaded_by", "text", nullable=False, allowed=LOAD_PATHS)
USER_EVENTS_TABLE = TableSpec(USER_EVENTS.name, USER_EVENTS.columns + (LOADED_BY,), USER_EVENTS.primary_key)

WAREHOUSE_TABLES: tuple[TableSpec, ...] = (
    USER_EVENTS_TABLE,
    REJECTED_EVENTS,
    BRAND_DETAILS,
    KPI_DAILY,
    KPI_HOURLY,
    EVENTS_BY_TYPE_HOURLY,
)


# ---------------------------------------------------------------------------------------------
# Derivations
# ---------------------------------------------------------------------------------------------


# Spark's JSON name of a type where it differs from its DDL name (KINDS holds DDL names)
_SPARK_JSON_TYPE = {"bigint": "long"}


def spark_schema(table: TableSpec, columns: Sequence[str] | None = None) -> StructType:
    """The Spark StructType of a table (optionally only some columns, in the given order). Built from Spark's
    JSON form: parsing DDL would need a session (a JVM, or a Spark Connect server's round trip)."""
    from pyspark.sql.types import StructType

    names = list(columns) if columns is not None else table.column_names
    fields = [
        {
            "name": n,
            "type": _SPARK_JSON_TYPE.get(KINDS[table.column(n).kind][0], KINDS[table.column(n).kind][0]),
            "nullable": table.column(n).nullable,
            "metadata": {},
        }
        for n in names
    ]
    return StructType.fromJson({"type": "struct", "fields": fields})


_ARROW_TYPES = {
    "text": lambda pa: pa.string(),
    "bigint": lambda pa: pa.int64(),
    "timestamp": lambda pa: pa.timestamp("us", tz="UTC"),
    "date": lambda pa: pa.date32(),
    "money": lambda pa: pa.decimal128(MONEY_PRECISION, MONEY_SCALE),
    "double": lambda pa: pa.float64(),
}


def arrow_schema(table: TableSpec) -> pyarrow.Schema:
    """The Arrow schema of a table, the types its PostgreSQL columns take in a binary COPY."""
    import pyarrow as pa

    return pa.schema([pa.field(c.name, _ARROW_TYPES[c.kind](pa)) for c in table.columns])


def raw_spark_schema() -> StructType:
    """All nine raw CSV fields as strings: parsing happens in the transform, so nothing is lost."""
    from pyspark.sql.types import StringType, StructField, StructType

    return StructType([StructField(f, StringType(), True) for f in RAW_FIELDS])


def column_list(names: Iterable[str]) -> sql.Composed:
    """`"a", "b", ...`: column names as quoted identifiers, comma-separated."""
    return sql.SQL(", ").join(map(sql.Identifier, names))


def pg_create_table_sql(table: TableSpec, schema: str) -> sql.Composed:
    """CREATE TABLE IF NOT EXISTS for a table spec in a PostgreSQL schema."""
    cols = [_pg_column_sql(c) for c in table.columns]
    if table.primary_key:
        cols.append(sql.SQL("PRIMARY KEY ({})").format(column_list(table.primary_key)))
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
        sql.Identifier(schema, table.name), sql.SQL(", ").join(cols)
    )


def _pg_column_sql(c: ColumnSpec) -> sql.Composed:
    parts = [sql.Identifier(c.name), sql.SQL(KINDS[c.kind][1])]
    if c.pg_collation:
        parts += [sql.SQL("COLLATE"), sql.Identifier(c.pg_collation)]
    if not c.nullable:
        parts.append(sql.SQL("NOT NULL"))
    return sql.SQL(" ").join(parts)


def _pandera_checks(pa, spec: ColumnSpec) -> list:
    """The value-set and range checks of a column (`pa` = the pandera API module)."""
    checks = []
    if spec.allowed is not None:
        checks.append(pa.Check.isin(list(spec.allowed)))
    if spec.min_value is not None:
        checks.append(pa.Check.ge(spec.min_value))
    if spec.max_value is not None:
        checks.append(pa.Check.le(spec.max_value))
    return checks


def pandera_spark_schema(table: TableSpec, columns: Iterable[str] | None = None):
    """A pandera (pyspark API) DataFrameSchema for the table's columns: types, nullability, ranges, value sets.

    Uniqueness is not expressible in pandera's pyspark API, so it is a separate check (see checks).
    """
    import pandera.pyspark as pa

    names = list(columns) if columns is not None else table.column_names
    struct = {f.name: f.dataType for f in spark_schema(table, names).fields}
    pa_columns = {}
    for name in names:
        spec = table.column(name)
        pa_columns[name] = pa.Column(struct[name], checks=_pandera_checks(pa, spec), nullable=spec.nullable)
    return pa.DataFrameSchema(pa_columns, name=table.name, strict=False)


def pandera_pandas_schema(table: TableSpec, columns: Iterable[str] | None = None):
    """The same checks as `pandera_spark_schema` with pandera's pandas API, for small frames collected to the
    driver (brand details, KPI rows): NULLs, value sets and ranges. Column types are not part of it: they are
    Spark's, compared separately (`spark_type_mismatches`), since a pandas dtype says less (a long column
    with a NULL arrives as float)."""
    import pandera.pandas as pa

    names = list(columns) if columns is not None else table.column_names
    pa_columns = {
        name: pa.Column(checks=_pandera_checks(pa, table.column(name)), nullable=table.column(name).nullable)
        for name in names
    }
    return pa.DataFrameSchema(pa_columns, name=table.name, strict=False)


def spark_type_mismatches(actual, table: TableSpec) -> list[dict]:
    """The table's columns whose Spark type in the StructType `actual` differs from the spec (or is missing),
    as pandera reports a wrong data type."""
    have = {f.name: f.dataType for f in actual.fields}
    wrong = []
    for field in spark_schema(table).fields:
        got = have.get(field.name)
        if got != field.dataType:
            wrong.append(
                {
                    "schema": table.name,
                    "column": field.name,
                    "check": f"dtype('{field.dataType}')",
                    "error": f"expected column '{field.name}' to have type {field.dataType}, got {got}",
                }
            )
    return wrong


EVENT_ID_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # in UTC; Spark's form is spark_datetime_pattern(EVENT_ID_TIME_FORMAT)

# strftime directive -> Spark datetime pattern letters (only the ones the formats above use)
_SPARK_PATTERN_LETTERS = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss"}


def spark_datetime_pattern(time_format: str) -> str:
    """A strftime format of digits and separators as the Spark datetime pattern that prints the same text."""
    pattern = time_format
    for directive, letters in _SPARK_PATTERN_LETTERS.items():
        pattern = pattern.replace(directive, letters)
    if "%" in pattern:
        raise ValueError(f"no Spark pattern for {time_format!r}")
    return pattern


def canonical_event_fields(
    event_time, event_type, product_id, category_id, category_code, brand, price, user_id, user_session
) -> list[str]:
    """The normalised text of an event's nine fields that its id is a hash of.

    Normalised, not raw: the same event read from the CSV ("... UTC"), from Kafka JSON (ISO with Z) or with
    price "5" vs "5.00" gets the same id. Time in UTC to the second, price with two decimals (half-up).
    """
    t = event_time.astimezone(UTC) if event_time.tzinfo else event_time
    p = round_money(Decimal(str(price)))
    return [
        t.strftime(EVENT_ID_TIME_FORMAT),
        event_type,
        str(int(product_id)),
        str(int(category_id)),
        category_code or "",
        brand or "",
        str(p + 0),  # + 0 turns Decimal("-0.00") into "0.00", as Spark prints it
        str(int(user_id)),
        user_session or "",
    ]


def event_id_of(*typed_fields) -> str:
    """Deterministic id of an event from its nine typed values, in RAW_FIELDS order.

    Spark computes the same value in ingest.transforms (event_id column); a test holds them equal.
    """
    joined = EVENT_ID_SEPARATOR.join(canonical_event_fields(*typed_fields))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:EVENT_ID_HEX_CHARS]
