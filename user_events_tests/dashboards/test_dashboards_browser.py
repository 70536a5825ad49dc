"""Both dashboards in a real browser: Debian's headless Chromium driven by Playwright (executable_path: no
browser download). Logs in through the form, opens each dashboard, waits until every chart has rendered,
asserts that no chart shows an error and that the conversion-rate tile shows kpi_daily's value, and keeps
a screenshot of each dashboard under .data/screenshots/ for people to look at."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from user_events.config import settings
from user_events.dashboards.provision import Placement, provision
from user_events.devservices.core import services_dir
from user_events_tests.dashboards.browser import (
    ALL_RENDERED,
    CHART,
    CHROMIUM_ARGS,
    chart_count,
    chromium_path,
    log_in,
    open_dashboard,
)
from user_events_tests.streaming.support import mongo_db


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if not executable:
        pytest.fail("Debian's chromium is missing: `make services-up` installs it with apt-get when run as root")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def browser_page(browser):
    # tall enough for a whole dashboard: a full-page screenshot then needs no resize (a resize re-renders
    # every chart and the picture would catch them blank)
    page = browser.new_page(viewport={"width": 1600, "height": 2200})
    url = os.environ["USER_EVENTS_SUPERSET_URL"].rstrip("/")
    try:
        log_in(page, url, os.environ["USER_EVENTS_SUPERSET_USER"], os.environ["USER_EVENTS_SUPERSET_PASSWORD"])
    except RuntimeError as failed:
        pytest.fail(f"{failed}\nSuperset's log around it:\n{superset_log_tail()}")
    yield page, url
    page.close()


def superset_log_tail(lines: int = 40) -> str:
    log = services_dir() / "superset" / "superset.log"
    if not log.exists():
        return "(no log)"
    wanted = [
        line
        for line in log.read_text(errors="replace").splitlines()
        if "login" in line or "welcome" in line or "Error" in line or "Traceback" in line
    ]
    return "\n".join(wanted[-lines:])


def assert_no_chart_error(page) -> None:
    errors = page.locator(f"{CHART} [role=alert], {CHART} .ant-alert-error").all_inner_texts()
    assert not errors, errors
    texts = " ".join(page.locator(CHART).all_inner_texts())
    for marker in ("Unexpected error", "Error:", "Chart has no query context", "Data error"):
        assert marker not in texts


# Coloured pixels a chart's canvas draws below its legend (the first band of rows with colour at the top): the
# series' lines and markers. Grey axes, grid lines and labels do not count.
SERIES_PIXELS = """([selector, title]) => {
  const holder = [...document.querySelectorAll(selector)].find(h => h.innerText.trim().startsWith(title));
  const canvas = [...holder.querySelectorAll('canvas')].sort((a, b) => b.width * b.height - a.width * a.height)[0];
  const {width, height} = canvas;
  const px = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  const coloured = (i) => px[i + 3] > 128 && Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) > 60;
  const rowCount = (y) => { let n = 0; for (let x = 0; x < width; x++) if (coloured((y * width + x) * 4)) n++; return n; };
  let y = 0;
  while (y < height && rowCount(y) === 0) y++;
  while (y < height && rowCount(y) > 0) y++;
  let n = 0;
  for (; y < height; y++) n += rowCount(y);
  return n;
}"""


def assert_series_drawn(page, title: str) -> None:
    """The chart draws its series: a time series of a single hour or day is one point per series, which an
    ECharts line without markers leaves invisible (axes but no line)."""
    drawn = page.evaluate(SERIES_PIXELS, [CHART, title])
    assert drawn > 20, f"{title}: no line or marker drawn ({drawn} coloured pixels below the legend)"


# Dark pixels (text: axis labels) a chart's canvas draws below its x axis line (the lowest row that is mostly
# drawn), right of the first fifth of the width (where the y axis' own "0" label may reach below the line).
X_AXIS_LABEL_PIXELS = """([selector, title]) => {
  const holder = [...document.querySelectorAll(selector)].find(h => h.innerText.trim().startsWith(title));
  const canvas = [...holder.querySelectorAll('canvas')].sort((a, b) => b.width * b.height - a.width * a.height)[0];
  const {width, height} = canvas;
  const px = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  const drawn = (i) => px[i + 3] > 0;  // grid and axis lines are faint (low alpha)
  const dark = (i) => px[i + 3] > 128 && Math.max(px[i], px[i + 1], px[i + 2]) < 170;
  let axis = -1;
  for (let y = 0; y < height; y++) {
    let n = 0;
    for (let x = 0; x < width; x++) if (drawn((y * width + x) * 4)) n++;
    if (n > width / 2) axis = y;
  }
  if (axis < 0) return -1;
  let n = 0;
  for (let y = axis + 2; y < height; y++)
    for (let x = Math.floor(width / 5); x < width; x++) if (dark((y * width + x) * 4)) n++;
  return n;
}"""


def assert_x_axis_labelled(page, title: str) -> None:
    """The chart writes labels under its x axis (the live charts' minutes); polled for a few seconds, as a
    chart may still be drawing (resize, animation) right after every chart has first rendered."""
    deadline = time.monotonic() + 10
    inked = page.evaluate(X_AXIS_LABEL_PIXELS, [CHART, title])
    while inked <= 30 and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        inked = page.evaluate(X_AXIS_LABEL_PIXELS, [CHART, title])
    assert inked > 30, f"{title}: no x axis labels drawn ({inked} dark pixels below the x axis line)"


def assert_no_chart_warning(page) -> None:
    """No chart header shows Superset's warning icon (e.g. 'The row limit set for the chart was reached')."""
    warned = [
        h.inner_text().split("\n")[0] for h in page.locator(CHART).all() if h.locator("[aria-label=warning]").count()
    ]
    assert not warned, f"charts with a warning icon: {warned}"


def tooltip_text(page, title: str) -> str:
    """What the chart's tooltips say (its series' names and values) as the mouse crosses it at mid height."""
    holder = page.locator(CHART).filter(has_text=title)
    canvas = max(holder.locator("canvas").all(), key=lambda c: c.bounding_box()["width"])
    box = canvas.bounding_box()
    seen = []
    for step in range(1, 20):
        page.mouse.move(box["x"] + box["width"] * step / 20, box["y"] + box["height"] / 2)
        page.wait_for_timeout(40)
        seen += [t for t in page.locator(".echarts-tooltip").all_inner_texts() if t.strip()]
    page.mouse.move(0, 0)
    return "\n".join(seen)


FUNNEL_STAGES = ("view", "cart", "purchase")


def funnel_bands_top_to_bottom(page, title: str) -> list[str]:
    """The stage of each band the funnel draws, from top to bottom: the mouse goes down the funnel's centre
    line and each band names itself in its tooltip (ECharts draws the bands and their labels on a canvas)."""
    holder = page.locator(CHART).filter(has_text=title)
    canvas = max(holder.locator("canvas").all(), key=lambda c: c.bounding_box()["height"])
    box = canvas.bounding_box()
    tooltip = page.locator(".echarts-tooltip")
    bands: list[str] = []
    for step in range(1, 60):
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] * step / 60)
        page.wait_for_timeout(40)
        texts = [t for t in tooltip.all_inner_texts() if t.strip()]
        named = [stage for stage in FUNNEL_STAGES if texts and stage in texts[-1]]
        if named and (not bands or bands[-1] != named[0]):
            bands.append(named[0])
    page.mouse.move(0, 0)
    return bands


def keep_screenshot(page, slug: str, took: float) -> None:
    screenshots = settings().data_dir / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    time.sleep(2)  # let the chart animations settle before the picture
    page.wait_for_function(ALL_RENDERED, arg=[CHART, chart_count(slug)], timeout=60_000, polling=100)
    page.screenshot(path=str(screenshots / f"{slug}.png"), full_page=True)
    times = screenshots / "render_seconds.json"
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
    top_brand = kpi_warehouse.sql("SELECT conversion_rate FROM brand_details ORDER BY revenue DESC, brand LIMIT 1")
    leaderboard = next(t for t in texts if t.startswith("Brand leaderboard"))
    assert "Conversion rate" in leaderboard and f"{top_brand[0][0] * 100:.2f}%" in leaderboard, leaderboard
    assert_no_chart_warning(page)
    for trend in ("Daily KPI trends", "Hourly KPI trends"):
        assert_series_drawn(page, trend)
    counts = dict(kpi_warehouse.sql("SELECT event_type, count(*) FROM user_events GROUP BY 1"))
    assert sorted(FUNNEL_STAGES, key=lambda stage: -counts[stage]) != list(FUNNEL_STAGES)  # value order differs
    assert funnel_bands_top_to_bottom(page, "View -> cart -> purchase") == list(FUNNEL_STAGES)
    keep_screenshot(page, "kpis", took)


def _live_documents(db) -> float:
    """Per-minute documents of the last minutes, in the sinks' layouts; returns purchases per view."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    counts = {"view": 400, "cart": 30, "purchase": 12}
    for i in range(5):
        minute = now - timedelta(minutes=i)
        db.events_per_minute.insert_many(
            [
                {
                    "_id": f"{minute:%Y-%m-%dT%H:%MZ}|{t}",
                    "minute": minute,
                    "event_type": t,
                    "count": n + i,
                    "price_cents": (n + i) * 1999,
                    "updated_at": now,
                }
                for t, n in counts.items()
            ]
        )
        db.sink_delay_per_minute.insert_one(
            {
                "_id": f"{minute:%Y-%m-%dT%H:%MZ}|mongo",
                "minute": minute,
                "sink": "mongo",
                "count": 442,
                "p50_ms": 20.0 + i,
                "p95_ms": 80.0 + i,
                "max_ms": 120.0,
                "updated_at": now,
            }
        )
    return sum(counts["purchase"] + i for i in range(5)) / sum(counts["view"] + i for i in range(5))


LIVE_TIME_CHARTS = ("Events per minute by type", "Revenue per minute", "Sink delay p50 / p95")


def test_live_dashboard_renders_every_chart(kpi_warehouse, browser_page, pipeline):
    page, url = browser_page
    ratio = _live_documents(mongo_db(pipeline.mongo_db))
    placement = Placement(
        **{**Placement.from_env().__dict__, "pg_schema": kpi_warehouse.schema, "mongo_db": pipeline.mongo_db}
    )
    provision(kpi_warehouse.client, placement)
    try:
        took, texts = open_dashboard(page, url, "live")
        assert_no_chart_error(page)
        tile = next(t for t in texts if t.startswith("Purchases per view"))
        assert f"{ratio * 100:.2f}%" in tile, tile
        for chart in LIVE_TIME_CHARTS:
            assert_x_axis_labelled(page, chart)
        delay_series = tooltip_text(page, "Sink delay p50 / p95")
        assert "p50 delay (ms), mongo" in delay_series and "p95 delay (ms), mongo" in delay_series, delay_series
        keep_screenshot(page, "live", took)
    finally:
        provision(kpi_warehouse.client, Placement(**{**placement.__dict__, "mongo_db": Placement.from_env().mongo_db}))


def test_live_dashboard_over_empty_collections_shows_no_error(kpi_warehouse, browser_page, pipeline):
    """Before any per-minute document exists every live chart renders empty ("No results"), none an error."""
    page, url = browser_page
    # the tests' warehouse schema: the KPI tests after this one read the dashboards as provisioned here
    placement = Placement(
        **{**Placement.from_env().__dict__, "pg_schema": kpi_warehouse.schema, "mongo_db": pipeline.mongo_db}
    )
    provision(kpi_warehouse.client, placement)
    try:
        open_dashboard(page, url, "live")
        assert_no_chart_error(page)
    finally:
        provision(kpi_warehouse.client, Placement(**{**placement.__dict__, "mongo_db": Placement.from_env().mongo_db}))


def test_a_refused_login_fails_at_once_with_what_the_server_said(browser):
    page = browser.new_page()
    url = os.environ["USER_EVENTS_SUPERSET_URL"].rstrip("/")
    started = time.monotonic()
    with pytest.raises(RuntimeError) as refused:
        log_in(page, url, os.environ["USER_EVENTS_SUPERSET_USER"], "not-the-password")
    page.close()
    assert "Invalid username or password" in str(refused.value)
    assert str(refused.value).count("attempt") == 1 and time.monotonic() - started < 30
    assert "not-the-password" not in str(refused.value)
