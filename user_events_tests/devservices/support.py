"""What the dev-services tests share: finding the processes a project folder still runs."""

from __future__ import annotations

import os
from pathlib import Path

import psutil


def processes_using(*directories: Path) -> list[str]:
    """Live processes (not this one) whose command line names one of `directories` (how every service of ours
    is started) or whose working directory lies below one of them."""
    wanted = [str(d) for d in directories]
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
        info = proc.info
        if info["pid"] == os.getpid() or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmdline = " ".join(info["cmdline"] or [])
        cwd = info["cwd"] or ""
        if any(d in cmdline or cwd == d or cwd.startswith(d + os.sep) for d in wanted):
            found.append(f"{info['pid']}: {cmdline[:160]} (cwd {cwd})")
    return found
