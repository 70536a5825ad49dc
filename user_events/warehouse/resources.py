"""The `warehouse` resource: a PostgreSQL connection factory (USER_EVENTS_PG_URL, or the embedded server)."""

from __future__ import annotations

from urllib.parse import urlsplit

import dagster as dg
from pydantic import PrivateAttr

from user_events.config import ConfigError, Settings, settings, variable_name
from user_events.redaction import redact_text, redact_url
from user_events.retries import ServiceUnavailable, is_transient, retry_transient

PG_URL_VAR = variable_name("pg_url")
PG_SCHEMA_VAR = variable_name("pg_schema")


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def connection_failure_message(url: str, exc: BaseException) -> str:
    """One line naming the server (password redacted), the cause, and the variable to fix."""
    detail = " ".join(str(exc).split())
    detail = redact_text(detail, (_password(url),))
    return (
        f"cannot connect to the PostgreSQL warehouse at {redact_url(url)}: {detail[:400]} "
        f"-- check {PG_URL_VAR} (unset it to use the embedded PostgreSQL under .data/)"
    )


class WarehouseUnavailable(ConfigError, ServiceUnavailable):
    """The server refused or dropped the connection, or did not answer in time: it may be restarting."""


def connect(url: str, **kwargs):
    """A psycopg connection in UTC; a failure becomes a ConfigError with a clear, secret-free message
    (WarehouseUnavailable when the server could not be reached, which a step may retry)."""
    import psycopg

    try:
        conn = psycopg.connect(url, connect_timeout=10, **kwargs)
    except (psycopg.Error, ValueError) as exc:
        error = WarehouseUnavailable if is_transient(exc) else ConfigError
        raise error(connection_failure_message(url, exc)) from None
    conn.execute("SET TIME ZONE 'UTC'")
    if not kwargs.get("autocommit"):
        conn.commit()
    return conn


class PostgresResource(dg.ConfigurableResource):
    """Warehouse connections. `url` unset: the embedded PostgreSQL under .data/embedded-pg (started on demand)."""

    url: str | None = None
    pg_schema: str = Settings.model_fields["pg_schema"].default
    _embedded_url: str | None = PrivateAttr(default=None)

    def resolved_url(self) -> str:
        if self.url:
            return self.url
        if self._embedded_url is None:  # started (or found running) once, not on every connection
            from user_events.warehouse.embedded import EmbeddedPostgres

            self._embedded_url = EmbeddedPostgres().start()
        return self._embedded_url

    def display_url(self) -> str:
        return redact_url(self.resolved_url())

    def connect(self, **kwargs):
        """A connection; WarehouseUnavailable (for the step's retry) when the server cannot be reached."""
        try:
            return connect(self.resolved_url(), **kwargs)
        except WarehouseUnavailable:
            raise
        except ConfigError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None

    def retrying(self, context: dg.OpExecutionContext):
        """Around a step's work on the warehouse: a lost or refused connection retries the step with back-off."""
        return retry_transient(context, "PostgreSQL", self.display_url())

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # fail fast, before any Spark work, when the warehouse is unreachable or misconfigured
        try:
            conn = connect(self.resolved_url(), autocommit=True)
        except ConfigError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        conn.close()


def warehouse_resource() -> PostgresResource:
    """The resource as the code location defines it: EnvVar when the variable is set (no value in the UI)."""
    config = settings()
    return PostgresResource(
        url=dg.EnvVar(PG_URL_VAR) if config.pg_url else None,
        pg_schema=dg.EnvVar(PG_SCHEMA_VAR) if config.is_set("pg_schema") else config.pg_schema,
    )
