"""Seeded generator of realistic e-commerce user events in the REES46 raw format.

The session model (shared with the streaming simulator):
- sessions start over the period (a diurnal curve over UTC hours, or a flat rate);
- a session belongs to a user; ~30% of sessions belong to a user seen earlier (returning users);
- a session views products (mostly within one category), puts some in the cart, removes some,
  and either buys what is left (order) or abandons the cart;
- products, brands and categories have Zipf-like popularity; ~18% of events have no brand and ~37% no
  category_code; a few products cost 0.00; very few sessions have no session id (NULL user_session).

`generate_events` yields clean events (dicts, typed values) in time order; `raw_row` renders one as the
nine raw CSV fields; `write_csv` writes a file and sprinkles exact duplicates and invalid rows of every
kind over it (with counts returned, so tests know what to expect).
"""

from __future__ import annotations

import bisect
import csv
import heapq
import itertools
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .schema import RAW_FIELDS
from .validation_rules import RAW_TIME_FORMAT, raw_text_fields

DEFAULT_START = datetime(2019, 11, 1, tzinfo=UTC)
DEFAULT_SEED = 20191101
SAMPLE_ROWS = 200_000  # the generated sample (`user-events generate`, the batch path's input when none is set)
DUPLICATE_RATE = 0.002  # share of a written CSV's rows that are exact duplicates of the row before
INVALID_RATE = 0.001  # share that are invalid rows (_spoilers)

# Relative event volume per UTC hour (quiet night, busy afternoon/evening), as in the public data.
DIURNAL_WEIGHTS = (
    0.40,
    0.30,
    0.25,
    0.25,
    0.30,
    0.45,
    0.70,
    1.00,
    1.20,
    1.30,
    1.30,
    1.30,
    1.30,
    1.30,
    1.30,
    1.35,
    1.40,
    1.50,
    1.60,
    1.60,
    1.40,
    1.10,
    0.80,
    0.55,
)

EMPTY_BRAND_SHARE = 0.18
EMPTY_CATEGORY_CODE_SHARE = 0.37
ZERO_PRICE_SHARE = 0.003
NULL_SESSION_SHARE = 0.0005
RETURNING_SESSION_SHARE = 0.30

_CATEGORY_CODES = (
    "electronics.smartphone",
    "electronics.audio.headphone",
    "electronics.video.tv",
    "electronics.clocks",
    "electronics.tablet",
    "electronics.camera.photo",
    "computers.notebook",
    "computers.desktop",
    "computers.peripherals.printer",
    "computers.components.videocards",
    "appliances.kitchen.washer",
    "appliances.kitchen.refrigerators",
    "appliances.environment.vacuum",
    "appliances.kitchen.kettle",
    "appliances.sewing_machine",
    "apparel.shoes",
    "apparel.shoes.keds",
    "apparel.trousers",
    "furniture.living_room.sofa",
    "furniture.bedroom.bed",
    "auto.accessories.player",
    "kids.toys",
    "sport.bicycle",
    "construction.tools.drill",
    "accessories.bag",
    "country_yard.cultivator",
    "medicine.tools.tonometer",
    "stationery.cartrige",
)
_KNOWN_BRANDS = (
    "samsung",
    "apple",
    "xiaomi",
    "huawei",
    "lucente",
    "cordiant",
    "lg",
    "bosch",
    "sony",
    "oppo",
    "acer",
    "lenovo",
    "artel",
    "respect",
    "hp",
    "indesit",
    "elenberg",
    "janome",
    "creed",
    "asus",
)
# Rare brands that exercise quoting and verbatim storage end to end.
_TRICKY_BRANDS = ('o"brien', "smith, jones & co", "löwe", "日本製", "x'); drop table brand_details;--")
_SYLLABLES = ("ka", "lo", "mi", "ra", "te", "vo", "zen", "tri", "sta", "nor", "bel", "qua", "dex", "fin", "gro")


def _zipf_cdf(n: int, s: float) -> list[float]:
    weights = [1.0 / (k**s) for k in range(1, n + 1)]
    total = sum(weights)
    cdf, acc = [], 0.0
    for w in weights:
        acc += w / total
        cdf.append(acc)
    cdf[-1] = 1.0
    return cdf


def _low_discrepancy_flag(rank: int, share: float, phase: float) -> bool:
    """Spread a flag over popularity ranks so that its share of (Zipf-weighted) events stays close to `share`."""
    return ((rank + 1) * 0.6180339887498949 + phase) % 1.0 < share


@dataclass
class Catalog:
    product_ids: list[int]
    category_ids: list[int]
    category_codes: list[str | None]
    brands: list[str | None]
    prices: list[str]
    product_cdf: list[float]
    by_category: dict[int, list[int]] = field(default_factory=dict)  # category_id -> product indexes

    @classmethod
    def build(cls, rng: random.Random, n_products: int = 20_000, n_categories: int = 600, n_brands: int = 1_500):
        category_ids = rng.sample(range(2_053_013_552_000_000_000, 2_053_013_570_000_000_000), n_categories)
        category_code_of = {
            cid: (
                None
                if _low_discrepancy_flag(i, EMPTY_CATEGORY_CODE_SHARE, 0.11)
                else _CATEGORY_CODES[i % len(_CATEGORY_CODES)]
            )
            for i, cid in enumerate(category_ids)
        }
        brand_names = list(_KNOWN_BRANDS)
        while len(brand_names) < n_brands - len(_TRICKY_BRANDS):
            name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
            if name not in brand_names:
                brand_names.append(name)
        brand_names.extend(_TRICKY_BRANDS)
        brand_cdf = _zipf_cdf(len(brand_names), 1.05)
        category_cdf = _zipf_cdf(n_categories, 0.9)
        product_ids = rng.sample(range(1_000_000, 100_000_000), n_products)
        cats, codes, brands, prices = [], [], [], []
        by_category: dict[int, list[int]] = {}
        for rank in range(n_products):
            cid = category_ids[bisect.bisect_left(category_cdf, rng.random())]
            cats.append(cid)
            by_category.setdefault(cid, []).append(rank)
            # category_code per product (rank-spread) so the empty share is ~37% of events, as in REES46
            code = category_code_of[cid]
            if _low_discrepancy_flag(rank, EMPTY_CATEGORY_CODE_SHARE, 0.37):
                code = None
            elif code is None:
                code = _CATEGORY_CODES[rank % len(_CATEGORY_CODES)]
            codes.append(code)
            brand = None
            if not _low_discrepancy_flag(rank, EMPTY_BRAND_SHARE, 0.73):
                brand = brand_names[bisect.bisect_left(brand_cdf, rng.random())]
            brands.append(brand)
            if _low_discrepancy_flag(rank, ZERO_PRICE_SHARE, 0.5):
                prices.append("0.00")
            else:
                prices.append(f"{min(rng.lognormvariate(4.2, 1.1), 99_999.0) + 0.5:.2f}")
        return cls(product_ids, cats, codes, brands, prices, _zipf_cdf(n_products, 0.85), by_category)


# Compact per-session plan: one letter per event. v=view, c=cart, r=remove_from_cart, p=purchase.
_TYPE_OF = {"v": "view", "c": "cart", "r": "remove_from_cart", "p": "purchase"}


def _session_plan(rng: random.Random) -> str:
    views = 1
    while rng.random() < 0.72 and views < 60:
        views += 1
    plan = []
    carts = 0
    for _ in range(views):
        plan.append("v")
        if rng.random() < 0.09:
            plan.append("c")
            carts += 1
    removed = 0
    for _ in range(carts):
        if rng.random() < 0.12:
            plan.append("r")
            removed += 1
    if carts - removed > 0 and rng.random() < 0.45:
        plan.extend("p" * (carts - removed))
    return "".join(plan)


def _hour_quotas(n_events: int, hours: int, diurnal: bool, first_hour: int) -> list[int]:
    weights = [DIURNAL_WEIGHTS[(first_hour + h) % 24] if diurnal else 1.0 for h in range(hours)]
    total = sum(weights)
    quotas = [int(n_events * w / total) for w in weights]
    for h in range(n_events - sum(quotas)):  # hand out the remainder, busiest hours first
        quotas[sorted(range(hours), key=lambda i: -weights[i])[h % hours]] += 1
    return quotas


class _SessionModel:
    """Turns session plans into timed events; keeps the user pool so users return across sessions."""

    def __init__(self, rng: random.Random, catalog: Catalog):
        self.rng = rng
        self.catalog = catalog
        self.users: list[int] = []
        self.user_ids_seen: set[int] = set()

    def _user(self) -> int:
        rng = self.rng
        if self.users and rng.random() < RETURNING_SESSION_SHARE:
            # recent users come back more often than old ones
            return self.users[-1 - min(int(rng.expovariate(1 / 2000)), len(self.users) - 1)]
        while True:
            uid = rng.randrange(500_000_000, 650_000_000)
            if uid not in self.user_ids_seen:
                self.user_ids_seen.add(uid)
                self.users.append(uid)
                return uid

    def _session_id(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"

    def events(self, plan: str, start: float, end: float) -> list[tuple]:
        """The session's events as (epoch_second, seq, fields...) tuples; times clamped to [start, end)."""
        rng, cat = self.rng, self.catalog
        user = self._user()
        session = None if rng.random() < NULL_SESSION_SHARE else self._session_id()
        cdf = cat.product_cdf
        product = bisect.bisect_left(cdf, rng.random())
        cart: list[int] = []
        out = []
        t = start
        last = int(end) - 1 if end != math.inf else 1 << 62
        for letter in plan:
            if letter == "v":
                if out:
                    t += min(rng.expovariate(1 / 35.0), 900.0)
                    if rng.random() < 0.6:
                        siblings = cat.by_category[cat.category_ids[product]]
                        product = siblings[int(rng.random() * len(siblings))]
                    else:
                        product = bisect.bisect_left(cdf, rng.random())
                p = product
            elif letter == "c":
                t += 3 + rng.random() * 40
                p = product
                cart.append(product)
            elif letter == "r":
                t += 5 + rng.random() * 60
                p = cart.pop(int(rng.random() * len(cart)))
            else:  # purchase: everything left in the cart, in cart order
                t += 20 + rng.random() * 200 if not out or out[-1][2] != "purchase" else rng.random() * 2
                p = cart.pop(0)
            out.append(
                (
                    min(int(t), last),
                    0,
                    _TYPE_OF[letter],
                    cat.product_ids[p],
                    cat.category_ids[p],
                    cat.category_codes[p],
                    cat.brands[p],
                    cat.prices[p],
                    user,
                    session,
                )
            )
        return out


def _event_tuples(
    seed: int, start: datetime, duration: timedelta | None, n_events: int | None, rate: float | None, diurnal: bool
) -> Iterator[tuple]:
    """(epoch_second, type, product, category, code, brand, price_text, user, session) in time order."""
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    rng = random.Random(seed)
    catalog = Catalog.build(rng)
    model = _SessionModel(rng, catalog)
    t0 = start.timestamp()
    if duration is None:
        if rate is None:
            raise ValueError("give n_events, duration or rate")
        hours_iter = itertools.count()
        quotas = None
    else:
        hours = max(1, math.ceil(duration.total_seconds() / 3600))
        if n_events is None:
            if rate is None:
                raise ValueError("give n_events or rate with a duration")
            n_events = int(round(rate * duration.total_seconds()))
        quotas = _hour_quotas(n_events, hours, diurnal and rate is None, start.hour)
        hours_iter = range(hours)
    end_all = t0 + duration.total_seconds() if duration is not None else math.inf
    heap: list[tuple] = []
    seq = 0
    for h in hours_iter:
        quota = quotas[h] if quotas is not None else int(round(rate * 3600))
        h_start = t0 + 3600 * h
        h_end = min(h_start + 3600, end_all)
        plans = []
        planned = 0
        while planned < quota:
            plan = _session_plan(rng)[: quota - planned]
            plans.append(plan)
            planned += len(plan)
        starts = sorted(h_start + rng.random() * (h_end - h_start) for _ in plans)
        for plan, s in zip(plans, starts, strict=False):
            while heap and heap[0][0] <= s:
                yield heapq.heappop(heap)
            for ev in model.events(plan, s, end_all):
                seq += 1
                heapq.heappush(heap, (ev[0], seq) + ev[2:])
    while heap:
        yield heapq.heappop(heap)


def generate_events(
    seed: int = DEFAULT_SEED,
    start: datetime = DEFAULT_START,
    duration: timedelta | None = timedelta(days=1),
    n_events: int | None = None,
    rate: float | None = None,
    diurnal: bool = True,
) -> Iterator[dict]:
    """Clean events in time order, as dicts of typed values keyed by the raw field names.

    n_events over `duration` (diurnal curve unless diurnal=False), or `rate` events/s over `duration`
    (duration=None with a rate: an endless stream). Same arguments, same events.
    """
    for ev in _event_tuples(seed, start, duration, n_events, rate, diurnal):
        yield {
            "event_time": datetime.fromtimestamp(ev[0], UTC),
            "event_type": ev[2],
            "product_id": ev[3],
            "category_id": ev[4],
            "category_code": ev[5],
            "brand": ev[6],
            "price": ev[7],
            "user_id": ev[8],
            "user_session": ev[9],
        }


def raw_row(event: dict) -> list[str]:
    """An event as its nine raw text fields (REES46 CSV / Kafka JSON format; NULL as '')."""
    return raw_text_fields(*(event[f] for f in RAW_FIELDS))


# Invalid-row kinds write_csv sprinkles in (name -> how a clean row is spoiled). Each maps to one
# rejection reason of the batch pipeline (see ingest/transforms.py REASONS).
def _spoilers():
    def setf(i, v):
        def f(row):
            row = list(row)
            row[i] = v
            return row

        return f

    idx = {f: i for i, f in enumerate(RAW_FIELDS)}
    return {
        "event_time_unparseable": setf(idx["event_time"], "2019-11-01 25:61:00 UTC"),
        "event_time_missing": setf(idx["event_time"], ""),
        "event_type_invalid": setf(idx["event_type"], "click"),
        "product_id_missing": setf(idx["product_id"], ""),
        "product_id_not_integer": setf(idx["product_id"], "12ab"),
        "category_id_not_positive": setf(idx["category_id"], "0"),
        "user_id_out_of_range": setf(idx["user_id"], "99999999999999999999"),
        "user_id_not_positive": setf(idx["user_id"], "-5"),
        "price_missing": setf(idx["price"], ""),
        "price_not_number": setf(idx["price"], "free"),
        "price_negative": setf(idx["price"], "-1.50"),
        "wrong_field_count": lambda row: list(row[:-1]),
    }


def write_csv(
    path: str | Path,
    rows: int = SAMPLE_ROWS,
    seed: int = DEFAULT_SEED,
    start: datetime = DEFAULT_START,
    duration: timedelta = timedelta(days=1),
    duplicate_rate: float = DUPLICATE_RATE,
    invalid_rate: float = INVALID_RATE,
    progress=None,
    invalid_kinds: tuple[str, ...] | None = None,
) -> dict:
    """Write a raw CSV of exactly `rows` data rows (plus header); returns what was written.

    The file holds clean events, exact duplicates of some of them (adjacent, as a double submit would be)
    and invalid rows of every kind in _spoilers (round-robin; `invalid_kinds` to limit them). Written to a
    temp name, then renamed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_dup = int(round(rows * duplicate_rate))
    n_bad = int(round(rows * invalid_rate))
    n_clean = rows - n_dup - n_bad
    if n_clean <= 0:
        raise ValueError("rows too small for the requested duplicate/invalid rates")
    rng = random.Random(seed ^ 0x5EED)
    spoilers = [(k, f) for k, f in _spoilers().items() if invalid_kinds is None or k in invalid_kinds]
    # positions (among clean events) after which a duplicate / an invalid row follows
    dup_at = set(rng.sample(range(n_clean), n_dup)) if n_dup else set()
    bad_at = sorted(rng.sample(range(n_clean), n_bad)) if n_bad else []
    bad_kind_at = {pos: spoilers[i % len(spoilers)] for i, pos in enumerate(bad_at)}
    invalid_by_kind: dict[str, int] = {}
    tmp = path.with_name(path.name + ".tmp")
    last_t, last_s = None, ""
    started = time.monotonic()
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(RAW_FIELDS)
        for i, ev in enumerate(_event_tuples(seed, start, duration, n_clean, None, True)):
            if ev[0] != last_t:
                last_t, last_s = ev[0], time.strftime(RAW_TIME_FORMAT, time.gmtime(ev[0]))
            row = raw_text_fields(last_s, *ev[2:10])
            w.writerow(row)
            if i in dup_at:
                w.writerow(row)
            kind = bad_kind_at.get(i)
            if kind is not None:
                w.writerow(kind[1]([str(v) for v in row]))
                invalid_by_kind[kind[0]] = invalid_by_kind.get(kind[0], 0) + 1
            if progress and i and i % 500_000 == 0:
                progress(f"generated {i:,} rows ({time.monotonic() - started:.1f}s)")
    tmp.replace(path)
    return {
        "path": str(path),
        "rows": rows,
        "clean": n_clean,
        "duplicates": n_dup,
        "invalid": n_bad,
        "invalid_by_kind": invalid_by_kind,
        "seed": seed,
        "bytes": path.stat().st_size,
    }
