"""Numbers read as what they are: every rate as a percentage (d3 format `.N%`), every legend entry and table
header in words ("Conversion rate", "p95 delay (ms), mongo"), never a column name like `delay_p95_ms`.
Read from the charts and datasets as Superset stores them after provisioning, and from the columns of the
charts' own query results."""

from __future__ import annotations

import re

import pytest

from user_events_tests.dashboards.support import chart_by_uuid, series_labels

PERCENT = re.compile(r"\.\d%")
RATE_TILES = (
    "tile_conversion_rate",
    "tile_cart_abandonment_rate",
    "tile_returning_user_rate",
    "tile_repeat_customer_rate",
)
RATE_LABELS = ["Conversion rate", "Cart abandonment rate", "Returning user rate", "Repeat customer rate"]


def reads_as_words(label: str) -> bool:
    return "_" not in label and any(ch.isalpha() for ch in label)


@pytest.mark.parametrize("key", [*RATE_TILES, "daily_trends", "hourly_trends"])
def test_rate_charts_show_percentages(kpi_warehouse, key):
    assert PERCENT.fullmatch(chart_by_uuid(kpi_warehouse.client, key)["params"]["y_axis_format"])


def test_the_leaderboard_shows_its_conversion_rate_as_a_percentage_under_word_headers(kpi_warehouse):
    params = chart_by_uuid(kpi_warehouse.client, "brand_leaderboard")["params"]
    number_format = params.get("column_config", {}).get("conversion_rate", {}).get("d3NumberFormat", "")
    assert PERCENT.fullmatch(number_format), params.get("column_config")
    headers = series_labels(kpi_warehouse.client, "brand_leaderboard")
    assert headers == ["Brand", "Revenue", "Purchases", "Views", "Conversion rate"]


@pytest.mark.parametrize("key", ["daily_trends", "hourly_trends"])
def test_trend_legends_are_the_kpis_names(kpi_warehouse, key):
    assert sorted(series_labels(kpi_warehouse.client, key)) == sorted(RATE_LABELS)


def test_the_rejected_rows_table_has_word_headers(kpi_warehouse):
    headers = series_labels(kpi_warehouse.client, "rejected_by_reason")
    assert all(reads_as_words(h) for h in headers), headers
