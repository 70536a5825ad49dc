"""The `superset` resource: where the dashboards' Superset is and an admin to provision with."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from user_events.config import settings, variable_name
from user_events.dashboards.provision import SupersetClient

URL_VAR = variable_name("superset_url")
USER_VAR = variable_name("superset_user")
PASSWORD_VAR = variable_name("superset_password")
NOT_CONFIGURED = (
    f"Superset is not configured: set {URL_VAR}, {USER_VAR} and {PASSWORD_VAR} (`make services-up` writes them "
    "into .env.services; `make dev` loads them). Nothing was provisioned; the batch and streaming jobs do not need it."
)


class SupersetResource(dg.ConfigurableResource):
    """A Superset admin login. Unset fields mean "no Superset here": `client()` then fails saying so."""

    url: str | None = None
    username: str | None = None
    password: str | None = None
    mongo_uri: str | None = Field(
        default=None,
        description="MongoDB of the live dashboard, as Superset reaches it (host and port only are used); "
        "unset -> USER_EVENTS_MONGO_URI.",
    )
    mongo_db: str | None = Field(default=None, description="Its database; unset -> USER_EVENTS_MONGO_DB.")

    def configured(self) -> bool:
        return bool(self.url and self.username and self.password)

    def client(self) -> SupersetClient:
        if not self.configured():
            raise dg.Failure(description=NOT_CONFIGURED, allow_retries=False)
        return SupersetClient(self.url, self.username, self.password)

    def mongo_placement(self) -> dict[str, str]:
        """The live dashboard's MongoDB, in the variables `provision.Placement.from_env` reads."""
        config = settings()
        return {
            "USER_EVENTS_MONGO_URI": self.mongo_uri or config.mongo_uri.get_secret_value(),
            "USER_EVENTS_MONGO_DB": self.mongo_db or config.mongo_db,
        }

    def display_url(self) -> str:
        return (self.url or "").rstrip("/")


def superset_resource() -> SupersetResource:
    """As the code location defines it: EnvVar when a variable is set, so no value shows in the UI."""
    config = settings()
    return SupersetResource(
        url=config.superset_url,
        username=dg.EnvVar(USER_VAR) if config.superset_user else None,
        password=dg.EnvVar(PASSWORD_VAR) if config.superset_password else None,
    )
