"""Independent pandas computation of what the batch pipeline should produce from a raw CSV.

Written from the contract, not from the pipeline's code: plain Python parsing of the nine fields, exact
duplicates by normalised content, then the KPI and brand definitions with pandas group-bys.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import pandas as pd
import pytest

from user_events.schema import EVENT_TYPES, KPI_METRIC_NAMES, RAW_FIELDS, event_id_of

_INT = re.compile(r"^[+-]?[0-9]+$")


def _time(text: str):
    text = text.strip()
    try:
        if text.endswith(" UTC"):
            return datetime.strptime(text[:-4], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return t.astimezone(UTC).replace(microsecond=0) if t.tzinfo else None
    except ValueError:
        return None


def _id(text: str):
    text = text.strip()
    if not _INT.match(text):
        return None
    value = int(text)
    return value if 0 < value < 2**63 else None


def _price(text: str):
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0:
        return None
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) + 0


def accepted_events(path) -> tuple[pd.DataFrame, int, int]:
    """(accepted de-duplicated events, rejected row count, duplicate rows dropped)."""
    rows, rejected = [], 0
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        assert next(reader) == list(RAW_FIELDS)
        for raw in reader:
            if not raw:
                continue
            if len(raw) != 9:
                rejected += 1
                continue
            t, etype, pid, cid, code, brand, price, uid, session = raw
            typed = (
                _time(t),
                etype,
                _id(pid),
                _id(cid),
                code or None,
                brand or None,
                _price(price),
                _id(uid),
                session or None,
            )
            if None in (typed[0], typed[2], typed[3], typed[6], typed[7]) or etype not in EVENT_TYPES:
                rejected += 1
                continue
            rows.append(typed)
    unique = list(dict.fromkeys(rows))
    df = pd.DataFrame(unique, columns=list(RAW_FIELDS))
    df["event_id"] = [event_id_of(*r) for r in unique]
    df["event_hour"] = [t.replace(minute=0, second=0) for t in df["event_time"]]
    df["event_date"] = [t.date() for t in df["event_time"]]
    return df, rejected, len(rows) - len(unique)


def kpis(events: pd.DataFrame, period: str) -> dict:
    """period value -> {metric: value} per the contract's definitions."""
    out = {}
    for key, ev in events.groupby(period):
        is_purchase = ev["event_type"] == "purchase"
        with_session = ev[ev["user_session"].notna()]
        per_session = with_session.groupby("user_session")["event_type"].agg(
            has_purchase=lambda s: (s == "purchase").any(), has_cart=lambda s: (s == "cart").any()
        )
        sessions = len(per_session)
        orders = int(per_session["has_purchase"].sum())
        carts = int(per_session["has_cart"].sum())
        cart_and_purchase = int((per_session["has_cart"] & per_session["has_purchase"]).sum())
        users = ev["user_id"].nunique()
        sessions_per_user = with_session.groupby("user_id")["user_session"].nunique()
        purchase_sessions_per_user = (
            with_session[is_purchase.loc[with_session.index]].groupby("user_id")["user_session"].nunique()
        )
        customers = ev.loc[is_purchase, "user_id"].nunique()
        revenue = sum(ev.loc[is_purchase, "price"], Decimal("0.00"))
        out[key] = {
            "events": len(ev),
            "users": users,
            "sessions": sessions,
            "purchases": int(is_purchase.sum()),
            "orders": orders,
            "revenue": revenue,
            "conversion_rate": orders / sessions if sessions else None,
            "cart_abandonment_rate": 1 - cart_and_purchase / carts if carts else None,
            "returning_user_rate": int((sessions_per_user >= 2).sum()) / users,
            "repeat_customer_rate": int((purchase_sessions_per_user >= 2).sum()) / customers if customers else None,
            "avg_order_value": float(revenue / orders) if orders else None,
        }
    return out


def brand_details(events: pd.DataFrame) -> dict:
    out = {}
    for brand, ev in events.groupby(events["brand"].fillna("\x00none"), dropna=False):
        is_purchase = ev["event_type"] == "purchase"
        sessions = ev["user_session"].dropna().nunique()
        purchase_sessions = ev.loc[is_purchase, "user_session"].dropna().nunique()
        out[None if brand == "\x00none" else brand] = {
            "avg_price": float(sum(ev["price"], Decimal(0)) / len(ev)),
            "views": int((ev["event_type"] == "view").sum()),
            "carts": int((ev["event_type"] == "cart").sum()),
            "purchases": int(is_purchase.sum()),
            "revenue": sum(ev.loc[is_purchase, "price"], Decimal("0.00")),
            "sessions": sessions,
            "users": ev["user_id"].nunique(),
            "conversion_rate": purchase_sessions / sessions if sessions else None,
        }
    return out


RATES = {"conversion_rate", "cart_abandonment_rate", "returning_user_rate", "repeat_customer_rate", "avg_order_value"}


def assert_metrics_equal(got: dict, want: dict, where: str):
    for name in KPI_METRIC_NAMES:
        g, w = got[name], want[name]
        if w is None or g is None:
            assert g is w is None, f"{where} {name}: {g} != {w}"
        elif name in RATES:
            assert float(g) == pytest.approx(float(w), rel=1e-12, abs=1e-12), f"{where} {name}"
        else:
            assert g == w, f"{where} {name}: {g} != {w}"
