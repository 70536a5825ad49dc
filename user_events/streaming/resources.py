"""Dagster resources for the real-time path: Kafka (confluent-kafka) and MongoDB (pymongo).

The clients' behaviour lives in `streaming.clients` (also used by the `user-events` processes, which must
not import Dagster); these classes add Dagster's config fields. Every field left unset falls back, at use
time, to its environment variable (docs/reference.md, user_events.config): the resource works the same under
`dagster dev`, in a plain process and in tests, and no value (secrets included) is copied into run config
or Dagster metadata.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from user_events.streaming.clients import KafkaClientsMixin, MongoClientMixin


class KafkaResource(KafkaClientsMixin, dg.ConfigurableResource):
    """Kafka clients for one cluster.

    bootstrap_servers / config_file / topic default to USER_EVENTS_KAFKA_BOOTSTRAP,
    USER_EVENTS_KAFKA_CONFIG and USER_EVENTS_TOPIC.
    """

    bootstrap_servers: str | None = Field(
        default=None, description="Bootstrap servers; unset -> USER_EVENTS_KAFKA_BOOTSTRAP."
    )
    config_file: str | None = Field(
        default=None,
        description="librdkafka properties file (ini, [default] section, e.g. SASL settings); "
        "unset -> USER_EVENTS_KAFKA_CONFIG (optional).",
    )
    topic: str | None = Field(default=None, description="Events topic; unset -> USER_EVENTS_TOPIC.")


class MongoResource(MongoClientMixin, dg.ConfigurableResource):
    """A MongoDB client and database; uri / db default to USER_EVENTS_MONGO_URI / USER_EVENTS_MONGO_DB."""

    uri: str | None = Field(default=None, description="Connection string; unset -> USER_EVENTS_MONGO_URI.")
    db: str | None = Field(default=None, description="Database name; unset -> USER_EVENTS_MONGO_DB.")
    server_selection_timeout_ms: int = Field(default=10_000, description="How long to wait for the server.")

    _client: Any = PrivateAttr(default=None)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()
