"""A benchmark's child process with its log: launch (a restart appends to the same log), this launch's log
text, SIGKILL, SIGTERM with a bounded wait."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path


class LoggedProcess:
    def __init__(self, log: Path):
        self.log = log
        self.proc: subprocess.Popen | None = None
        self._log_offset = 0

    def launch(self, argv: list[str], **popen_kwargs) -> None:
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        self.proc = subprocess.Popen(argv, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, **popen_kwargs)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        """What this launch wrote to the log."""
        with open(self.log, "rb") as fh:
            fh.seek(self._log_offset)
            return fh.read().decode(errors="replace")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()
