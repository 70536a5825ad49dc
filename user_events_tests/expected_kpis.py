"""Independent KPI computation with pandas, straight from the contract's definitions (tests only).

Input: a DataFrame of accepted, de-duplicated events with columns event_time (UTC datetime), event_type,
price (float), user_id, user_session (None for NULL).
"""

from __future__ import annotations

import pandas as pd


def _ratio(num: float, den: float):
    return None if den == 0 else num / den


def kpis_of(events: pd.DataFrame) -> dict:
    sessions = events["user_session"].dropna()
    purchases = events[events["event_type"] == "purchase"]
    order_sessions = set(purchases["user_session"].dropna())
    cart_sessions = set(events.loc[events["event_type"] == "cart", "user_session"].dropna())
    sessions_per_user = events.dropna(subset=["user_session"]).groupby("user_id")["user_session"].nunique()
    purchase_sessions_per_user = purchases.dropna(subset=["user_session"]).groupby("user_id")["user_session"].nunique()
    users = events["user_id"].nunique()
    buyers = purchases["user_id"].nunique()
    revenue = float(purchases["price"].sum())
    return {
        "events": len(events),
        "users": users,
        "sessions": sessions.nunique(),
        "purchases": len(purchases),
        "orders": len(order_sessions),
        "revenue": revenue,
        "conversion_rate": _ratio(len(order_sessions), sessions.nunique()),
        "cart_abandonment_rate": None
        if not cart_sessions
        else 1 - len(cart_sessions & order_sessions) / len(cart_sessions),
        "returning_user_rate": _ratio(int((sessions_per_user >= 2).sum()), users),
        "repeat_customer_rate": _ratio(int((purchase_sessions_per_user >= 2).sum()), buyers),
        "avg_order_value": _ratio(revenue, len(order_sessions)),
    }


def kpis_by(events: pd.DataFrame, period: str) -> dict:
    """{period start: kpis} with period 'hour' or 'day' (UTC)."""
    key = events["event_time"].dt.floor("h") if period == "hour" else events["event_time"].dt.floor("D")
    return {k: kpis_of(g) for k, g in events.groupby(key)}


def assert_kpis_equal(actual: dict, expected: dict, label: str = "") -> None:
    for name, want in expected.items():
        got = actual[name]
        if want is None:
            assert got is None, f"{label} {name}: expected NULL, got {got}"
        else:
            assert got is not None, f"{label} {name}: expected {want}, got NULL"
            assert abs(float(got) - float(want)) <= 1e-6 * max(1.0, abs(float(want))) + 0.005 * (name == "revenue"), (
                f"{label} {name}: expected {want}, got {got}"
            )
