"""The sinks' Python validation agrees with the batch path's Spark validation, row by row: same reason
code for a bad row, same event id for a good one."""

from __future__ import annotations

import csv
import itertools
import random

import pytest

from user_events.schema import RAW_FIELDS, raw_spark_schema
from user_events.streaming.validate import NOT_AN_OBJECT, NOT_JSON, ValidationError, validate_record

GOOD = [
    "2019-11-01 00:00:01 UTC",
    "view",
    "17302664",
    "2053013553853497655",
    "",
    "creed",
    "28.31",
    "561587266",
    "755422e7",
]
# (field, value) spoilers and look-alikes that must be accepted
VARIANTS = [
    ("event_time", "2019-11-01 25:61:00 UTC"),
    ("event_time", ""),
    ("event_time", "   "),
    ("event_time", "2019-11-01 00:00:01"),
    ("event_time", "2019-02-30 00:00:00 UTC"),
    ("event_time", "2019-11-01T01:00:01+01:00"),
    ("event_time", "2019-11-01T00:00:01Z"),
    ("event_time", "2019-11-01 00:00:01.5 UTC"),
    ("event_time", "2019-11-01T00:00:01.123456-0130"),
    ("event_time", "2019-11-01T00:00Z"),
    ("event_type", "click"),
    ("event_type", ""),
    ("event_type", "View"),
    ("event_type", " view"),
    ("product_id", ""),
    ("product_id", "12ab"),
    ("product_id", "0"),
    ("product_id", "-5"),
    ("product_id", " 42 "),
    ("product_id", "+7"),
    ("product_id", "1.0"),
    ("product_id", "9223372036854775807"),
    ("product_id", "9223372036854775808"),
    ("product_id", "-99999999999999999999"),
    ("category_id", "0"),
    ("category_id", "1e3"),
    ("price", ""),
    ("price", "free"),
    ("price", "NaN"),
    ("price", "-1.50"),
    ("price", "0"),
    ("price", "5"),
    ("price", "5.005"),
    ("price", "-0.001"),
    ("price", "1e3"),
    ("price", ".5"),
    ("price", "9999999999999999.99"),
    ("price", "10000000000000000"),
    ("price", " 3.10 "),
    ("user_id", "99999999999999999999"),
    ("user_id", "-5"),
    ("user_id", "x"),
    ("brand", ""),
    ("user_session", ""),
    ("category_code", "electronics.smartphone"),
]


# Characters the rules' shapes care about (digits, signs, separators, exponent, zone letters), plus the
# look-alikes where the two engines could part: whitespace other than a space, non-ASCII digits.
FUZZ_ALPHABET = list("0123456789+-.:eETZ U") + ["\t", "\n", "\u0663", "\u00a0"]
FUZZ_SEEDS = {
    "event_time": ["2019-11-01 00:00:01 UTC", "2019-11-01T00:00:01.5+01:30", "2019-11-01T00:00:01Z"],
    "product_id": ["17302664", "-5", "+7"],
    "price": ["28.31", "1e3", ".5", "9999999999999999.99"],
}


def fuzzed(rng: random.Random, seed: str) -> str:
    """The seed with one to three characters replaced, inserted or deleted (from FUZZ_ALPHABET)."""
    chars = list(seed)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(chars) + 1)
        edit = rng.choice(("replace", "insert", "delete"))
        if edit == "insert" or not chars or i == len(chars):
            chars.insert(i, rng.choice(FUZZ_ALPHABET))
        elif edit == "replace":
            chars[i] = rng.choice(FUZZ_ALPHABET)
        else:
            del chars[i]
    return "".join(chars)


def fuzz_variants(n_per_seed: int = 40) -> list[tuple[str, str]]:
    rng = random.Random(20191101)
    return [(f, fuzzed(rng, seed)) for f, seeds in FUZZ_SEEDS.items() for seed in seeds for _ in range(n_per_seed)]


def python_outcome(row: list) -> tuple[str | None, str | None]:
    try:
        ev = validate_record(dict(zip(RAW_FIELDS, row, strict=True)))
    except ValidationError as exc:
        return exc.code, None
    return None, ev.event_id


@pytest.fixture(scope="module")
def rows(rees46_sample) -> list[list[str]]:
    with open(rees46_sample, newline="") as fh:
        sample = [r for r in itertools.islice(csv.reader(fh), 1, 301)]
    idx = {f: i for i, f in enumerate(RAW_FIELDS)}
    out = sample + [GOOD]
    for field, value in VARIANTS + fuzz_variants():
        row = list(GOOD)
        row[idx[field]] = value
        out.append(row)
    # two failing fields: the first in rule order wins
    out.append(["", "click", "x", "0", "", "", "-1", "0", "s"])
    out.append(GOOD[:3] + ["0"] + GOOD[4:6] + ["-1"] + GOOD[7:])
    return out


def test_python_and_spark_validation_agree(spark, rows):
    from user_events.ingest.transforms import EVENT_ID_COL, REASON_COL, REASONS, validate_raw

    spark_rows = [[v if v != "" else None for v in r] for r in rows]  # Spark's CSV reader: empty -> NULL
    df = spark.createDataFrame(spark_rows, raw_spark_schema())
    got = validate_raw(df, source="parity").select(REASON_COL, EVENT_ID_COL).collect()
    mismatches = [
        (row, (s[REASON_COL], s[EVENT_ID_COL]), python_outcome(row))
        for row, s in zip(rows, got, strict=False)
        if (s[REASON_COL], s[EVENT_ID_COL]) != python_outcome(row)
    ]
    assert mismatches == [], "\n".join(f"{row}: spark {spark}, python {py}" for row, spark, py in mismatches)
    codes = {python_outcome(r)[0] for r in rows} - {None}
    assert codes <= set(REASONS) and len(codes) >= 15  # every kind of reason was exercised
    assert {NOT_JSON, NOT_AN_OBJECT}.isdisjoint(REASONS)
