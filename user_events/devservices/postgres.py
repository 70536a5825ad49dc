"""PostgreSQL from the machine's server binaries: an own cluster under .data/services/postgres.

PostgreSQL refuses to run as root, so when we are root the cluster belongs to (and runs as) the
`postgres` system user. Databases `user_events` (warehouse) and `dagster` (optional instance storage),
both owned by role `user_events`, whose password is generated once and kept in the state file. Role
`user_events_reader` (the dashboards' login) may only read the warehouse schema: see `reader_grants`.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from user_events.warehouse.access import READER_ROLE, reader_grants

from .base import Service
from .core import LOOPBACK, ServiceError, run_logged, say, write_private

ROLE = "user_events"
DATABASES = ("user_events", "dagster")
READER_PASSWORD_SECRET = "postgres.user_events_reader_password"


def find_bindir() -> Path:
    """Directory with initdb/postgres: USER_EVENTS_PG_BINDIR, `pg_config --bindir`, or the newest
    /usr/lib/postgresql/*/bin."""
    candidates: list[str] = []
    if os.environ.get("USER_EVENTS_PG_BINDIR"):
        candidates.append(os.environ["USER_EVENTS_PG_BINDIR"])
    if shutil.which("pg_config"):
        try:
            candidates.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
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
    raise ServiceError(
        "postgres: no PostgreSQL server binaries found (looked at USER_EVENTS_PG_BINDIR, pg_config --bindir, "
        "/usr/lib/postgresql/*/bin); install them, e.g. `apt-get install postgresql-15`"
    )


class Postgres(Service):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: does not wait for clients to disconnect
    health_timeout = 60.0

    def __init__(self, state):
        super().__init__(state)
        self.data_dir = self.dir / "data"
        self.password = state.secret("postgres.user_events_password")
        self.superuser_password = state.secret("postgres.superuser_password")
        self.reader_password = state.secret(READER_PASSWORD_SECRET)

    # who runs the server --------------------------------------------------------------------------
    def _run_as(self) -> list[str]:
        """Command prefix that drops root to the `postgres` user (nothing when we are not root)."""
        if os.geteuid() != 0:
            return []
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServiceError("postgres: running as root needs a `postgres` system user (useradd --system postgres)") from exc
        return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", "--"]

    def _owner(self) -> tuple[int, int]:
        if os.geteuid() != 0:
            return os.getuid(), os.getgid()
        pw = pwd.getpwnam("postgres")
        return pw.pw_uid, pw.pw_gid

    def _reachable_by_owner(self, path: Path) -> bool:
        if os.geteuid() != 0:
            return True
        return subprocess.run(self._run_as() + ["test", "-w", str(path)], capture_output=True).returncode == 0

    def _prepare_data_dir(self) -> None:
        """Data directory owned by the server's user; when the project folder is not reachable by that
        user (e.g. under /root), the cluster lives in /var/tmp and .data/services/postgres/data links to it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.data_dir.exists() or self.data_dir.is_symlink():
            return
        uid, gid = self._owner()
        staging = self.dir / "probe"
        staging.mkdir(exist_ok=True)
        os.chown(staging, uid, gid)
        reachable = self._reachable_by_owner(staging)
        staging.rmdir()
        if reachable:
            self.data_dir.mkdir(mode=0o700)
            os.chown(self.data_dir, uid, gid)
        else:
            digest = hashlib.sha1(str(self.dir.resolve()).encode()).hexdigest()[:12]
            outside = Path("/var/tmp") / f"user_events-pg-{digest}"
            outside.mkdir(mode=0o700, exist_ok=True)
            os.chown(outside, uid, gid)
            self.data_dir.symlink_to(outside)
            say(f"postgres: project folder not reachable by user postgres; cluster kept in {outside}")

    # Service ------------------------------------------------------------------------------------
    def install(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        bindir = find_bindir()
        say(f"postgres: initdb with {bindir}")
        self._prepare_data_dir()
        pwfile = self.dir / "pwfile"
        write_private(pwfile, self.superuser_password + "\n")
        os.chown(pwfile, *self._owner())
        try:
            run_logged(
                self._run_as() + [str(bindir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                                  f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                                  "--no-instructions"],
                self.log, "postgres: initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self) -> None:
        bindir = find_bindir()
        port = self.port(env_var="USER_EVENTS_PG_PORT")
        # a dev/test server: small memory, no fsync (data survives a clean stop, not a power cut)
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(port),
            "unix_socket_directories": "",
            "shared_buffers": "64MB",
            "work_mem": "16MB",
            "maintenance_work_mem": "64MB",
            "max_connections": "100",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "timezone": "UTC",
            "log_timezone": "UTC",
            "logging_collector": "off",
        }
        argv = self._run_as() + [str(bindir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self.process.start(argv, self.log)

    def _connect(self, user: str, password: str, dbname: str):
        import psycopg

        return psycopg.connect(host=LOOPBACK, port=self.port(), user=user, password=password, dbname=dbname,
                               connect_timeout=3, autocommit=True)

    def check(self) -> None:
        self._ensure_role_and_databases()
        with self._connect(ROLE, self.password, "user_events") as conn:
            row = conn.execute("select 6 * 7, current_user").fetchone()
        if row != (42, ROLE):
            raise ServiceError(f"postgres: unexpected answer {row!r}")

    def _ensure_role_and_databases(self) -> None:
        from psycopg import sql

        with self._connect("postgres", self.superuser_password, "postgres") as conn:
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (ROLE,)).fetchone()
            verb = "alter" if exists else "create"
            conn.execute(sql.SQL(verb + " role {} login password {}").format(sql.Identifier(ROLE), sql.Literal(self.password)))
            for db in DATABASES:
                if not conn.execute("select 1 from pg_database where datname = %s", (db,)).fetchone():
                    conn.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(db), sql.Identifier(ROLE)))
            self._ensure_reader(conn)
        with self._connect(ROLE, self.password, "user_events") as conn:
            for statement in reader_grants("public"):
                conn.execute(statement)

    def _ensure_reader(self, conn) -> None:
        """The dashboards' read-only login; it may not even connect to the Dagster database."""
        from psycopg import sql

        exists = conn.execute("select 1 from pg_roles where rolname = %s", (READER_ROLE,)).fetchone()
        verb = "alter" if exists else "create"
        conn.execute(sql.SQL(verb + " role {} login nocreatedb nocreaterole password {}").format(
            sql.Identifier(READER_ROLE), sql.Literal(self.reader_password)))
        conn.execute(sql.SQL("revoke connect, temporary on database {} from public").format(sql.Identifier("dagster")))

    def url(self, db: str = "user_events") -> str:
        return f"postgresql://{ROLE}:{self.password}@{LOOPBACK}:{self.port()}/{db}"

    def env(self) -> dict[str, str]:
        return {
            "USER_EVENTS_PG_URL": self.url("user_events"),
            "USER_EVENTS_PG_SCHEMA": "public",
            "USER_EVENTS_DAGSTER_PG_URL": self.url("dagster"),
        }
