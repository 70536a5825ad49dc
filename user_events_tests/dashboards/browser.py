"""Opening the dashboards in a real browser (Playwright driving Debian's Chromium), for the browser tests
and `python -m bench.dashboards`. Playwright is a dev dependency: imported by the caller, not here."""

from __future__ import annotations

import shutil
import time

import yaml

from user_events.config import settings
from user_events.dashboards.provision import BUNDLE_DIR

CHART = ".dashboard-component-chart-holder"
# every chart holder has finished: no spinner, and something drawn (canvas/svg/table/number) or "No results"
ALL_RENDERED = """([selector, expected]) => {
  const holders = [...document.querySelectorAll(selector)];
  return holders.length === expected && holders.every(h => !h.querySelector('.loading') &&
    (h.querySelector('canvas, svg, table, .header-line, .big-number-total') || /No results/.test(h.innerText)));
}"""
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu"]


def chromium_path() -> str | None:
    """Debian's chromium (USER_EVENTS_CHROMIUM overrides): a downloaded browser build does not run here."""
    return settings().chromium or shutil.which("chromium")


def chart_count(slug: str) -> int:
    position = yaml.safe_load((BUNDLE_DIR / "dashboards" / f"{slug}.yaml").read_text())["position"]
    return sum(1 for node in position.values() if isinstance(node, dict) and node.get("type") == "CHART")


def log_in(page, url: str, username: str, password: str, attempts: int = 3) -> None:
    """Through Superset's login form, as a person would; then checked through /api/v1/me/ with the
    page's own cookies. A login that was accepted but that the next page does not recognise (seen once in
    CI, not reproduced) is tried again with fresh cookies; the error says what the server answered."""
    answers = []
    for attempt in range(1, attempts + 1):
        page.context.clear_cookies()
        page.goto(f"{url}/login/")
        page.fill("#username", username)
        page.fill("#password", password)
        with (
            page.expect_navigation(timeout=60_000),
            page.expect_response(lambda r: r.request.method == "POST" and "/login" in r.url) as posted,
        ):
            page.keyboard.press("Enter")
        page.wait_for_load_state()
        me = page.request.get(f"{url}/api/v1/me/")
        if me.ok and "/login" not in page.url:
            return
        answers.append(_login_answer(attempt, posted.value, me.status, page))
        if "/login" in (posted.value.header_value("location") or ""):
            break  # the credentials were refused: trying again cannot help
        time.sleep(2 * attempt)
    raise RuntimeError(f"could not log in to {url} as {username!r}:\n" + "\n".join(answers))


def _login_answer(attempt: int, posted, me_status: int, page) -> str:
    cookie = "set a cookie" if posted.header_value("set-cookie") else "set no cookie"
    cookies = sorted(c["name"] for c in page.context.cookies())
    alert = " | ".join(page.locator("[role=alert], .alert, .ant-alert").all_inner_texts())[:200]
    return (
        f"  attempt {attempt}: POST /login/ answered {posted.status} and {cookie}; now at {page.url}; "
        f"browser cookies {cookies}; /api/v1/me/ answered {me_status}; alert: {alert or 'none'}"
    )


def open_dashboard(page, url: str, slug: str, timeout_ms: int = 120_000) -> tuple[float, list[str]]:
    """Seconds from navigation until every chart of the dashboard has rendered, and each chart's text."""
    started = time.monotonic()
    page.goto(f"{url}/superset/dashboard/{slug}/?standalone=1")
    page.wait_for_function(ALL_RENDERED, arg=[CHART, chart_count(slug)], timeout=timeout_ms, polling=100)
    took = time.monotonic() - started
    return took, page.locator(CHART).all_inner_texts()
