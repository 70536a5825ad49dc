"""Apache Superset 6.1 (the dashboards) from PyPI in its own virtualenv, metadata in SQLite.

Superset's pins clash with Dagster's, so it runs from .data/services/superset/venv. The slow first
initialisation (schema migrations, roles, the admin user: about a minute) runs once; the initialised
superset.db is kept with the SECRET_KEY it was made with (state file), so later starts only boot gunicorn.
The warehouse reader's password reaches Superset only through its process environment (see
user_events/dashboards/server/superset_config.py). Debian's Chromium is installed for the browser tests.

Once every service is healthy, `up` provisions both dashboards on the services' warehouse and MongoDB
(user_events/dashboards/provision.py, run as the Docker image runs it), unless neither the bundle nor where
it points changed since the last time and Superset still has them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import yaml

from user_events.config import PROJECT_ROOT, field_of, settings

from .base import Service
from .core import LOOPBACK, ServiceError, run_logged, say
from .pins import superset_version
from .postgres import READER_PASSWORD_SECRET

SUPERSET_REQUIREMENTS = [
    f"apache-superset[postgres]=={superset_version()}",
    "flask-caching==2.3.1",  # 2.5.x breaks start-up (SupersetMetastoreCache ignore_delete_many_errors)
    "rich==15.0.0",  # imported by the superset CLI, not declared
    "cachetools==8.0.2",  # imported by the dashboard importer, not declared
    "pymongosql==0.7.4",  # the driver of Superset's MongoDB engine spec (the live dashboard)
    "tenacity==9.2.1",  # provision.py's waits, as in docker/superset/Dockerfile (the image runs provision.py)
]
DASHBOARD_FILES = PROJECT_ROOT / "user_events" / "dashboards"
SERVER_FILES = DASHBOARD_FILES / "server"
BUNDLE_DIR = DASHBOARD_FILES / "bundle"
# run as a program, not imported: dev tooling uses no dashboards code (docs/architecture.md)
PROVISION_MODULE = "user_events.dashboards.provision"
PROVISION_SCRIPT = DASHBOARD_FILES / "provision.py"
ADMIN_USER = "admin"
PUBLIC_VAR = "USER_EVENTS_SUPERSET_PUBLIC"  # true: read-only public dashboards (see superset_config.py)
# passed on to Superset's process when set (see user_events/dashboards/server/gunicorn_config.py)
PASSED_VARS = (
    PUBLIC_VAR,
    "USER_EVENTS_SUPERSET_WORKERS",
    "USER_EVENTS_SUPERSET_THREADS",
    "USER_EVENTS_SUPERSET_CACHE_SECONDS",
)
INITIALISED_VERSION = f"superset {superset_version()} / 1"


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


def dashboard_placement(services_env: dict[str, str]) -> dict[str, str]:
    """Where the dashboards read, in the variables provision.py takes: host, port and names, no password."""
    pg = urlsplit(services_env["USER_EVENTS_PG_URL"])
    return {
        "USER_EVENTS_PG_URL": f"postgresql://{pg.hostname}:{pg.port}{pg.path}",
        "USER_EVENTS_PG_SCHEMA": services_env["USER_EVENTS_PG_SCHEMA"],
        "USER_EVENTS_MONGO_URI": services_env["USER_EVENTS_MONGO_URI"],
        "USER_EVENTS_MONGO_DB": services_env["USER_EVENTS_MONGO_DB"],
    }


def dashboards_digest(placement: dict[str, str]) -> str:
    """Changes when a bundle file, the provisioning code or where the dashboards read changes."""
    digest = hashlib.sha256(json.dumps(placement, sort_keys=True).encode())
    for path in [PROVISION_SCRIPT, *sorted(p for p in BUNDLE_DIR.rglob("*") if p.is_file())]:
        digest.update(f"\0{path.relative_to(DASHBOARD_FILES)}\0".encode() + path.read_bytes())
    return digest.hexdigest()


def dashboard_slugs() -> list[str]:
    return sorted(yaml.safe_load(p.read_text())["slug"] for p in (BUNDLE_DIR / "dashboards").glob("*.yaml"))


class Superset(Service):
    name = "superset"
    health_timeout = 240.0  # gunicorn imports all of Superset before /health answers, slow on a loaded machine
    # SIGKILL only after gunicorn's own bounded stop (graceful_timeout 20 s in server/gunicorn_config.py)
    stop_timeout = 40.0

    def __init__(self, state):
        super().__init__(state)
        self.venv = self.dir / "venv"
        self.metadata_db = self.dir / "superset.db"
        self.initialised = self.dir / ".initialised"
        self.provisioned = self.dir / ".dashboards_provisioned"  # the dashboards_digest last provisioned
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
        if not self._access_token():
            raise ServiceError("superset: the admin's API login returned no access token")

    def _access_token(self) -> str | None:
        login = json.dumps(
            {"username": ADMIN_USER, "password": self.admin_password, "provider": "db", "refresh": False}
        )
        req = urllib.request.Request(
            f"{self.url()}/api/v1/security/login", data=login.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read()).get("access_token")

    def provision_dashboards(self, services_env: dict[str, str]) -> None:
        """Both dashboards on the services' warehouse and MongoDB; skipped when nothing changed since the
        last provisioning here and Superset still has them with their charts."""
        placement = dashboard_placement(services_env)
        digest = dashboards_digest(placement)
        if self._provisioned_digest() == digest and self._dashboards_present():
            say("superset: dashboards up to date")
            return
        say(f"superset: provisioning the dashboards ({', '.join(dashboard_slugs())})")
        run_logged(
            [sys.executable, "-m", PROVISION_MODULE],
            self.log,
            "superset: provision the dashboards",
            timeout=300,
            env=self._provisioning_env(placement),
        )
        self.provisioned.write_text(digest + "\n")

    def _provisioned_digest(self) -> str | None:
        return self.provisioned.read_text().strip() if self.provisioned.exists() else None

    def _dashboards_present(self) -> bool:
        headers = {"Authorization": f"Bearer {self._access_token()}"}
        for slug in dashboard_slugs():
            req = urllib.request.Request(f"{self.url()}/api/v1/dashboard/{slug}/charts", headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    if not json.loads(resp.read()).get("result"):
                        return False
            except urllib.error.HTTPError:  # 404: no such dashboard (a new superset.db, or deleted)
                return False
        return True

    def _provisioning_env(self, placement: dict[str, str]) -> dict[str, str]:
        """provision.py's environment: Superset's admin and the placement, none of the project's credentials."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("USER_EVENTS_", "AWS_"))}
        return {**base, **self.env(), **placement, "USER_EVENTS_SUPERSET_WAIT": "60"}

    def env(self) -> dict[str, str]:
        return {
            "USER_EVENTS_SUPERSET_URL": self.url(),
            "USER_EVENTS_SUPERSET_USER": ADMIN_USER,
            "USER_EVENTS_SUPERSET_PASSWORD": self.admin_password,
        }
