"""Both dashboards in a real browser: Debian's headless Chromium driven by Playwright (executable_path: no
browser download). Logs in through the form, opens each dashboard, waits until every chart has rendered,
asserts that no chart shows an error and that the conversion-rate tile shows kpi_daily's value, and keeps
a screenshot of each dashboard under .data/screenshots/ for people to look at."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
import yaml

from user_events.config import DATA_DIR
from user_events.dashboards.provision import BUNDLE_DIR

SCREENSHOTS = DATA_DIR / "screenshots"
CHART = ".dashboard-component-chart-holder"
# every chart holder has finished: no spinner, and something drawn (canvas/svg/table) or an empty-result message
ALL_RENDERED = """([selector, expected]) => {
  const holders = [...document.querySelectorAll(selector)];
  return holders.length === expected && holders.every(h => !h.querySelector('.loading') &&
    (h.querySelector('canvas, svg, table, .header-line, .big-number-total') || /No results/.test(h.innerText)));
}"""


def chart_count(slug: str) -> int:
    position = yaml.safe_load((BUNDLE_DIR / "dashboards" / f"{slug}.yaml").read_text())["position"]
    return sum(1 for node in position.values() if isinstance(node, dict) and node.get("type") == "CHART")


def chromium() -> str:
    path = os.environ.get("USER_EVENTS_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("Debian's chromium is missing: `make services-up` installs it with apt-get when run as root")
    return path


@pytest.fixture(scope="module")
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        url = os.environ["USER_EVENTS_SUPERSET_URL"].rstrip("/")
        page.goto(f"{url}/login/")
        page.fill("#username", os.environ["USER_EVENTS_SUPERSET_USER"])
        page.fill("#password", os.environ["USER_EVENTS_SUPERSET_PASSWORD"])
        page.keyboard.press("Enter")
        page.wait_for_url(lambda u: "/login" not in u, timeout=60_000)
        yield page, url
        browser.close()


def open_dashboard(page, url: str, slug: str) -> tuple[float, list[str]]:
    """Seconds from navigation until every chart has rendered, and each chart's text."""
    started = time.monotonic()
    page.goto(f"{url}/superset/dashboard/{slug}/?standalone=1")
    page.wait_for_function(ALL_RENDERED, arg=[CHART, chart_count(slug)], timeout=120_000, polling=100)
    took = time.monotonic() - started
    return took, page.locator(CHART).all_inner_texts()


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
