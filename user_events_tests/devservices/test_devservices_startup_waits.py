"""Pure tests of the start-up waits (a server accepting connections, a dev service passing its health check)
and of the dev services' process tracking, on a real child process (`sleep`)."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from user_events.devservices import core
from user_events.devservices.core import Process, ServiceError, wait_healthy
from user_events.pgserver import wait_until_accepting

pytestmark = pytest.mark.unit


class FailsThen:
    def __init__(self, error: type[BaseException], failures: int, value: object = "ok"):
        self.error, self.failures, self.value, self.calls = error, failures, value, 0

    def __call__(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"failure {self.calls}")
        return self.value


@pytest.fixture
def slept(monkeypatch) -> list[float]:
    calls: list[float] = []
    monkeypatch.setattr("time.sleep", calls.append)
    return calls


def test_wait_until_accepting_returns_the_first_connection(slept):
    connect = FailsThen(psycopg.OperationalError, 3, value="conn")
    assert wait_until_accepting(connect, timeout=30) == "conn"
    assert connect.calls == 4 and slept == [0.2, 0.2, 0.2]


def test_wait_until_accepting_does_not_retry_other_errors(slept):
    connect = FailsThen(ValueError, 1)
    with pytest.raises(ValueError):
        wait_until_accepting(connect, timeout=30)
    assert connect.calls == 1


def test_wait_until_accepting_raises_the_servers_error_after_the_timeout():
    connect = FailsThen(psycopg.OperationalError, 10**9)
    with pytest.raises(psycopg.OperationalError, match="failure"):
        wait_until_accepting(connect, timeout=0.3)
    assert connect.calls >= 2


def test_wait_healthy_calls_the_check_until_it_passes(slept, tmp_path):
    check = FailsThen(ConnectionError, 2)
    assert wait_healthy("svc", check, timeout=60, log=tmp_path / "svc.log") >= 0
    assert check.calls == 3 and slept == [0.5, 0.5]


def test_wait_healthy_names_the_last_error_and_the_log_after_the_timeout(tmp_path):
    check = FailsThen(ConnectionError, 10**9)
    log = tmp_path / "svc.log"
    with pytest.raises(
        ServiceError, match=rf"svc failed its health check within 1s \(ConnectionError: failure \d+\); see {log}"
    ):
        wait_healthy("svc", check, timeout=1, log=log)


@pytest.fixture
def services_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("USER_EVENTS_DATA_DIR", str(tmp_path))
    path = core.services_dir()
    path.mkdir()
    return path


def start_sleeper(proc: Process, log: Path, ignore_sigterm: bool = False) -> int:
    """Start a Python child that sleeps 60 s; returns once it runs its own code (its command line is set)."""
    code = "import signal, time; "
    if ignore_sigterm:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    code += "print('ready', flush=True); time.sleep(60)"
    pid = proc.start([sys.executable, "-c", code, proc.marker], log=log)
    deadline = time.monotonic() + 30
    while "ready" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid


def test_a_started_process_is_ours_until_it_stops(services_dir):
    marker = str(services_dir / "sleeper")
    proc = Process("sleeper", marker)
    pid = start_sleeper(proc, services_dir / "s.log")
    assert proc.pid() == pid and proc.running() and not proc.exited()
    assert Process("sleeper", "some other marker").pid() is None  # the command line must name the marker
    assert proc.send_stop(signal.SIGTERM) == pid
    assert proc.wait_stopped(pid, timeout=10) is True
    assert proc.pid() is None and not (services_dir / "sleeper.pid").exists()


def test_a_recorded_pid_of_another_process_is_not_ours(services_dir):
    marker = str(services_dir / "sleeper")
    proc = Process("sleeper", marker)
    start_sleeper(proc, services_dir / "s.log")
    try:
        record = proc.record()
        for key in {"start_time", "create_time"} & set(record):
            record[key] += 1  # the same pid started at another time: a reused pid
        proc.pid_file.write_text(json.dumps(record))
        assert proc.pid() is None
    finally:
        proc.popen.kill()
        proc.popen.wait()


def test_a_process_that_ignores_sigterm_is_killed_after_the_timeout(services_dir):
    marker = str(services_dir / "stubborn")
    proc = Process("stubborn", marker)
    pid = start_sleeper(proc, services_dir / "s.log", ignore_sigterm=True)
    proc.send_stop(signal.SIGTERM)
    assert proc.wait_stopped(pid, timeout=0.5) is False
    assert not psutil.pid_exists(pid)  # killed and reaped
    assert proc.pid() is None and not (services_dir / "stubborn.pid").exists()


def test_a_pid_file_written_before_psutil_is_still_recognised(services_dir):
    """Services started by the older code recorded the kernel start time in clock ticks (field 22 of
    /proc/<pid>/stat): `make services-down` after an upgrade must still find and stop them."""
    marker = str(services_dir / "old")
    proc = Process("old", marker)
    pid = start_sleeper(proc, services_dir / "s.log")
    try:
        ticks = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19])
        proc.pid_file.write_text(json.dumps({"pid": pid, "start_time": ticks, "argv": []}))
        assert proc.pid() == pid
        proc.pid_file.write_text(json.dumps({"pid": pid, "start_time": ticks + 1, "argv": []}))
        assert proc.pid() is None
    finally:
        proc.popen.kill()
        proc.popen.wait()
