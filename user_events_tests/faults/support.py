"""Faults of the services under a workload: SIGKILL of a service's process group and its return, or a stall."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from user_events.config import PROJECT_ROOT
from user_events.devservices.core import services_dir

OUTAGE_SECONDS = 10
STALL_SECONDS = 20


def devservices_up(name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "user_events.devservices", "up", name],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def service_group(name: str) -> int:
    return os.getpgid(json.loads((services_dir() / f"{name}.pid").read_text())["pid"])


def kill_and_bring_back(name: str, outage: float = OUTAGE_SECONDS) -> None:
    """SIGKILL of the service's whole process group (a crash of its machine), `up` `outage` seconds later."""
    os.killpg(service_group(name), signal.SIGKILL)
    time.sleep(outage)
    result = devservices_up(name)
    assert result.returncode == 0, result.stdout + result.stderr


def stall(name: str) -> None:
    """SIGSTOP of the service's process group for STALL_SECONDS, then SIGCONT: a hung server, or a partition."""
    group = service_group(name)
    os.killpg(group, signal.SIGSTOP)
    try:
        time.sleep(STALL_SECONDS)
    finally:
        os.killpg(group, signal.SIGCONT)


FAULTS = {"kill": kill_and_bring_back, "stall": stall}
