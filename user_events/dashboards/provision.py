"""Provision the dashboards from the YAML files in `bundle/` through Superset's assets import API.

Standalone on purpose (standard library, requests, tenacity and `warehouse/access.py` for the reader role's
name: what docker/superset/Dockerfile installs and copies): the Dagster assets, the tests and the Docker
Superset container (`python provision.py`) all run this same code on the same files.

The files hold no password and no host: `${PG_HOST}`-style placeholders are filled at provisioning time
from the environment (host, port, database, schema; a password in USER_EVENTS_PG_URL is never read), and
Superset finds the reader's password itself (SQLALCHEMY_CUSTOM_PASSWORD_STORE). Every object has a fixed
UUID, so a second import updates in place (`overwrite=true` updates databases, datasets, charts and
dashboards alike).
"""

from __future__ import annotations

import io
import logging
import os
import string
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from tenacity import Retrying, retry_if_exception_type, retry_if_result, stop_after_delay, wait_fixed

from user_events.warehouse.access import READER_ROLE

log = logging.getLogger(__name__)
BUNDLE_DIR = Path(__file__).resolve().parent / "bundle"
BUNDLE_ROOT = "user_events_dashboards"  # the importer strips the first path part of every member
DASHBOARD_SLUGS = ("kpis", "live")


class SupersetError(RuntimeError):
    """Superset refused a request; the message names the endpoint and Superset's answer (no secrets)."""


@dataclass(frozen=True)
class Placement:
    """Where the databases are, as seen from Superset: filled into the bundle's placeholders."""

    pg_host: str
    pg_port: int
    pg_db: str
    pg_schema: str
    mongo_host: str
    mongo_port: int
    mongo_db: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Placement:
        """From USER_EVENTS_PG_URL / _PG_SCHEMA / _MONGO_URI / _MONGO_DB (host, port and names only)."""
        e = os.environ if environ is None else environ
        pg = urlsplit(e.get("USER_EVENTS_PG_URL") or "postgresql://127.0.0.1:5432/user_events")
        mongo = urlsplit((e.get("USER_EVENTS_MONGO_URI") or "mongodb://localhost:27017").split(",")[0])
        return cls(
            pg_host=pg.hostname or "127.0.0.1",
            pg_port=pg.port or 5432,
            pg_db=(pg.path or "/user_events").lstrip("/") or "user_events",
            pg_schema=e.get("USER_EVENTS_PG_SCHEMA") or "public",
            mongo_host=mongo.hostname or "localhost",
            mongo_port=mongo.port or 27017,
            mongo_db=e.get("USER_EVENTS_MONGO_DB") or "user_events",
        )

    def substitutions(self) -> dict[str, str]:
        return {
            "PG_HOST": self.pg_host,
            "PG_PORT": str(self.pg_port),
            "PG_DB": self.pg_db,
            "PG_SCHEMA": self.pg_schema,
            "PG_READER": READER_ROLE,
            "MONGO_HOST": self.mongo_host,
            "MONGO_PORT": str(self.mongo_port),
            "MONGO_DB": self.mongo_db,
        }


def bundle_files(bundle_dir: Path = BUNDLE_DIR) -> list[Path]:
    return sorted(p for p in bundle_dir.rglob("*.yaml") if p.is_file())


def build_bundle(placement: Placement, bundle_dir: Path = BUNDLE_DIR) -> bytes:
    """The ZIP Superset imports: the bundle's YAML files with the placeholders filled."""
    values = placement.substitutions()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in bundle_files(bundle_dir):
            text = string.Template(path.read_text()).substitute(values)
            zf.writestr(f"{BUNDLE_ROOT}/{path.relative_to(bundle_dir).as_posix()}", text)
    return buf.getvalue()


class SupersetClient:
    """A logged-in session on Superset's REST API (access token + CSRF token for writes)."""

    def __init__(self, url: str, username: str, password: str, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._credentials = (username, password)
        self.session = requests.Session()
        self._login()

    def _login(self) -> None:
        """A fresh access token (Superset's expire after 15 minutes) and the CSRF token that goes with it."""
        username, password = self._credentials
        self.session.headers.pop("Authorization", None)
        resp = self.session.post(
            f"{self.url}/api/v1/security/login",
            timeout=self.timeout,
            json={"username": username, "password": password, "provider": "db", "refresh": False},
        )
        if resp.status_code != 200:
            raise SupersetError(f"login to {self.url} as {username!r} failed: HTTP {resp.status_code}")
        self.session.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"
        csrf = self._check(
            self.session.get(f"{self.url}/api/v1/security/csrf_token/", timeout=self.timeout), "csrf_token"
        )
        self.session.headers["X-CSRFToken"] = csrf["result"]
        self.session.headers["Referer"] = self.url

    def _request(self, method: str, path: str, **kwargs) -> dict:
        resp = self.session.request(method, f"{self.url}{path}", timeout=self.timeout, **kwargs)
        if resp.status_code == 401:  # the token expired (a long-lived client): log in again, once
            self._login()
            resp = self.session.request(method, f"{self.url}{path}", timeout=self.timeout, **kwargs)
        return self._check(resp, f"{method} {path}")

    @staticmethod
    def _check(resp: requests.Response, what: str) -> dict:
        if resp.status_code >= 400:
            raise SupersetError(f"{what}: HTTP {resp.status_code}: {resp.text[:500]}")
        return resp.json()

    def get(self, path: str, **params) -> dict:
        return self._request("GET", path, params=params)

    def post(self, path: str, **kwargs) -> dict:
        return self._request("POST", path, **kwargs)

    def put(self, path: str, **kwargs) -> dict:
        return self._request("PUT", path, **kwargs)

    def delete(self, path: str) -> dict:
        return self._request("DELETE", path)

    def import_bundle(self, bundle: bytes) -> None:
        self.post(
            "/api/v1/assets/import/",
            files={"bundle": ("user_events_dashboards.zip", bundle, "application/zip")},
            data={"overwrite": "true"},
        )

    def list_all(self, resource: str, columns: tuple[str, ...]) -> list[dict]:
        import json

        query = json.dumps({"columns": list(columns), "page_size": 100, "page": 0})  # Superset takes JSON for rison
        return self.get(f"/api/v1/{resource}/", q=query)["result"]

    def dashboards(self) -> dict[str, dict]:
        """slug -> {id, url, title} of the provisioned dashboards present in Superset."""
        found = self.list_all("dashboard", ("id", "slug", "dashboard_title", "url"))
        return {
            d["slug"]: {
                "id": d["id"],
                "title": d["dashboard_title"],
                "url": f"{self.url}/superset/dashboard/{d['slug']}/",
            }
            for d in found
            if d.get("slug") in DASHBOARD_SLUGS
        }

    def refresh_datasets(self) -> list[str]:
        """Re-read the physical datasets' columns from their tables (after a load added or changed columns).

        Not the virtual (MongoDB) ones: their columns come from the documents `SELECT *` finds, so a refresh
        while a collection is still empty would drop every declared column and break the live charts."""
        names = []
        for ds in self.list_all("dataset", ("id", "table_name", "kind")):
            if ds.get("kind") != "physical":
                continue
            try:
                self.put(f"/api/v1/dataset/{ds['id']}/refresh")
            except SupersetError as exc:
                # Superset answers 422 for a table not created yet (no load has run): its declared columns stay
                if "HTTP 422" not in str(exc):
                    raise
                log.warning("dataset %s not refreshed (its table does not exist yet?): %s", ds["table_name"], exc)
                continue
            names.append(ds["table_name"])
        return names


def provision(
    client: SupersetClient, placement: Placement, refresh: bool = True, bundle_dir: Path = BUNDLE_DIR
) -> dict[str, dict]:
    """Import the bundle (idempotent), optionally refresh dataset metadata; the dashboards found after."""
    client.import_bundle(build_bundle(placement, bundle_dir))
    if refresh:
        client.refresh_datasets()
    dashboards = client.dashboards()
    missing = set(DASHBOARD_SLUGS) - set(dashboards)
    if missing:
        raise SupersetError(f"after the import Superset has no dashboard with slug {sorted(missing)}")
    return dashboards


def wait_until_up(url: str, timeout: float) -> None:
    """Until Superset's /health answers OK (every 2 s); SupersetError after `timeout` seconds."""

    def healthy() -> bool:
        return requests.get(f"{url.rstrip('/')}/health", timeout=5).text.strip() == "OK"

    def timed_out(_state) -> None:
        raise SupersetError(f"Superset at {url} did not answer /health within {timeout:.0f}s")

    Retrying(
        retry=retry_if_exception_type(requests.RequestException) | retry_if_result(lambda ok: not ok),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(2),
        retry_error_callback=timed_out,
    )(healthy)


def main() -> int:
    """`python provision.py`: provision from USER_EVENTS_SUPERSET_URL/_USER/_PASSWORD and the placement
    variables (the Docker Superset container runs this once it is up)."""
    url = os.environ["USER_EVENTS_SUPERSET_URL"]
    wait_until_up(url, float(os.environ.get("USER_EVENTS_SUPERSET_WAIT", "300")))
    client = SupersetClient(url, os.environ["USER_EVENTS_SUPERSET_USER"], os.environ["USER_EVENTS_SUPERSET_PASSWORD"])
    for slug, dash in provision(client, Placement.from_env()).items():
        print(f"provisioned dashboard {slug}: {dash['url']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
