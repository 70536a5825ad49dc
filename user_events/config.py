"""Configuration: the one typed settings object over every `USER_EVENTS_*` variable, and where the checkout is.

`settings()` reads the environment each time it is called (a variable changed at run time, e.g. by a test or
by loading `.env.services` with python-dotenv, counts from the next call); nothing here reads it at import. An empty or blank value means unset, everywhere: the field's
default applies. A value of the wrong type is a `ConfigError` naming the variable. Secrets are `SecretStr`.
The README's configuration table lists exactly these fields (`test_config.py` keeps them in step).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVICES_ENV_FILE = PROJECT_ROOT / ".env.services"  # written by `make services-up`, read with python-dotenv
ENV_PREFIX = "USER_EVENTS_"


class ConfigError(RuntimeError):
    """A configuration problem a user fixes by changing an environment variable or an input."""


class Settings(BaseSettings):
    """Every USER_EVENTS_* variable (and the AWS ones the project reads), typed, with the defaults docs/reference.md states."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        # the process environment only (python-dotenv puts .env.services there), no .env or secrets directory
        return (init_settings, env_settings)

    # --- warehouse ---------------------------------------------------------------------------------
    pg_url: SecretStr | None = Field(
        None, description="`postgresql://user:pass@host:port/db` of the warehouse; unset: embedded PostgreSQL in .data/"
    )
    pg_schema: str = Field("public", description="schema for all tables")
    pg_bindir: str | None = Field(
        None,
        description="directory of the PostgreSQL server binaries (initdb, postgres) for the embedded or local server",
    )
    # --- batch path --------------------------------------------------------------------------------
    raw_csv: str | None = Field(
        None, description="path, directory, glob or `s3a://` URI of raw CSV file(s); unset: the generated sample"
    )
    data_dir: Path = Field(
        PROJECT_ROOT / ".data", description="local state: embedded PostgreSQL, Parquet, samples, services"
    )
    batch_dir: Path | None = Field(None, description="Parquet of the batch path; unset: `<data dir>/batch`")
    lake_dir: Path | None = Field(None, description="Parquet of the hourly loads; unset: `<data dir>/lake`")
    max_reject_rate: float = Field(0.05, ge=0.0, le=1.0, description="threshold of the blocking reject-rate checks")
    # --- Spark -------------------------------------------------------------------------------------
    spark_master: str = Field("local[*]", description="Spark master URL")
    spark_remote: str | None = Field(
        None,
        description="Spark Connect URL (`sc://host:port`); set, every session is a client of that server "
        "(USER_EVENTS_SPARK_MASTER then applies to the server); unset: Spark in process",
    )
    spark_driver_memory: str = Field("2g", description="`spark.driver.memory`")
    spark_shuffle_partitions: int = Field(8, ge=1, description="`spark.sql.shuffle.partitions`")
    spark_ui: bool = Field(False, description="`spark.ui.enabled`")
    spark_log_level: str = Field("WARN", description="the SparkContext's log level")
    # --- Kafka and the sinks -----------------------------------------------------------------------
    kafka_bootstrap: str = Field("localhost:9092", description="bootstrap servers")
    kafka_config: str | None = Field(
        None, description="optional librdkafka properties file (ini with `[default]`, e.g. Confluent Cloud SASL)"
    )
    topic: str = Field("user_activity", description="events topic")
    mongo_uri: SecretStr = Field(SecretStr("mongodb://localhost:27017"), description="MongoDB connection string")
    mongo_db: str = Field("user_events", description="MongoDB database")
    mongo_sink_group: str | None = Field(
        None,
        description="consumer group of the MongoDB sink; unset: `user_events.mongo_sink` for the topic "
        "`user_activity`, `user_events.<topic>.mongo_sink` for any other",
    )
    s3_sink_group: str | None = Field(
        None,
        description="consumer group of the S3 sink; unset: `user_events.s3_sink` for the topic `user_activity`, "
        "`user_events.<topic>.s3_sink` for any other",
    )
    sink_instance_id: str | None = Field(
        None,
        description="the sink process's `group.instance.id` (static membership); `none` = dynamic membership; "
        "unset: `<host name>.mongo` / `<host name>.s3`",
    )
    sink_sensors: str = Field(
        "running", description="`stopped` (or off/0/false): the sinks' keep-alive sensors start stopped"
    )
    fault: str | None = Field(
        None, description="test hook only: `after_dlq_write` makes a sink die between its DLQ write and the commit"
    )
    # --- S3 ----------------------------------------------------------------------------------------
    s3_endpoint: str | None = Field(None, description="endpoint URL of an S3-compatible store; unset: AWS")
    s3_bucket: str = Field("ecom-user-events", description="bucket")
    aws_region: str = Field(
        "us-east-1",
        validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"),
        description="the standard AWS region variables",
    )
    aws_secret_access_key: SecretStr | None = Field(
        None,
        validation_alias="AWS_SECRET_ACCESS_KEY",
        description="the standard AWS secret (boto3 reads it itself; the project only keeps it out of logs)",
    )
    # --- lake --------------------------------------------------------------------------------------
    hourly_start: str = Field("2019-10-01-00:00", description="first hourly partition (UTC, `YYYY-MM-DD-HH:MM`)")
    hourly_grace_seconds: float = Field(300.0, ge=0, description="the hourly sensor's grace after an hour's end")
    hourly_lookback_hours: float = Field(
        48.0, ge=0, description="how far back the hourly sensor looks for changed hours"
    )
    dagster_url: str = Field(
        "http://127.0.0.1:3000", description="the Dagster webserver `user-events backfill` talks to"
    )
    dagster_pg_url: SecretStr | None = Field(
        None,
        description="PostgreSQL of the Dagster instance for `make dev DAGSTER_STORAGE=postgres`; written by `make services-up`",
    )
    # --- operating it: checks and alerts -----------------------------------------------------------
    freshness_minutes: float = Field(
        20.0,
        ge=0,
        le=59,
        description="how long after its end a lake hour may stay unloaded before its freshness check fails "
        "(the hourly sensor's grace included)",
    )
    sink_lag_max_messages: int = Field(
        10_000, ge=0, description="the sinks' lag checks fail above this many unconsumed messages (per group)"
    )
    sink_lag_max_seconds: float = Field(
        300.0, ge=0, description="the sinks' lag checks fail when the oldest unconsumed message is older than this"
    )
    anomaly_max_change: float = Field(
        0.5,
        gt=0,
        description="the KPI anomaly checks warn when conversion rate, revenue or events change by more than this "
        "share against the same hour of the day before or of the week before",
    )
    anomaly_min_events: int = Field(
        100, ge=0, description="the KPI anomaly checks compare only periods with at least this many events"
    )
    alert_webhook_url: SecretStr | None = Field(
        None,
        description="incoming-webhook URL (Slack format: Slack, Mattermost, Teams workflows) the alert sensor "
        "posts to; unset: alerts off",
    )
    # --- dashboards --------------------------------------------------------------------------------
    superset_url: str | None = Field(None, description="base URL of the Superset that serves the dashboards")
    superset_user: str | None = Field(None, description="a Superset admin, used to provision the dashboards")
    superset_password: SecretStr | None = Field(None, description="that admin's password")
    superset_wait: float = Field(300.0, ge=0, description="seconds `provision.py` waits for Superset to answer")
    superset_reader_password: SecretStr | None = Field(
        None,
        description="the password of the role Superset reads the warehouse as (Superset's environment; the local one is generated)",
    )
    superset_public: bool = Field(
        False, description="true: anonymous viewers may read the dashboards (Superset's environment)"
    )
    superset_workers: int = Field(3, ge=1, description="the local Superset's gunicorn worker processes")
    superset_threads: int = Field(4, ge=1, description="the local Superset's threads per worker")
    superset_cache_seconds: int = Field(
        300, ge=0, description="seconds Superset keeps a warehouse chart's result (Superset's environment); 0: off"
    )
    chromium: str | None = Field(None, description="the Chromium the browser tests drive; unset: `chromium` on PATH")
    # --- local services (make services-up) ---------------------------------------------------------
    pg_port: int | None = Field(None, description="pins the local PostgreSQL's port; unset: a free port, kept")
    kafka_port: int | None = Field(None, description="pins the local Kafka broker's port; unset: a free port, kept")
    kafka_controller_port: int | None = Field(None, description="pins the local Kafka controller's port")
    mongo_port: int | None = Field(None, description="pins the local MongoDB-wire server's port")
    s3_port: int | None = Field(None, description="pins the local S3 store's port")
    superset_port: int | None = Field(None, description="pins the local Superset's port")
    spark_connect_port: int | None = Field(None, description="pins the local Spark Connect server's port")
    kafka_version: str | None = Field(
        None, description="the Kafka release the local services download; unset: the one docker/compose.yaml runs"
    )
    kafka_heap: str = Field("512m", description="the local Kafka's JVM heap")
    secantus_requirement: str = Field(
        "secantusdb==0.7.0b3", description="the MongoDB-wire server the local services install"
    )
    mongo_cache: str = Field("256M", description="the local MongoDB-wire server's cache size")

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """A value of only spaces counts as unset, like an empty one (env_ignore_empty covers "")."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @property
    def batch_path(self) -> Path:
        return self.batch_dir or self.data_dir / "batch"

    @property
    def lake_path(self) -> Path:
        return self.lake_dir or self.data_dir / "lake"

    def is_set(self, field: str) -> bool:
        """Whether the field's variable has a (non-blank) value, as opposed to its default."""
        return field in self.model_fields_set


def variable_name(field: str) -> str:
    """The environment variable a Settings field is read from (its first alias, if it has one)."""
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    if isinstance(alias, str):
        return alias
    return ENV_PREFIX + field.upper()


_SECRET_FIELDS = {name for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)}


def field_of(variable: str) -> str:
    """The Settings field read from an environment variable (the inverse of `variable_name`)."""
    for name in Settings.model_fields:
        if variable_name(name) == variable:
            return name
    raise KeyError(f"{variable} is not a setting of user_events (see the README's configuration table)")


_AWS_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SECRET_ACCESS_KEY")


def _environment_key() -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted((k, v) for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX) or k.upper() in _AWS_VARIABLES)
    )


def settings() -> Settings:
    """The settings, read from the environment now; a bad value is a ConfigError naming its variable.

    Building Settings validates every field (milliseconds); it is rebuilt only when a variable changed."""
    return _settings_for(_environment_key())


@functools.lru_cache(maxsize=8)
def _settings_for(_key: tuple[tuple[str, str], ...]) -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            name = variable_name(field) if field in Settings.model_fields else field
            shown = "***" if field in _SECRET_FIELDS else repr(err.get("input"))
            problems.append(f"{name}={shown}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
