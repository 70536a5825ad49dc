"""Kafka plumbing shared by the simulator and the sinks: names, DLQ records, delivery reports, commits.

Clients come from `streaming.clients.KafkaClients` (`KafkaClients()` reads the variables of docs/reference.md; the
Dagster resource `KafkaResource` behaves the same)."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from user_events.config import Settings, settings

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 3
DEFAULT_TOPIC = Settings.model_fields["topic"].default
# USER_EVENTS_SINK_INSTANCE_ID set to one of these: no group.instance.id (dynamic membership)
DYNAMIC_MEMBERSHIP = ("none", "dynamic")


def sink_group(sink: str, topic: str) -> str:
    """The consumer group of a sink (`mongo`, `s3`) on `topic`: USER_EVENTS_<SINK>_SINK_GROUP when set,
    else `user_events.<sink>_sink` for the default topic (docs/reference.md) and `user_events.<topic>.<sink>_sink`
    for any other, so pipelines on one cluster never share a group (and never rebalance each other)."""
    configured = getattr(settings(), f"{sink}_sink_group", None)  # only mongo and s3 have a setting
    if configured:
        return configured
    if topic == DEFAULT_TOPIC:
        return f"user_events.{sink}_sink"
    return f"user_events.{topic}.{sink}_sink"


def default_instance_id(sink: str) -> str:
    """`<host name>.<sink>`: stable across restarts of the one sink of a kind a host runs."""
    host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "host"
    return f"{host}.{sink}"


def sink_instance_id(sink: str, from_config_file: str | None = None) -> str | None:
    """group.instance.id of this sink process (static membership), None for dynamic membership.

    USER_EVENTS_SINK_INSTANCE_ID wins (`none`/`dynamic` turn static membership off), then a
    group.instance.id in the USER_EVENTS_KAFKA_CONFIG file, then `<host name>.<sink>`."""
    configured = settings().sink_instance_id or from_config_file
    if configured and configured.strip().lower() in DYNAMIC_MEMBERSHIP:
        return None
    return configured or default_instance_id(sink)


@dataclass(frozen=True)
class GroupMember:
    """A live member of a consumer group: its instance id (member id under dynamic membership), host, and the
    partitions assigned to it."""

    member: str
    host: str
    partitions: tuple[int, ...]


def group_members(admin, group: str, timeout: float = 10.0) -> tuple[str, list[GroupMember]]:
    """(state, members) of a consumer group, from the group coordinator. A group that does not exist is
    `DEAD` with no member. Raises when Kafka does not answer."""
    desc = admin.describe_consumer_groups([group], request_timeout=timeout)[group].result(timeout)
    members = [
        GroupMember(
            member=m.group_instance_id or m.member_id,
            host=m.host,
            partitions=tuple(sorted(tp.partition for tp in (m.assignment.topic_partitions if m.assignment else []))),
        )
        for m in desc.members
    ]
    return str(getattr(desc.state, "name", desc.state)), members


def describe_group(admin, group: str, timeout: float = 10.0) -> str:
    """`member (instance id, host, partitions), ...` of a consumer group, for error messages."""
    try:
        state, members = group_members(admin, group, timeout)
    except Exception as exc:
        return f"(could not describe the group: {exc})"
    described = [f"{m.member} on {m.host} holding partitions {list(m.partitions)}" for m in members]
    return f"state {state}, members: " + ("; ".join(described) if described else "none")


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
