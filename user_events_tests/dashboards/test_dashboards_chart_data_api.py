"""Every chart of both dashboards answers Superset's chart data API (`GET /api/v1/chart/<id>/data/`): each is
saved with its query context, so the API, CSV export and Superset's reports can read it, not only the
dashboard. The values the KPI charts answer are compared with SQL in test_dashboards_kpi.py."""

from __future__ import annotations

import pytest

from user_events.dashboards.provision import DASHBOARD_SLUGS, SupersetError
from user_events_tests.dashboards.browser import chart_count
from user_events_tests.dashboards.support import dashboard_charts, saved_chart_data


@pytest.mark.parametrize("slug", DASHBOARD_SLUGS)
def test_every_chart_answers_the_chart_data_api(kpi_warehouse, slug):
    charts = dashboard_charts(kpi_warehouse.client, slug)
    assert len(charts) == chart_count(slug)
    refused = {}
    for chart in charts:
        try:
            saved_chart_data(kpi_warehouse.client, chart["id"])
        except SupersetError as exc:
            refused[chart["slice_name"]] = str(exc)
    assert refused == {}
