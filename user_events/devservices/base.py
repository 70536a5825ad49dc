"""The shape every local service follows: install once, start, health check, stop, environment lines."""

from __future__ import annotations

import shutil
import signal
import sys
from pathlib import Path

from .core import Process, ServiceError, State, run_logged, say, services_dir


def _uv() -> str | None:
    here = Path(sys.executable).parent / "uv"
    return str(here) if here.exists() else shutil.which("uv")


class Service:
    name: str = ""
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 30.0
    health_timeout: float = 90.0

    def __init__(self, state: State):
        self.state = state
        self.dir: Path = services_dir() / self.name
        self.data: Path = self.dir / "data"  # the service's own storage, for those that keep any
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

    def purge(self) -> None:
        """Remove what the service keeps outside .data/services (`make clean` removes that folder itself)."""

    # shared ------------------------------------------------------------------------------------------
    def running(self) -> bool:
        return self.process.running()

    def port(self, key: str = "port", env_var: str | None = None) -> int:
        return self.state.port(f"{self.name}.{key}", env_var, running=self.running())

    def install_venv(self, venv: Path, requirements: list[str], expected: str, prerelease: bool = False) -> None:
        """Install pinned `requirements` into a virtualenv of the service's own (its dependencies never touch
        the project's .venv); a no-op when the marker file says these exact pins are installed. `expected`
        names a file under venv/bin that must exist afterwards."""
        marker = venv / ".installed"
        wanted = "\n".join(requirements) + "\n"
        if marker.exists() and marker.read_text() == wanted:
            return
        say(f"{self.name}: installing {' '.join(requirements)} into {venv}")
        self.dir.mkdir(parents=True, exist_ok=True)
        uv = _uv()
        python = venv / "bin" / "python"
        what = f"{self.name}: create venv"
        if not python.exists():
            if uv:
                run_logged([uv, "venv", "-q", "--python", sys.executable, str(venv)], self.log, what)
            else:
                run_logged([sys.executable, "-m", "venv", str(venv)], self.log, what)
        what = f"{self.name}: install {requirements[0]}"
        # bytecode written at install: where PYTHONDONTWRITEBYTECODE is set, every start would compile from source
        if uv:
            pre = ["--prerelease=allow"] if prerelease else []
            command = [uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(python), *pre, *requirements]
        else:  # pip writes bytecode by default
            command = [str(python), "-m", "pip", "install", "-q", *(["--pre"] if prerelease else []), *requirements]
        run_logged(command, self.log, what)
        if not (venv / "bin" / expected).exists():
            raise ServiceError(f"{self.name}: {requirements[0]} installed no `{expected}`; see {self.log}")
        marker.write_text(wanted)
