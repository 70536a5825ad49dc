"""Dashboard rendering benchmark: seconds from navigation until every chart of each dashboard has rendered
in Debian's headless Chromium, logged in as the local admin, over what the warehouse / MongoDB hold now.

    python -m bench.dashboards [--runs 3]

Run after loading data (e.g. `USER_EVENTS_RAW_CSV=<2M CSV> user-events batch`, see docs/dashboards.md) and
`make services-up`. Provisions the dashboards first (as after a load: no cached result is left), then prints,
per dashboard, the first open (cold browser cache, the JavaScript bundle too; every chart query runs) and the
following ones (warm browser cache; the warehouse charts' results from Superset's result cache, the live
charts' queries run again), how many chart data requests an open sends and the slowest one's seconds, plus
Superset's memory (psutil over its gunicorn master and workers: RSS summed, which counts the workers' shared
pages once per worker, and PSS).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from user_events.dashboards.provision import DASHBOARD_SLUGS, Placement, SupersetClient, provision
from user_events.devservices.core import services_dir
from user_events_tests.dashboards.browser import CHROMIUM_ARGS, chromium_path, log_in, open_dashboard


def superset_memory() -> str:
    import psutil

    pid_file = services_dir() / "superset.pid"
    if not pid_file.exists():
        return "not running"
    master = psutil.Process(json.loads(pid_file.read_text())["pid"])
    infos = [p.memory_full_info() for p in [master, *master.children(recursive=True)]]
    return (
        f"RSS {sum(i.rss for i in infos) / 2**20:.0f} MB summed, PSS {sum(i.pss for i in infos) / 2**20:.0f} MB "
        f"({len(infos)} processes)"
    )


class ChartRequests:
    """The chart data requests of the page since the last reset: how many, and the slowest one's seconds."""

    def __init__(self, page):
        self.started: dict = {}
        self.seconds: list[float] = []
        page.on("request", self._start)
        page.on("requestfinished", self._end)

    def _start(self, request) -> None:
        if "/api/v1/chart/data" in request.url:
            self.started[request] = time.monotonic()

    def _end(self, request) -> None:
        if request in self.started:
            self.seconds.append(time.monotonic() - self.started.pop(request))

    def reset(self) -> None:
        self.started.clear()
        self.seconds = []


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--runs", type=int, default=3)
    opts = args.parse_args(argv)
    url = os.environ["USER_EVENTS_SUPERSET_URL"].rstrip("/")
    user, password = os.environ["USER_EVENTS_SUPERSET_USER"], os.environ["USER_EVENTS_SUPERSET_PASSWORD"]
    # a provisioning first, as after a load: the first open finds no cached result and runs every query
    provision(SupersetClient(url, user, password), Placement.from_env())
    print(f"superset memory before: {superset_memory()}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        log_in(page, url, user, password)
        requests = ChartRequests(page)
        for slug in DASHBOARD_SLUGS:
            times, slowest = [], []
            for _ in range(opts.runs):
                requests.reset()
                times.append(open_dashboard(page, url, slug)[0])
                slowest.append(max(requests.seconds, default=float("nan")))
            warm = statistics.median(times[1:]) if len(times) > 1 else float("nan")
            print(
                f"{slug:5} all charts rendered: first {times[0]:.2f}s, then median {warm:.2f}s ({', '.join(f'{t:.2f}' for t in times)}); "
                f"{len(requests.seconds)} chart data requests, slowest {', '.join(f'{t:.2f}' for t in slowest)}s"
            )
        browser.close()
    print(f"superset memory after: {superset_memory()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
