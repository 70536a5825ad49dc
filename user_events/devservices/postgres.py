"""PostgreSQL from the machine's server binaries: an own cluster under .data/services/postgres.

PostgreSQL refuses to run as root, so when we are root the cluster belongs to (and runs as) the
`postgres` system user; when that user cannot enter the project folder, the cluster lives in /var/tmp
(see `_prepare_data_dir`) and `make clean` removes it with the rest. Databases `user_events` (warehouse) and `dagster` (optional instance storage),
both owned by role `user_events`, whose password is generated once and kept in the state file. Role
`user_events_reader` (the dashboards' login) may only read the warehouse schema: see `reader_grants`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import tempfile
from pathlib import Path

import psutil

from user_events import pgserver
from user_events.config import Settings
from user_events.warehouse.access import READER_ROLE, reader_grants

from .base import Service
from .core import LOOPBACK, ServiceError, run_logged, say, write_private

ROLE = "user_events"
DATABASES = ("user_events", "dagster")
READER_PASSWORD_SECRET = "postgres.user_events_reader_password"
SCHEMA = Settings.model_fields["pg_schema"].default  # the local warehouse uses the default schema


SERVER_USER = pgserver.ServerUser("postgres")
# where the cluster lives when the project folder is closed to the server's user
OUTSIDE_ROOT = Path("/var/tmp")
OUTSIDE_PREFIX = "user_events-pg-"


def find_bindir() -> Path:
    """The machine's PostgreSQL binaries (see pgserver.machine_bindir)."""
    try:
        return pgserver.machine_bindir()
    except pgserver.PgServerError as exc:
        raise ServiceError(str(exc)) from None


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _alive_in(pid: int | None, pgdata: Path) -> bool:
    """Whether `pid` is a live process working in `pgdata` (a running postmaster of this cluster)."""
    if pid is None:
        return False
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.cwd() == str(pgdata)
    except psutil.Error:
        return False


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
        self._follow_data_dir()

    # who runs the server --------------------------------------------------------------------------
    def _user(self) -> pgserver.ServerUser:
        """As root the cluster belongs to the `postgres` system user, which must exist."""
        if SERVER_USER.switching and not SERVER_USER.exists():
            raise ServiceError("postgres: running as root needs a `postgres` system user (useradd --system postgres)")
        return SERVER_USER

    def _cluster(self) -> pgserver.PgCluster:
        return pgserver.PgCluster(find_bindir(), self._pgdata(), self._user())

    def _pgdata(self) -> Path:
        """The cluster's real directory: the server's user may not pass through the project folder to follow
        the link, so the server is given its target."""
        return self.data_dir.resolve()

    def _follow_data_dir(self) -> None:
        """The server's command line names its data directory: that marks the process as ours."""
        self.process.marker = str(self._pgdata())

    def _prepare_data_dir(self) -> None:
        """Data directory owned by the server's user. When the project folder is closed to that user (a private
        directory, e.g. under /root), the cluster lives outside it and .data/services/postgres/data links there."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.data_dir.is_symlink() and not self.data_dir.exists():
            self.data_dir.unlink()  # its cluster outside was removed: a new one takes its place
        if self.data_dir.exists():
            return
        user = self._user()
        if self._reachable_by(user):
            self.data_dir.mkdir(mode=0o700)
            os.chown(self.data_dir, *user.owner())
            return
        outside = self._outside_dir()
        self._remove_earlier_clusters_of_this_path(keep=outside)
        outside.mkdir(mode=0o700, exist_ok=True)
        os.chown(outside, *user.owner())
        self.data_dir.symlink_to(outside)
        self._follow_data_dir()
        say(f"postgres: project folder not reachable by user {user.name}; cluster kept in {outside}")

    def _reachable_by(self, user: pgserver.ServerUser) -> bool:
        probe = self.dir / "probe"
        probe.mkdir(exist_ok=True)
        try:
            os.chown(probe, *user.owner())
            return user.can_write(probe)
        finally:
            probe.rmdir()

    def _outside_prefix(self) -> str:
        return OUTSIDE_PREFIX + hashlib.sha1(str(self.dir.resolve()).encode()).hexdigest()[:12]

    def _outside_dir(self) -> Path:
        """Named after the project's path and after this state's own cluster id: a later clone at the same path
        (its state new, its passwords new) gets a cluster of its own, never the earlier clone's."""
        cluster_id = self.state.value("postgres.cluster_id", lambda: secrets.token_hex(6))
        return OUTSIDE_ROOT / f"{self._outside_prefix()}-{cluster_id}"

    def _remove_earlier_clusters_of_this_path(self, keep: Path) -> None:
        """The clusters that earlier clones at this path kept outside: their state, passwords included, went with
        the clone, so nothing can use them again. Stopped if still running, then removed."""
        for stale in sorted(OUTSIDE_ROOT.glob(self._outside_prefix() + "*")):
            if stale == keep or not stale.is_dir():
                continue
            pgserver.PgCluster(find_bindir(), stale, self._user()).stop()
            shutil.rmtree(stale)
            say(f"postgres: removed {stale}, the cluster of an earlier clone at this path")

    @contextlib.contextmanager
    def _superuser_password_file(self):
        """initdb's --pwfile, in a private directory the server's user can read (not in the project folder)."""
        user = self._user()
        with tempfile.TemporaryDirectory(prefix="user_events-initdb-") as tmp:
            os.chown(tmp, *user.owner())
            pwfile = Path(tmp) / "pwfile"
            write_private(pwfile, self.superuser_password + "\n")
            os.chown(pwfile, *user.owner())
            yield pwfile

    def purge(self) -> None:
        """Remove the cluster kept outside the project, if any (`make clean`)."""
        if self.data_dir.is_symlink():
            outside = self.data_dir.resolve()
            self._cluster().stop()
            shutil.rmtree(outside, ignore_errors=True)
            self.data_dir.unlink()
            say(f"postgres: removed {outside}")

    # Service ------------------------------------------------------------------------------------
    def install(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self._prepare_data_dir()
        if (self.data_dir / "PG_VERSION").exists():  # linked again to this state's cluster
            return
        cluster = self._cluster()
        say(f"postgres: initdb with {cluster.bindir}")
        with self._superuser_password_file() as pwfile:
            run_logged(
                cluster.initdb_command(
                    f"--pwfile={pwfile}", "--auth=scram-sha-256", "--locale=C.UTF-8", "--no-instructions"
                ),
                self.log,
                "postgres: initdb",
                cwd=pgserver.SERVER_CWD,
            )

    def _end_orphans_of_a_crashed_server(self) -> None:
        """After the postmaster was killed, its backends may still run (one busy with a long statement does not
        notice) and keep the shared memory attached: a new server then refuses to start. They are ours when
        their working directory is our cluster's (every server process runs there). Nothing is ended while the
        postmaster that postmaster.pid names is alive."""
        pgdata = self._pgdata()
        if _alive_in(_postmaster_pid(pgdata), pgdata):
            return
        orphans = [p for p in psutil.process_iter(["cwd"]) if p.info["cwd"] == str(pgdata)]
        if not orphans:
            return
        for proc in orphans:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(orphans, timeout=10)
        say(f"postgres: ended {len(orphans)} backend(s) a crashed server left running")

    def start(self) -> None:
        self._end_orphans_of_a_crashed_server()
        port = self.port(env_var="USER_EVENTS_PG_PORT")
        # a dev/test server: no fsync (data survives a clean stop, not a power cut)
        settings = {
            **pgserver.BULK_LOAD_SETTINGS,
            "listen_addresses": LOOPBACK,
            "port": str(port),
            "unix_socket_directories": "",
            "work_mem": "16MB",
            "max_connections": "100",
            "fsync": "off",
            "full_page_writes": "off",
        }
        self.process.start(self._cluster().server_command(settings), self.log, cwd=pgserver.SERVER_CWD)

    def _connect(self, user: str, password: str, dbname: str):
        import psycopg

        return psycopg.connect(
            host=LOOPBACK,
            port=self.port(),
            user=user,
            password=password,
            dbname=dbname,
            connect_timeout=3,
            autocommit=True,
        )

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
            conn.execute(
                sql.SQL(verb + " role {} login password {}").format(sql.Identifier(ROLE), sql.Literal(self.password))
            )
            for db in DATABASES:
                if not conn.execute("select 1 from pg_database where datname = %s", (db,)).fetchone():
                    conn.execute(
                        sql.SQL("create database {} owner {}").format(sql.Identifier(db), sql.Identifier(ROLE))
                    )
            self._ensure_reader(conn)
        with self._connect(ROLE, self.password, "user_events") as conn:
            for statement in reader_grants(SCHEMA):
                conn.execute(statement)

    def _ensure_reader(self, conn) -> None:
        """The dashboards' read-only login; it may not even connect to the Dagster database."""
        from psycopg import sql

        exists = conn.execute("select 1 from pg_roles where rolname = %s", (READER_ROLE,)).fetchone()
        verb = "alter" if exists else "create"
        conn.execute(
            sql.SQL(verb + " role {} login nocreatedb nocreaterole password {}").format(
                sql.Identifier(READER_ROLE), sql.Literal(self.reader_password)
            )
        )
        conn.execute(sql.SQL("revoke connect, temporary on database {} from public").format(sql.Identifier("dagster")))

    def url(self, db: str = "user_events") -> str:
        return f"postgresql://{ROLE}:{self.password}@{LOOPBACK}:{self.port()}/{db}"

    def env(self) -> dict[str, str]:
        return {
            "USER_EVENTS_PG_URL": self.url("user_events"),
            "USER_EVENTS_PG_SCHEMA": SCHEMA,
            "USER_EVENTS_DAGSTER_PG_URL": self.url("dagster"),
        }
