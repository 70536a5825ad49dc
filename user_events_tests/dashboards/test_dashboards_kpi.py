"""The KPI dashboard's charts, read through Superset's chart data API (`GET /api/v1/chart/<id>/data/`: each
chart's saved query context) as the reader role, against SQL on the warehouse tables batch_job loaded from
the shared sample."""

from __future__ import annotations

import math

import pytest

from user_events_tests.dashboards.support import chart_rows

TILES = [
    "conversion_rate",
    "cart_abandonment_rate",
    "returning_user_rate",
    "repeat_customer_rate",
    "avg_order_value",
    "revenue",
    "orders",
]


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("kpi", TILES)
def test_kpi_tile_shows_the_latest_kpi_daily_value(kpi_warehouse, kpi):
    rows = chart_rows(kpi_warehouse.client, f"tile_{kpi}")
    expected = kpi_warehouse.sql(f"SELECT day, {kpi} FROM kpi_daily ORDER BY day")
    assert len(rows) == len(expected) >= 1
    latest = rows[-1][f"kpi_{kpi}"]
    assert _close(latest, expected[-1][1]), (kpi, latest, expected[-1])
    for got, (_, want) in zip(rows, expected, strict=False):  # the trend line too, day by day
        assert _close(got[f"kpi_{kpi}"], want)


RATES = ["conversion_rate", "cart_abandonment_rate", "returning_user_rate", "repeat_customer_rate"]


@pytest.mark.parametrize(
    ("key", "table", "period"), [("daily_trends", "kpi_daily", "day"), ("hourly_trends", "kpi_hourly", "hour")]
)
def test_trend_charts_show_each_period_s_rates(kpi_warehouse, key, table, period):
    rows = chart_rows(kpi_warehouse.client, key)
    expected = kpi_warehouse.sql(
        f"SELECT (extract(epoch FROM {period}) * 1000)::bigint, {', '.join(RATES)} FROM {table} ORDER BY {period}"
    )
    assert rows and [r[period] for r in rows] == [row[0] for row in expected]
    for got, (_, *want) in zip(rows, expected, strict=True):
        assert all(_close(got[f"kpi_{rate}"], value) for rate, value in zip(RATES, want, strict=True)), (got, want)


def test_brand_leaderboard_is_the_top_ten_of_brand_details(kpi_warehouse):
    rows = chart_rows(kpi_warehouse.client, "brand_leaderboard")
    expected = kpi_warehouse.sql("SELECT brand, revenue FROM brand_details ORDER BY revenue DESC, brand ASC LIMIT 10")
    assert [(r["brand"], round(float(r["revenue"]), 2)) for r in rows] == [(b, round(float(v), 2)) for b, v in expected]


def test_rejected_rows_by_reason_equal_a_sql_count(kpi_warehouse):
    rows = chart_rows(kpi_warehouse.client, "rejected_by_reason")
    expected = kpi_warehouse.sql("SELECT reason, source, count(*) FROM rejected_events GROUP BY reason, source")
    assert sum(n for *_, n in expected) == 3
    assert {(r["reason"], r["source"], r["count"]) for r in rows} == set(expected)


def test_funnel_counts_views_carts_purchases(kpi_warehouse):
    rows = chart_rows(kpi_warehouse.client, "funnel")
    expected = dict(
        kpi_warehouse.sql(
            "SELECT event_type, count(*) FROM user_events WHERE event_type IN ('view', 'cart', 'purchase') GROUP BY 1"
        )
    )
    assert {r["funnel_stage"].split(" ", 1)[1]: r["count"] for r in rows} == expected
    purchases = kpi_warehouse.sql("SELECT sum(purchases) FROM kpi_daily")[0][0]
    assert expected["purchase"] == purchases  # the funnel's last stage agrees with the KPI table


FUNNEL_STAGES = ["view", "cart", "purchase"]


def test_funnel_rows_come_in_stage_order_whatever_the_counts(kpi_warehouse):
    counts = dict(kpi_warehouse.sql("SELECT event_type, count(*) FROM user_events GROUP BY 1"))
    by_value = sorted(FUNNEL_STAGES, key=lambda stage: -counts[stage])
    assert by_value != FUNNEL_STAGES, f"the sample's counts must not already be in stage order: {counts}"
    rows = chart_rows(kpi_warehouse.client, "funnel")
    assert [r["funnel_stage"].split(" ", 1)[1] for r in rows] == FUNNEL_STAGES


def test_materialisation_reports_the_dashboard_urls(kpi_warehouse):
    mats = {m.asset_key.to_user_string(): m for m in kpi_warehouse.result.get_asset_materialization_events()}
    mats = {k: e.materialization.metadata for k, e in mats.items()}
    assert set(mats) == {"dashboards/kpis", "dashboards/live"}
    assert mats["dashboards/kpis"]["url"].value.endswith("/superset/dashboard/kpis/")
    assert mats["dashboards/live"]["url"].value.endswith("/superset/dashboard/live/")
    assert mats["dashboards/kpis"]["warehouse_schema"].value == kpi_warehouse.schema
