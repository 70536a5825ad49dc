"""Superset's result cache (real Superset and PostgreSQL): a warehouse chart's repeated query is answered from
the cache, materialising `superset_dashboards` makes the next query read the warehouse again, and the live
charts are never cached."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from psycopg import sql

from user_events.schema import KPI_DAILY
from user_events.warehouse.load import ensure_tables
from user_events.warehouse.resources import connect
from user_events_tests.dashboards.conftest import materialize_dashboards
from user_events_tests.dashboards.support import chart_by_uuid, saved_chart_data

TILE = "tile_conversion_rate"


def cached_query(client, key: str) -> dict:
    """The chart's own saved query, not forced: the first result with its cache flag."""
    return saved_chart_data(client, chart_by_uuid(client, key)["id"], force=False)


def set_conversion_rate(warehouse_url: str, schema: str, rate: float) -> None:
    with connect(warehouse_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("UPDATE {} SET conversion_rate = %s").format(sql.Identifier(schema, KPI_DAILY.name)), (rate,)
        )


@pytest.fixture()
def one_day_warehouse(warehouse_url, kpi_warehouse):
    """A schema of the test's own whose kpi_daily holds one day, the dashboards provisioned on it; afterwards
    back on the session's `kpi_warehouse`, which the other dashboard tests read."""
    schema = f"cache_test_{uuid.uuid4().hex[:8]}"
    with connect(warehouse_url, autocommit=True) as conn:
        ensure_tables(conn, schema)
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (day, events, users, sessions, purchases, orders, revenue, conversion_rate, "
                "cart_abandonment_rate, returning_user_rate, repeat_customer_rate, avg_order_value) "
                "VALUES (%s, 10, 5, 6, 2, 2, 20.00, 0.25, 0.5, 0.2, 0.0, 10.00)"
            ).format(sql.Identifier(schema, KPI_DAILY.name)),
            (date(2019, 11, 1),),
        )
    materialize_dashboards(warehouse_url, schema)
    yield schema
    with connect(warehouse_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    materialize_dashboards(warehouse_url, kpi_warehouse.schema)


def test_a_warehouse_chart_is_cached_until_the_dashboards_are_provisioned_again(
    one_day_warehouse, warehouse_url, superset
):
    first = cached_query(superset, TILE)
    assert [r["kpi_conversion_rate"] for r in first["data"]] == [0.25]

    set_conversion_rate(warehouse_url, one_day_warehouse, 0.75)
    again = cached_query(superset, TILE)
    assert again["is_cached"] is True, "the repeated query of a warehouse chart ran its SQL again"
    assert [r["kpi_conversion_rate"] for r in again["data"]] == [0.25]

    materialize_dashboards(warehouse_url, one_day_warehouse)  # what a user materialises after a load
    fresh = cached_query(superset, TILE)
    assert not fresh["is_cached"]
    assert [r["kpi_conversion_rate"] for r in fresh["data"]] == [0.75]


def test_live_charts_are_never_cached(superset):
    for _ in range(2):
        assert not cached_query(superset, "live_purchases_per_view")["is_cached"]
