"""Both dashboards in a real browser: Debian's headless Chromium driven by Playwright (executable_path: no
browser download). Logs in through the form, opens each dashboard, waits until every chart has rendered,
asserts that no chart shows an error and that the conversion-rate tile shows kpi_daily's value, and keeps
a screenshot of each dashboard under .data/screenshots/ for people to look at."""

from __future__ import annotations

import json
import os
import time

import pytest

from user_events.config import DATA_DIR
from user_events.dashboards.browser import CHART, CHROMIUM_ARGS, chromium_path, log_in, open_dashboard

SCREENSHOTS = DATA_DIR / "screenshots"


@pytest.fixture(scope="module")
def browser_page():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if not executable:
        pytest.fail("Debian's chromium is missing: `make services-up` installs it with apt-get when run as root")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        url = os.environ["USER_EVENTS_SUPERSET_URL"].rstrip("/")
        log_in(page, url, os.environ["USER_EVENTS_SUPERSET_USER"], os.environ["USER_EVENTS_SUPERSET_PASSWORD"])
        yield page, url
        browser.close()


def assert_no_chart_error(page) -> None:
    errors = page.locator(f"{CHART} [role=alert], {CHART} .ant-alert-error").all_inner_texts()
    assert not errors, errors
    texts = " ".join(page.locator(CHART).all_inner_texts())
    for marker in ("Unexpected error", "Error:", "Chart has no query context", "Data error"):
        assert marker not in texts


def keep_screenshot(page, slug: str, took: float) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    time.sleep(1)  # let the chart animations settle before the picture
    page.screenshot(path=str(SCREENSHOTS / f"{slug}.png"), full_page=True)
    times = SCREENSHOTS / "render_seconds.json"
    data = json.loads(times.read_text()) if times.exists() else {}
    data[slug] = round(took, 2)
    times.write_text(json.dumps(data, indent=2))


def test_kpi_dashboard_renders_every_chart_with_the_conversion_rate(kpi_warehouse, browser_page):
    page, url = browser_page
    expected = kpi_warehouse.sql("SELECT conversion_rate FROM kpi_daily ORDER BY day DESC LIMIT 1")[0][0]
    took, texts = open_dashboard(page, url, "kpis")
    assert_no_chart_error(page)
    tile = next(t for t in texts if t.startswith("Conversion rate"))
    assert f"{expected * 100:.2f}%" in tile, tile
    keep_screenshot(page, "kpis", took)


def test_live_dashboard_renders_every_chart(kpi_warehouse, browser_page):
    page, url = browser_page
    took, texts = open_dashboard(page, url, "live")
    assert_no_chart_error(page)
    assert any(t.startswith("Events per minute by type") for t in texts)
    keep_screenshot(page, "live", took)
