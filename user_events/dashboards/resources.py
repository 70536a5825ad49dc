"""The `superset` resource: where the dashboards' Superset is and an admin to provision with."""

from __future__ import annotations

import os

import dagster as dg

from user_events.config import env
from user_events.dashboards.provision import SupersetClient

URL_VAR = "USER_EVENTS_SUPERSET_URL"
USER_VAR = "USER_EVENTS_SUPERSET_USER"
PASSWORD_VAR = "USER_EVENTS_SUPERSET_PASSWORD"
NOT_CONFIGURED = (
    f"Superset is not configured: set {URL_VAR}, {USER_VAR} and {PASSWORD_VAR} (`make services-up` writes them "
    "into .env.services; `make dev` loads them). Nothing was provisioned; the batch and streaming jobs do not need it."
)


class SupersetResource(dg.ConfigurableResource):
    """A Superset admin login. Unset fields mean "no Superset here": `client()` then fails saying so."""

    url: str | None = None
    username: str | None = None
    password: str | None = None

    def configured(self) -> bool:
        return bool(self.url and self.username and self.password)

    def client(self) -> SupersetClient:
        if not self.configured():
            raise dg.Failure(description=NOT_CONFIGURED, allow_retries=False)
        return SupersetClient(self.url, self.username, self.password)

    def display_url(self) -> str:
        return (self.url or "").rstrip("/")


def _from_env(name: str):
    return dg.EnvVar(name) if (os.environ.get(name) or "").strip() else None


def superset_resource() -> SupersetResource:
    """As the code location defines it: EnvVar when a variable is set, so no value shows in the UI."""
    return SupersetResource(url=env(URL_VAR), username=_from_env(USER_VAR), password=_from_env(PASSWORD_VAR))
