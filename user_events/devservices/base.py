"""The shape every local service follows: install once, start, health check, stop, environment lines."""

from __future__ import annotations

import signal
from pathlib import Path

from .core import SERVICES_DIR, Process, State


class Service:
    name: str = ""
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 30.0
    health_timeout: float = 90.0

    def __init__(self, state: State):
        self.state = state
        self.dir: Path = SERVICES_DIR / self.name
        self.log: Path = self.dir / f"{self.name}.log"
        self.process = Process(self.name, marker=str(self.dir))

    # subclasses implement these ------------------------------------------------------------------
    def install(self) -> None:
        """Fetch / build / initialise what the service needs; a no-op once done."""

    def start(self) -> None:
        raise NotImplementedError

    def check(self) -> None:
        """Raise unless the service answers a real request (a round trip, not just an open port)."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {}

    # shared ------------------------------------------------------------------------------------------
    def running(self) -> bool:
        return self.process.running()

    def port(self, key: str = "port", env_var: str | None = None) -> int:
        return self.state.port(f"{self.name}.{key}", env_var, running=self.running())
