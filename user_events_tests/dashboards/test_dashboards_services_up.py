"""`make services-up` leaves both dashboards provisioned with all their charts, on the services' warehouse
and MongoDB, without a manual step; a second `up` with nothing changed leaves them as they are.

Runs `python -m user_events.devservices up` for real: a no-op for the running services, as `make services-up`
is on a second call."""

from __future__ import annotations

import subprocess
import sys

import pytest

from user_events.config import PROJECT_ROOT
from user_events.dashboards.provision import DASHBOARD_SLUGS, Placement, provision
from user_events_tests.dashboards.browser import chart_count
from user_events_tests.dashboards.support import current_placement, dashboard_charts

UNCHANGED = "superset: dashboards up to date"


def services_up() -> str:
    run = subprocess.run(
        [sys.executable, "-m", "user_events.devservices", "up"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return run.stdout


@pytest.fixture()
def placement_kept(superset):
    """The dashboards put back where they read before (another test's schema, when the session has one)."""
    before = current_placement(superset)
    yield
    provision(superset, before)


def test_services_up_provisions_both_dashboards_with_their_charts(superset, placement_kept):
    for dashboard in superset.dashboards().values():  # as after a first `up` on a fresh Superset
        superset.delete(f"/api/v1/dashboard/{dashboard['id']}")
    assert superset.dashboards() == {}

    services_up()

    for slug in DASHBOARD_SLUGS:
        assert len(dashboard_charts(superset, slug)) == chart_count(slug), slug
    assert current_placement(superset) == Placement.from_env()  # the services' warehouse schema and MongoDB


def test_a_second_up_leaves_the_dashboards_as_they_are(superset, placement_kept):
    services_up()
    before = {slug: superset.get(f"/api/v1/dashboard/{slug}")["result"]["changed_on"] for slug in DASHBOARD_SLUGS}
    assert UNCHANGED in services_up()
    after = {slug: superset.get(f"/api/v1/dashboard/{slug}")["result"]["changed_on"] for slug in DASHBOARD_SLUGS}
    assert after == before
