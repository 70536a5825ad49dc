"""Kafka plumbing shared by the simulator and the sinks: names, DLQ records, delivery reports, commits.

Clients come from `streaming.resources.KafkaResource` (also used outside Dagster: `KafkaResource()` reads
the contract variables)."""

from __future__ import annotations

import logging
from typing import Mapping

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 3
MONGO_SINK_GROUP = "user_events.mongo_sink"
S3_SINK_GROUP = "user_events.s3_sink"


def dlq_topic_of(topic: str) -> str:
    return f"{topic}.dlq"


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

