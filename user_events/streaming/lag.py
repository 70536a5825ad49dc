"""A sink's consumer-group lag: the arithmetic (pure functions) and reading its inputs from Kafka (no Dagster).

Lag of a partition = log end offset − the group's committed offset, or − the start of the log when the group
has committed nothing there (where the sinks' `auto.offset.reset=earliest` starts): the formula of the sinks'
own progress reports and `sink_status` documents, and of the lag checks. The age of a partition's backlog is
now − the Kafka timestamp of its first unconsumed message (the one at the committed offset); a group's age is
the oldest of them, 0 when nothing is unconsumed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, ConsumerGroupTopicPartitions, TopicPartition

from user_events.streaming.clients import KafkaClientsMixin
from user_events.streaming.kafka_io import GroupMember, group_members

# ---- the arithmetic ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionOffsets:
    """One partition as read from the broker: its log start and end, the group's committed offset (None when
    the group has none) and the Kafka timestamp (ms) of the first unconsumed message (None: nothing
    unconsumed, or it could not be read)."""

    partition: int
    log_start: int
    log_end: int
    committed: int | None
    first_unconsumed_ms: int | None = None


def first_unconsumed_offset(log_start: int, committed: int | None) -> int:
    """Where the group resumes reading: its committed offset, the start of the log when it has none (or when
    retention already deleted the committed offset's message)."""
    return log_start if committed is None else max(committed, log_start)


def partition_lag(log_start: int, log_end: int, committed: int | None) -> int:
    """Messages the group has not consumed in one partition: end − committed (end − log start when nothing
    is committed)."""
    return max(log_end - (log_start if committed is None else committed), 0)


@dataclass(frozen=True)
class GroupLag:
    """The lag figures of a group on one topic: total messages, the oldest unconsumed message's age, and the
    detail of every partition (JSON-ready)."""

    messages: int
    oldest_age_seconds: float
    partitions: tuple[dict, ...]

    @property
    def ages_unknown(self) -> tuple[int, ...]:
        """Partitions with unconsumed messages whose first timestamp could not be read."""
        return tuple(d["partition"] for d in self.partitions if d["lag"] and d["age_seconds"] is None)


def group_lag(partitions: Sequence[PartitionOffsets], now_ms: int) -> GroupLag:
    """Sum of the partitions' lag, and the age (s) of the oldest first unconsumed message (never negative:
    a producer's clock ahead of ours counts as 0)."""
    detail = []
    for p in sorted(partitions, key=lambda p: p.partition):
        lag = partition_lag(p.log_start, p.log_end, p.committed)
        age = None
        if lag and p.first_unconsumed_ms is not None:
            age = max(now_ms - p.first_unconsumed_ms, 0) / 1000
        detail.append(
            {
                "partition": p.partition,
                "log_start": p.log_start,
                "log_end": p.log_end,
                "committed": p.committed,
                "lag": lag,
                "first_unconsumed_at": _iso(p.first_unconsumed_ms) if lag else None,
                "age_seconds": age if lag else 0.0,
            }
        )
    ages = [d["age_seconds"] for d in detail if d["age_seconds"] is not None]
    return GroupLag(
        messages=sum(d["lag"] for d in detail), oldest_age_seconds=max(ages, default=0.0), partitions=tuple(detail)
    )


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class LagVerdict:
    """passed, and every reason it failed (each one is what should wake someone)."""

    passed: bool
    problems: tuple[str, ...]
    summary: str


def judge_lag(
    lag: GroupLag, members: int, ever_committed: bool, group: str, max_messages: int, max_seconds: float
) -> LagVerdict:
    """Fails when the group has no live member, more than `max_messages` unconsumed messages, or an oldest
    unconsumed message older than `max_seconds`.

    A group with no member that has never committed anything has not run here yet: it fails only once
    messages wait for it (nothing is late before the first message; a first message nobody consumes is)."""
    problems = []
    if members == 0 and (ever_committed or lag.messages):
        never = "" if ever_committed else " (it has never committed an offset: the sink has not run here)"
        problems.append(f"no live member in consumer group {group}{never}")
    if lag.messages > max_messages:
        problems.append(f"lag {lag.messages} messages > {max_messages}")
    if lag.oldest_age_seconds > max_seconds:
        problems.append(f"oldest unconsumed message {lag.oldest_age_seconds:.1f}s old > {max_seconds:g}s")
    figures = f"lag {lag.messages} messages, oldest unconsumed {lag.oldest_age_seconds:.0f}s, {members} live member(s)"
    if problems:
        return LagVerdict(False, tuple(problems), "; ".join(problems) + f" ({figures})")
    if members == 0:  # and it never committed: it has not started, and nothing waits for it
        return LagVerdict(True, (), f"group {group} has not started (no member, nothing committed) and nothing waits")
    return LagVerdict(True, (), figures)


# ---- reading it from Kafka ----------------------------------------------------------------------


@dataclass(frozen=True)
class GroupReading:
    """What the broker says about a sink's group on its topic, at `read_at_ms`."""

    group: str
    topic: str
    state: str
    members: tuple[GroupMember, ...]
    partitions: tuple[PartitionOffsets, ...]
    read_at_ms: int

    @property
    def ever_committed(self) -> bool:
        return any(p.committed is not None for p in self.partitions)


def read_group_offsets(kafka: KafkaClientsMixin, group: str, topic: str, timeout: float = 10.0) -> GroupReading:
    """The group's members (admin API), each partition's log start / end, the group's committed offsets, and
    the timestamp of the first unconsumed message of every partition with lag. Never joins or commits for the
    group: the reader only assigns partitions (under a group id of its own). Raises when Kafka does not answer."""
    admin = kafka.admin()
    state, members = group_members(admin, group, timeout)
    reader = kafka.consumer(f"{group}.lag_reader", **{"max.partition.fetch.bytes": 65536})
    try:
        numbers = _partition_numbers(reader, topic, timeout)
        committed = _committed_offsets(admin, group, topic, numbers, timeout)
        ends = {
            p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout, cached=False) for p in numbers
        }
        waiting = {
            p: first_unconsumed_offset(low, committed[p])
            for p, (low, high) in ends.items()
            if partition_lag(low, high, committed[p])
        }
        timestamps = first_message_timestamps(reader, topic, waiting, timeout)
    finally:
        reader.close()
    partitions = tuple(
        PartitionOffsets(p, low, high, committed[p], timestamps.get(p)) for p, (low, high) in sorted(ends.items())
    )
    return GroupReading(group, topic, state, tuple(members), partitions, int(time.time() * 1000))


def _partition_numbers(consumer, topic: str, timeout: float) -> list[int]:
    """The topic's partitions; none when the topic does not exist (yet)."""
    meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None:
        return []
    return sorted(meta.partitions)


def _committed_offsets(admin, group: str, topic: str, partitions: list[int], timeout: float) -> dict[int, int | None]:
    if not partitions:
        return {}
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in partitions])
    answer = admin.list_consumer_group_offsets([request], request_timeout=timeout)[group].result(timeout)
    offsets = {tp.partition: (tp.offset if tp.offset >= 0 else None) for tp in answer.topic_partitions}
    return {p: offsets.get(p) for p in partitions}


def first_message_timestamps(consumer, topic: str, offsets: dict[int, int], timeout: float) -> dict[int, int | None]:
    """partition -> Kafka timestamp (ms) of the first message at or after `offsets[partition]`; a partition
    whose message does not arrive within `timeout` (or has no timestamp) is left out."""
    if not offsets:
        return {}
    consumer.assign([TopicPartition(topic, p, o) for p, o in offsets.items()])
    found: dict[int, int | None] = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(offsets) and (left := deadline - time.monotonic()) > 0:
        msg = consumer.poll(min(left, 0.5))
        if msg is None or msg.error() is not None or msg.partition() in found:
            continue
        kind, ms = msg.timestamp()
        found[msg.partition()] = None if kind == TIMESTAMP_NOT_AVAILABLE else ms
        consumer.pause([TopicPartition(topic, msg.partition())])  # one message per partition is all we need
    return {p: ms for p, ms in found.items() if ms is not None}
