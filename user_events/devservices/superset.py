"""Apache Superset 6.1 (the dashboards) from PyPI in its own virtualenv, metadata in SQLite.

Superset's pins clash with Dagster's, so it runs from .data/services/superset/venv. The slow first
initialisation (schema migrations, roles, the admin user: about a minute) runs once; the initialised
superset.db is kept with the SECRET_KEY it was made with (state file), so later starts only boot gunicorn.
The warehouse reader's password reaches Superset only through its process environment (see
user_events/dashboards/server/superset_config.py). Debian's Chromium is installed for the browser tests.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request

from user_events.config import PROJECT_ROOT, field_of, settings
from user_events.warehouse.access import READER_ROLE

from .base import Service
from .core import LOOPBACK, ServiceError, run_logged, say
from .postgres import READER_PASSWORD_SECRET

SUPERSET_REQUIREMENTS = [
    "apache-superset[postgres]==6.1.0",
    "flask-caching==2.3.1",  # 2.5.x breaks start-up (SupersetMetastoreCache ignore_delete_many_errors)
    "rich==15.0.0",  # imported by the superset CLI, not declared
    "cachetools==8.0.2",  # imported by the dashboard importer, not declared
    "pymongosql==0.7.4",  # the driver of Superset's MongoDB engine spec (the live dashboard)
    "tenacity==9.2.1",  # provision.py's waits, as in docker/superset/Dockerfile (the image runs provision.py)
]
SERVER_FILES = PROJECT_ROOT / "user_events" / "dashboards" / "server"
ADMIN_USER = "admin"
PUBLIC_VAR = "USER_EVENTS_SUPERSET_PUBLIC"  # true: read-only public dashboards (see superset_config.py)
# passed on to Superset's process when set (see user_events/dashboards/server/gunicorn_config.py)
PASSED_VARS = (
    PUBLIC_VAR,
    "USER_EVENTS_SUPERSET_WORKERS",
    "USER_EVENTS_SUPERSET_THREADS",
    "USER_EVENTS_SUPERSET_CACHE_SECONDS",
)
INITIALISED_VERSION = "superset 6.1.0 / 1"


def passed_settings() -> dict[str, str]:
    """The PASSED_VARS that are set, as Superset's process reads them (`true`/`false` for a flag)."""
    config = settings()
    fields = {name: field_of(name) for name in PASSED_VARS}
    values = {name: getattr(config, field) for name, field in fields.items() if config.is_set(field)}
    return {name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in values.items()}


def ensure_chromium(log) -> None:
    """Debian's headless Chromium for the browser tests (a downloaded browser build does not work here)."""
    if shutil.which("chromium"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        say("superset: chromium missing and not installable here (needs root and apt-get); browser tests will skip")
        return
    say("superset: installing Debian's chromium with apt-get (browser tests)")
    run_logged(["apt-get", "update", "-q"], log, "superset: apt-get update", timeout=600)
    run_logged(
        ["apt-get", "install", "-y", "-q", "chromium"],
        log,
        "superset: apt-get install chromium",
        timeout=1200,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


class Superset(Service):
    name = "superset"
    health_timeout = 240.0  # gunicorn imports all of Superset before /health answers (~11 s idle machine)
    # SIGKILL only after gunicorn's own bounded stop (graceful_timeout 20 s in server/gunicorn_config.py)
    stop_timeout = 40.0

    def __init__(self, state):
        super().__init__(state)
        self.venv = self.dir / "venv"
        self.metadata_db = self.dir / "superset.db"
        self.initialised = self.dir / ".initialised"
        self.secret_key = state.secret("superset.secret_key", 48)
        self.admin_password = state.secret("superset.admin_password")
        self.reader_password = state.secret(READER_PASSWORD_SECRET)

    def process_env(self, with_admin: bool = False) -> dict[str, str]:
        """Superset's environment: its own settings, none of the project's credentials (USER_EVENTS_PG_URL
        carries the warehouse owner's password and Superset must never see it)."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("USER_EVENTS_", "AWS_", "SUPERSET_"))}
        env = {
            **base,
            "PYTHONUNBUFFERED": "1",
            "SUPERSET_CONFIG_PATH": str(SERVER_FILES / "superset_config.py"),
            "SUPERSET_SECRET_KEY": self.secret_key,
            "SUPERSET_METADATA_URI": f"sqlite:///{self.metadata_db}?check_same_thread=false",
            "SUPERSET_DATA_CACHE_DIR": str(self.dir / "cache"),
            "USER_EVENTS_SUPERSET_READER_USER": READER_ROLE,
            "USER_EVENTS_SUPERSET_READER_PASSWORD": self.reader_password,
        }
        env.update(passed_settings())
        if with_admin:
            env.update(USER_EVENTS_SUPERSET_USER=ADMIN_USER, USER_EVENTS_SUPERSET_PASSWORD=self.admin_password)
        return env

    def install(self) -> None:
        self.install_venv(self.venv, SUPERSET_REQUIREMENTS, "gunicorn")
        self.dir.chmod(0o700)  # superset.db holds the admin's password hash and data encrypted with SECRET_KEY
        ensure_chromium(self.log)
        if (
            self.metadata_db.exists()
            and self.initialised.exists()
            and self.initialised.read_text().strip() == INITIALISED_VERSION
        ):
            return
        say("superset: initialising its metadata database (first run only, about a minute)")
        run_logged(
            [str(self.venv / "bin" / "python"), str(SERVER_FILES / "initialise.py")],
            self.log,
            "superset: initialise",
            timeout=900,
            env=self.process_env(with_admin=True),
        )
        self.initialised.write_text(INITIALISED_VERSION + "\n")

    def start(self) -> None:
        port = self.port(env_var="USER_EVENTS_SUPERSET_PORT")
        argv = [
            str(self.venv / "bin" / "python"),
            str(self.venv / "bin" / "gunicorn"),
            "-c",
            str(SERVER_FILES / "gunicorn_config.py"),
            "-b",
            f"{LOOPBACK}:{port}",
            "superset.app:create_app()",
        ]
        self.process.start(argv, self.log, cwd=self.dir, env=self.process_env())

    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port()}"

    def check(self) -> None:
        with urllib.request.urlopen(f"{self.url()}/health", timeout=5) as resp:
            body = resp.read().decode().strip()
        if body != "OK":
            raise ServiceError(f"superset: /health answered {body[:80]!r}")
        login = json.dumps(
            {"username": ADMIN_USER, "password": self.admin_password, "provider": "db", "refresh": False}
        )
        req = urllib.request.Request(
            f"{self.url()}/api/v1/security/login", data=login.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            if not json.loads(resp.read()).get("access_token"):
                raise ServiceError("superset: the admin's API login returned no access token")

    def env(self) -> dict[str, str]:
        return {
            "USER_EVENTS_SUPERSET_URL": self.url(),
            "USER_EVENTS_SUPERSET_USER": ADMIN_USER,
            "USER_EVENTS_SUPERSET_PASSWORD": self.admin_password,
        }
