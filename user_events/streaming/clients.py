"""Kafka (confluent-kafka) and MongoDB (pymongo) clients of the real-time path, without Dagster.

The sink and simulator processes build their clients from here, so they start without importing Dagster
(~5 s of imports on an idle core, several times that under load: the time a restarted sink takes to store
again). The Dagster resources in `streaming.resources` are the same classes with Dagster's config fields.
Every value left unset falls back, at use time, to its environment variable (docs/reference.md; see
user_events.config), and no value (secrets included) is copied into run config or Dagster metadata.
"""

from __future__ import annotations

import configparser
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from user_events.config import ConfigError, settings

# confluent-kafka's Python-level settings keep their underscores; every other keyword becomes a dotted
# librdkafka property (linger_ms=5 -> "linger.ms": 5).
_PYTHON_LEVEL_KEYS = {"error_cb", "throttle_cb", "stats_cb", "oauth_cb", "on_delivery", "on_commit", "logger"}

# Every producer's settings unless overridden: broker-side dedupe of retries (no duplicate from a retry),
# every in-sync replica acknowledges, a few milliseconds of batching.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "client.id": "user_events",
}


def kafka_properties(**overrides: Any) -> dict[str, Any]:
    """Keyword overrides as librdkafka properties: underscores become dots, None values are dropped."""
    props: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        props[key if key in _PYTHON_LEVEL_KEYS or "." in key else key.replace("_", ".")] = value
    return props


def read_librdkafka_config(path: str | Path, section: str | None = None) -> dict[str, str]:
    """Properties from a librdkafka config file in the seed's ini format.

    `[default]` applies to every client; `section` (`producer`, `consumer`, `admin`) adds its own
    block when present. A file without any section header is read as plain `key=value` properties.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"USER_EVENTS_KAFKA_CONFIG points to {p}, which is not a file")
    text = p.read_text()
    parser = configparser.ConfigParser(interpolation=None, default_section="__none__")
    parser.optionxform = str  # keep property names as written
    try:
        parser.read_string(text)
    except configparser.MissingSectionHeaderError:
        parser.read_string("[default]\n" + text)
    props: dict[str, str] = {}
    for name in ("default", section):
        if name and parser.has_section(name):
            props.update({k.strip(): v.strip() for k, v in parser.items(name)})
    return props


class KafkaClientsMixin:
    """Kafka clients for one cluster, from `bootstrap_servers`, `config_file` and `topic` (each unset ->
    USER_EVENTS_KAFKA_BOOTSTRAP, USER_EVENTS_KAFKA_CONFIG, USER_EVENTS_TOPIC)."""

    bootstrap_servers: str | None
    config_file: str | None
    topic: str | None

    # --- configuration -------------------------------------------------------------------------
    def bootstrap(self) -> str:
        return self.bootstrap_servers or settings().kafka_bootstrap

    def topic_name(self) -> str:
        return self.topic or settings().topic

    def client_config(self, section: str | None = None, **overrides: Any) -> dict[str, Any]:
        """The merged client settings: config file, then bootstrap servers, then overrides.

        An explicitly set bootstrap (field or USER_EVENTS_KAFKA_BOOTSTRAP) beats the file's
        bootstrap.servers; the documented default (localhost:9092) only fills in when neither has one.
        """
        conf: dict[str, Any] = {}
        config = settings()
        path = self.config_file or config.kafka_config
        if path:
            conf.update(read_librdkafka_config(path, section))
        explicit = self.bootstrap_servers or (
            config.kafka_bootstrap.strip() if config.is_set("kafka_bootstrap") else ""
        )
        if explicit or "bootstrap.servers" not in conf:
            conf["bootstrap.servers"] = explicit or self.bootstrap()
        conf.update(kafka_properties(**overrides))
        return conf

    # --- clients -------------------------------------------------------------------------------
    def producer(self, **overrides: Any):
        """A confluent_kafka.Producer with PRODUCER_DEFAULTS, then the config file's and the overrides."""
        from confluent_kafka import Producer

        conf = {**PRODUCER_DEFAULTS, **self.client_config("producer", **overrides)}
        return Producer(conf)

    def consumer(self, group_id: str, **overrides: Any):
        """A confluent_kafka.Consumer in `group_id`; starts from the earliest offset when the group has
        none, and commits only when told to (enable.auto.commit=false)."""
        from confluent_kafka import Consumer

        conf = {
            "group.id": group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "client.id": "user_events",
        }
        conf.update(self.client_config("consumer", **overrides))
        conf["group.id"] = group_id
        return Consumer(conf)

    def admin(self, **overrides: Any):
        from confluent_kafka.admin import AdminClient

        return AdminClient(self.client_config("admin", **overrides))

    def ensure_topic(
        self,
        name: str | None = None,
        partitions: int = 3,
        replication_factor: int = -1,
        config: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> int:
        """Create the topic unless it exists; returns its partition count.

        replication_factor=-1 lets the cluster's default apply (1 on the local single node, 3 on a managed
        cluster). An existing topic is left as it is, even with fewer partitions.
        """
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import NewTopic

        name = name or self.topic_name()
        admin = self.admin()
        deadline = time.monotonic() + timeout
        future = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor, config=config or {})],
            operation_timeout=timeout,
            request_timeout=timeout,
        )[name]
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        while True:  # metadata of a just-created topic may lag by a moment
            meta = admin.list_topics(topic=name, timeout=max(1.0, deadline - time.monotonic()))
            topic = meta.topics.get(name)
            if topic is not None and topic.error is None and topic.partitions:
                return len(topic.partitions)
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {name!r} has no metadata after {timeout:.0f}s")
            time.sleep(0.2)


@dataclass
class KafkaClients(KafkaClientsMixin):
    """The Kafka clients outside Dagster (the `user-events` processes)."""

    bootstrap_servers: str | None = None
    config_file: str | None = None
    topic: str | None = None


class MongoClientMixin:
    """A MongoDB client and database from `uri` / `db` (unset -> USER_EVENTS_MONGO_URI / USER_EVENTS_MONGO_DB)."""

    uri: str | None
    db: str | None
    server_selection_timeout_ms: int
    _client: Any

    def database_name(self) -> str:
        return self.db or settings().mongo_db

    def client(self):
        """One pymongo.MongoClient per resource instance (timezone-aware datetimes)."""
        if self._client is None:
            from pymongo import MongoClient

            self._client = MongoClient(
                self.uri or settings().mongo_uri.get_secret_value(),
                tz_aware=True,
                appname="user_events",
                serverSelectionTimeoutMS=self.server_selection_timeout_ms,
            )
        return self._client

    def database(self):
        return self.client()[self.database_name()]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@dataclass
class MongoClients(MongoClientMixin):
    """The MongoDB client outside Dagster (the `user-events` processes)."""

    uri: str | None = None
    db: str | None = None
    server_selection_timeout_ms: int = 10_000
    _client: Any = field(default=None, repr=False)
