"""Dashboard rendering benchmark: seconds from navigation until every chart of each dashboard has rendered
in Debian's headless Chromium, logged in as the local admin, over what the warehouse / MongoDB hold now.

    python -m bench.dashboards [--runs 3]

Run after loading data (e.g. `python -m bench.batch --rows 2000000` leaves its load in the warehouse, or
`user-events batch`) and `make services-up`. Prints, per dashboard, the first open (cold browser cache: the
JavaScript bundle too) and the following ones (warm browser cache, every chart query still runs: Superset's
data cache is off), plus Superset's resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

from user_events.config import DATA_DIR
from user_events.dashboards.browser import CHROMIUM_ARGS, chromium_path, log_in, open_dashboard
from user_events.dashboards.provision import DASHBOARD_SLUGS


def superset_rss_mb() -> float | None:
    pid_file = DATA_DIR / "services" / "superset.pid"
    if not pid_file.exists():
        return None
    pid = json.loads(pid_file.read_text())["pid"]
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    kb = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                kb += int(line.split()[1])
    return kb / 1024


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--runs", type=int, default=3)
    opts = args.parse_args(argv)
    url = os.environ["USER_EVENTS_SUPERSET_URL"].rstrip("/")
    print(f"superset RSS before: {superset_rss_mb():.0f} MB")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        log_in(page, url, os.environ["USER_EVENTS_SUPERSET_USER"], os.environ["USER_EVENTS_SUPERSET_PASSWORD"])
        for slug in DASHBOARD_SLUGS:
            times = [open_dashboard(page, url, slug)[0] for _ in range(opts.runs)]
            warm = statistics.median(times[1:]) if len(times) > 1 else float("nan")
            print(f"{slug:5} all charts rendered: first {times[0]:.2f}s, then median {warm:.2f}s ({', '.join(f'{t:.2f}' for t in times)})")
        browser.close()
    print(f"superset RSS after: {superset_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
