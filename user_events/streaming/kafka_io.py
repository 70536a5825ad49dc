"""Kafka plumbing shared by the simulator and the sinks: client settings, topics, DLQ, commits."""

from __future__ import annotations

import configparser
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from user_events.config import ConfigError, env

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 3
MONGO_SINK_GROUP = "user_events.mongo_sink"
S3_SINK_GROUP = "user_events.s3_sink"


def dlq_topic_of(topic: str) -> str:
    return f"{topic}.dlq"


def read_librdkafka_file(path: str, section: str | None = None) -> dict[str, str]:
    """librdkafka properties from an ini file: its `[default]` section, then `[section]` (e.g. consumer)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep property names as written
    if not parser.read(path):
        raise ConfigError(f"USER_EVENTS_KAFKA_CONFIG file not readable: {path}")
    props: dict[str, str] = {}
    if parser.has_section("default"):
        props.update(parser["default"])
    if section and parser.has_section(section):
        props.update(parser[section])
    return props


@dataclass(frozen=True)
class KafkaSettings:
    """Where Kafka is and how to authenticate: the contract's variables, read once."""

    bootstrap: str = "localhost:9092"
    config_file: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "KafkaSettings":
        return cls(
            bootstrap=env("USER_EVENTS_KAFKA_BOOTSTRAP") or "localhost:9092",
            config_file=env("USER_EVENTS_KAFKA_CONFIG"),
        )

    def base_config(self, role: str | None = None) -> dict[str, str]:
        """Client properties: the config file ([default] + [role]), bootstrap from the environment.

        An explicitly set USER_EVENTS_KAFKA_BOOTSTRAP wins over the file; the contract default only
        applies when the file names no servers.
        """
        props: dict[str, str] = {}
        if self.config_file:
            props.update(read_librdkafka_file(self.config_file, role))
        explicit = os.environ.get("USER_EVENTS_KAFKA_BOOTSTRAP", "").strip()
        if explicit or "bootstrap.servers" not in props:
            props["bootstrap.servers"] = explicit or self.bootstrap
        props.update(self.extra)
        return props

    def producer_config(self, overrides: Mapping | None = None) -> dict:
        cfg: dict = self.base_config("producer")
        cfg.update(overrides or {})
        return cfg

    def consumer_config(self, group_id: str, overrides: Mapping | None = None) -> dict:
        cfg: dict = self.base_config("consumer")
        cfg.update(
            {
                "group.id": group_id,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
            }
        )
        cfg.update(overrides or {})
        return cfg

    def admin(self) -> AdminClient:
        return AdminClient(self.base_config())


def ensure_topic(
    admin: AdminClient, topic: str, partitions: int = DEFAULT_PARTITIONS, replication: int = -1, timeout: float = 30
) -> bool:
    """Create the topic if it does not exist; True if it was created. Replication -1 = broker default."""
    metadata = admin.list_topics(timeout=timeout)
    if topic in metadata.topics and metadata.topics[topic].error is None:
        return False
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=replication)], operation_timeout=timeout
    )
    try:
        futures[topic].result(timeout)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
        return False
    # Metadata propagates asynchronously; wait until the partitions are visible to clients.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        md = admin.list_topics(topic, timeout=timeout).topics.get(topic)
        if md is not None and md.error is None and len(md.partitions) == partitions:
            break
        time.sleep(0.1)
    return True


def partition_count(admin_or_client, topic: str, timeout: float = 10) -> int:
    md = admin_or_client.list_topics(topic, timeout=timeout).topics.get(topic)
    if md is None or md.error is not None:
        return 0
    return len(md.partitions)


def dlq_headers(msg: Message, error: str, group: str) -> list[tuple[str, bytes]]:
    """Headers of a DLQ record: the reason and where the original came from (also a dedupe key)."""
    headers = [
        ("error", error.encode("utf-8", "replace")[:4000]),
        ("source_topic", msg.topic().encode()),
        ("source_partition", str(msg.partition()).encode()),
        ("source_offset", str(msg.offset()).encode()),
        ("sink", group.encode()),
    ]
    ts_type, ts = msg.timestamp()
    if ts_type != 0:
        headers.append(("source_timestamp_ms", str(ts).encode()))
    for k, v in msg.headers() or ():
        headers.append((f"original.{k}", v if v is not None else b""))
    return headers


class DeliveryTracker:
    """Counts delivery reports of a producer; `errors` holds the first few failure reasons."""

    def __init__(self) -> None:
        self.delivered = 0
        self.failed = 0
        self.errors: list[str] = []

    def __call__(self, err, msg) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.failed += 1
            if len(self.errors) < 10:
                self.errors.append(str(err))

    @property
    def done(self) -> int:
        return self.delivered + self.failed


def commit_offsets(consumer, offsets: Mapping[tuple[str, int], int], asynchronous: bool) -> None:
    """Commit `next offset to read` per (topic, partition). Errors are logged, not raised: an uncommitted
    offset only means redelivery, which the sinks absorb idempotently."""
    if not offsets:
        return
    tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
    try:
        result = consumer.commit(offsets=tps, asynchronous=asynchronous)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError._NO_OFFSET:
            log.warning("offset commit failed (will be redelivered): %s", exc)
        return
    if result:
        for tp in result:
            if tp.error:
                log.warning("offset commit failed for %s[%d]: %s", tp.topic, tp.partition, tp.error)


def tp_key(tps: Iterable[TopicPartition]) -> list[tuple[str, int]]:
    return [(tp.topic, tp.partition) for tp in tps]
