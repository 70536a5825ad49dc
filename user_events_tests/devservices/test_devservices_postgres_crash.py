"""`up` brings a crashed PostgreSQL back in one call.

SIGKILL of the postmaster leaves the backends it had running: one busy with a long statement does not notice
its postmaster died, keeps the shared memory attached, and a new server refuses to start beside it
("pre-existing shared memory block is still in use"). `up` must end those orphans of our cluster (and only
those), then start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import psycopg
import pytest

from user_events.config import PROJECT_ROOT
from user_events.devservices.core import services_dir
from user_events_tests.streaming.support import require_services


def devservices(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "user_events.devservices", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def backends_of(postmaster: psutil.Process) -> list[psutil.Process]:
    return postmaster.children()


def test_up_after_a_postmaster_sigkill_with_a_busy_backend_starts_in_one_call():
    require_services("USER_EVENTS_PG_URL")
    url = os.environ["USER_EVENTS_PG_URL"]
    postmaster = psutil.Process(json.loads((services_dir() / "postgres.pid").read_text())["pid"])
    errors: list[BaseException] = []

    def busy() -> None:  # minutes of CPU in one statement: the backend never waits, so never notices
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SELECT count(*) FROM generate_series(1, 2000000000) a WHERE a % 7 = 3")
        except psycopg.Error as exc:
            errors.append(exc)

    threading.Thread(target=busy, daemon=True).start()
    deadline = time.monotonic() + 30
    while not any("SELECT" in " ".join(p.cmdline()) for p in backends_of(postmaster)):
        assert time.monotonic() < deadline, "the busy statement never started"
        time.sleep(0.2)
    busy_backend = next(p for p in backends_of(postmaster) if "SELECT" in " ".join(p.cmdline()))

    os.kill(postmaster.pid, signal.SIGKILL)
    postmaster.wait(10)
    time.sleep(1.0)
    assert busy_backend.is_running(), "the busy backend should outlive its postmaster (what makes `up` fail)"

    result = devservices("up", "postgres")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not busy_backend.is_running()
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        assert conn.execute("select 6 * 7").fetchone() == (42,)


@pytest.fixture(autouse=True)
def _postgres_back_up():
    yield
    devservices("up", "postgres")  # whatever the test left, the next tests find the server running
