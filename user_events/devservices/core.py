"""What every local service shares: paths, the state file (ports, generated secrets), free ports,
starting a process with its pid recorded, verifying a pid is still ours, stopping it, and waiting for health.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_before_delay,
    wait_fixed,
)

from user_events.config import field_of, settings
from user_events.ports import LOOPBACK, free_port, port_open  # noqa: F401  (the services' ports)


def services_dir() -> Path:
    """Where the local services keep their state, logs and pid files (under USER_EVENTS_DATA_DIR)."""
    return settings().data_dir / "services"


class ServiceError(RuntimeError):
    """A service failed to install, start or pass its health check; the message names it and its log."""


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds passwords), created with that mode: never readable by
    others, not even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def say(message: str) -> None:
    print(f"services: {message}", flush=True)


# --- state: ports and secrets, generated once ---------------------------------------------------------
class State:
    """JSON file under .data/services (mode 0600) with the ports chosen and the secrets generated once."""

    def __init__(self, path: Path | None = None):
        self.path = path or services_dir() / "state.json"
        self.data: dict = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.data.setdefault("ports", {})
        self.data.setdefault("secrets", {})

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        write_private(tmp, json.dumps(self.data, indent=2, sort_keys=True))
        os.replace(tmp, self.path)

    def secret(self, name: str, nbytes: int = 24) -> str:
        value = self.data["secrets"].get(name)
        if not value:
            value = secrets.token_hex(nbytes // 2)  # hex: safe in URLs and config files unquoted
            self.data["secrets"][name] = value
            self.save()
        return value

    def value(self, name: str, make: Callable[[], str]) -> str:
        if name not in self.data:
            self.data[name] = make()
            self.save()
        return self.data[name]

    def port(self, name: str, env_var: str | None = None, running: bool = False) -> int:
        """The service's port: the env variable if set, else the one kept in the state file, else a free one.

        A kept port that something else took meanwhile is replaced by a free one (only when the service
        itself is not running, so a running service keeps its port).
        """
        ports = self.data["ports"]
        wanted = getattr(settings(), field_of(env_var)) if env_var else None
        if wanted:
            port = wanted
        elif name in ports and (running or port_is_free(ports[name])):
            port = ports[name]
        else:
            port = free_port(exclude=set(ports.values()))
        if ports.get(name) != port:
            ports[name] = port
            self.save()
        return port


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def services_lock():
    """One `up`/`down` at a time (two `make test` started together would otherwise race)."""
    services_dir().mkdir(parents=True, exist_ok=True)
    with open(services_dir() / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --- processes ---------------------------------------------------------------------------------------
def _proc_start_time(pid: int) -> float | None:
    """When pid started (psutil's create time): with the pid it identifies one process. None when no such
    process is alive (a zombie has already exited)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except psutil.Error:
        return None


def _is_recorded_process(pid: int, rec: dict) -> bool:
    """The process alive as pid is the one the pid file recorded (same start time)."""
    started = _proc_start_time(pid)
    if started is None:
        return False
    if "create_time" in rec:
        return started == rec["create_time"]
    # a pid file written before psutil did this: the start time in kernel clock ticks since boot
    return round((started - psutil.boot_time()) * os.sysconf("SC_CLK_TCK")) == rec.get("start_time")


def _proc_cmdline(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return ""


@dataclass
class Process:
    """One long-running process of a service, tracked by .data/services/<name>.pid.

    The pid file holds the pid, its kernel start time and a marker string (a path under .data/services
    that appears on its command line): all three must match before we consider the process ours.
    """

    name: str
    marker: str
    pid_file: Path = field(init=False)
    popen: subprocess.Popen | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        self.pid_file = services_dir() / f"{self.name}.pid"

    def exited(self) -> bool:
        """True once the process is gone: the child's exit status when this process started it, else /proc."""
        if self.popen is not None:
            return self.popen.poll() is not None
        return not self.running()

    def record(self) -> dict | None:
        try:
            return json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None

    def pid(self) -> int | None:
        """The pid if the recorded process is alive and still ours, else None."""
        rec = self.record()
        if not rec:
            return None
        pid = int(rec["pid"])
        if not _is_recorded_process(pid, rec):
            return None
        if self.marker not in _proc_cmdline(pid):
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def start(self, argv: list[str], log: Path, cwd: Path | None = None, env: dict | None = None) -> int:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives `make`, not killed by Ctrl+C in the terminal that started it
            )
        create_time = _proc_start_time(proc.pid)
        if create_time is None:
            raise ServiceError(f"{self.name} exited right after starting; see {log}")
        self.pid_file.write_text(json.dumps({"pid": proc.pid, "create_time": create_time, "argv": argv[:3]}))
        self.popen = proc
        return proc.pid

    def send_stop(self, sig: int = signal.SIGTERM) -> int | None:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        return pid

    def wait_stopped(self, pid: int, timeout: float) -> bool:
        """Wait for the process to exit; SIGKILL it after `timeout`. True if it exited on its own."""
        rec = self.record() or {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _is_recorded_process(pid, rec):  # gone, a zombie, or the pid reused
                self.pid_file.unlink(missing_ok=True)
                return True
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap if it is our own child (e.g. down+up in one process)
            time.sleep(0.1)
        if self.pid() == pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        self.pid_file.unlink(missing_ok=True)
        return False


class _Exited(Exception):
    pass


def wait_healthy(name: str, check: Callable[[], None], timeout: float, log: Path, proc: Process | None = None) -> float:
    """Call `check` until it passes; returns seconds taken. Raises ServiceError naming the log on failure."""
    started = time.monotonic()

    def attempt() -> None:
        if proc is not None and proc.exited():
            raise _Exited
        check()

    def timed_out(state: RetryCallState):
        last = state.outcome.exception()
        raise ServiceError(
            f"{name} failed its health check within {timeout:.0f}s ({type(last).__name__}: {last}); see {log}"
        )

    try:
        Retrying(
            retry=retry_if_exception_type(Exception) & retry_if_not_exception_type(_Exited),
            stop=stop_before_delay(timeout),
            wait=wait_fixed(0.5),
            retry_error_callback=timed_out,
        )(attempt)
    except _Exited:
        raise ServiceError(f"{name} exited during start-up; see {log}") from None
    return time.monotonic() - started


def run_logged(
    argv: list[str], log: Path, what: str, timeout: float = 1800, env: dict | None = None, cwd: Path | None = None
) -> None:
    """Run an install step with its output appended to `log`; a failure names the step and the log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {what}: {' '.join(argv)}\n".encode())
        out.flush()
        try:
            rc = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=env, cwd=cwd
            ).returncode
        except FileNotFoundError as exc:
            raise ServiceError(
                f"{what}: {exc.filename} not found (see docs/services.md for what the machine needs)"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise ServiceError(f"{what} did not finish within {timeout:.0f}s; see {log}") from exc
    if rc != 0:
        raise ServiceError(f"{what} failed (exit {rc}); see {log}")


def find_java(what: str) -> str:
    """`java` from JAVA_HOME if set, else from PATH."""
    home = os.environ.get("JAVA_HOME")
    found = shutil.which("java", path=os.path.join(home, "bin")) if home else None
    found = found or shutil.which("java")
    if not found:
        raise ServiceError(f"{what}: `java` (17 or newer) not found on PATH")
    return found


def maven_libs(pom: str, workdir: Path, libs: Path, marker: str, log: Path, what: str) -> Path:
    """`libs`, holding the runtime dependencies of `pom` copied by Maven on first use (a `marker` file names
    what they are, so a change of versions resolves again; staged, so a failed copy leaves no half directory)."""
    if (libs / marker).exists():
        return libs
    if not shutil.which("mvn"):
        raise ServiceError(f"{what}: Maven (`mvn`) not found; install it, e.g. `apt-get install maven`")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "pom.xml").write_text(pom)
    staging = libs.with_name(libs.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    run_logged(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(workdir / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ],
        log,
        f"{what}: mvn copy-dependencies",
    )
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    (libs / marker).touch()
    return libs
