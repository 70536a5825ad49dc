"""The consume loop both sinks share: batches, partition ends, the stop conditions, the final flush and close.

A sink subclass turns a batch of messages into durable writes (`process`), says per partition which
offset is safely stored (`committable`), and flushes what it buffers (`flush_due` / `flush_partitions`).
Offsets are committed only up to what is stored, so a crash at any point means redelivery, which the
sinks absorb idempotently (deterministic ids / object names). The loop's other jobs have their own modules:
commits (`sink_commits`), rebalances (`sink_rebalances`), the DLQ transaction (`sink_dlq`), retries with
backoff (`sink_retries`) and progress and status (`sink_progress`).
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, Message, Producer

from user_events.streaming.clients import KafkaClients, KafkaClientsMixin
from user_events.streaming.kafka_io import (
    DEFAULT_PARTITIONS,
    default_instance_id,
    describe_group,
    dlq_topic_of,
    sink_group,
    sink_instance_id,
)
from user_events.streaming.sink_commits import CommitsMixin
from user_events.streaming.sink_dlq import DeadLetterMixin
from user_events.streaming.sink_errors import NoAssignment, StopDuringOutage, TransientError
from user_events.streaming.sink_options import DEFAULT_ASSIGNMENT_TIMEOUT, DEFAULT_PROGRESS_SECONDS
from user_events.streaming.sink_progress import ProgressMixin
from user_events.streaming.sink_rebalances import RebalancesMixin
from user_events.streaming.sink_retries import RetriesMixin
from user_events.streaming.sink_stats import SinkStats
from user_events.streaming.status import StatusWriter
from user_events.streaming.stopping import StopFlag

log = logging.getLogger(__name__)

# Static membership makes a restart of the same instance immediate, whatever this is: the session timeout
# only decides how long the partitions of a member that never comes back (host gone, scaled down) wait.
DEFAULT_SESSION_TIMEOUT_MS = 45_000


def freeze_startup_objects() -> None:
    """Exempt everything allocated so far (imported libraries, clients) from garbage collection. A full
    collection otherwise walks all of it on the consume thread, a stall that every message arriving
    meanwhile waits out (the delay's tail). Objects created later are collected as usual; `run()`
    unfreezes when it ends."""
    gc.collect()
    gc.freeze()


class KafkaSink(ProgressMixin, CommitsMixin, RebalancesMixin, DeadLetterMixin, RetriesMixin):
    """Base class: subclass sets `name` (`mongo`, `s3`), implements process/committable/flush_*.

    The consumer group comes from `kafka_io.sink_group(name, topic)` unless given; the group.instance.id
    (static membership) from `kafka_io.sink_instance_id`.
    """

    name: str = ""
    consumer_overrides: dict = {}

    def __init__(
        self,
        topic: str,
        kafka: KafkaClientsMixin | None = None,
        batch_size: int = 500,
        batch_timeout: float = 0.1,
        commit_interval: float = 1.0,
        partitions: int = DEFAULT_PARTITIONS,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        group: str | None = None,
        instance_id: str | None = None,
        progress_interval: float = DEFAULT_PROGRESS_SECONDS,
        on_progress: Callable[[dict], None] | None = None,
        status_db=None,
    ) -> None:
        self.topic = topic
        self.dlq_topic = dlq_topic_of(topic)
        self.kafka = kafka or KafkaClients()
        self.batch_size = batch_size
        self.batch_timeout = batch_timeout
        self.commit_interval = commit_interval
        self.partitions = partitions
        self.log = logger or log
        self.group = group or sink_group(self.name, topic)
        self.instance_id = instance_id  # resolved in run() (it may come from the Kafka config file)
        self.progress_interval = progress_interval
        self.on_progress = on_progress
        self.status_db = status_db
        self._status: StatusWriter | None = None
        self._last_progress = 0.0
        self._at_end: set[int] = set()  # owned partitions whose end this process has reached
        self._unassigned_since: float | None = None
        self._known_committed: dict[int, int] = {}  # the group's committed offsets, read at assignment
        self.stats = SinkStats()
        self.partitions_total = partitions
        self.stop = StopFlag()
        self.consumer: Consumer | None = None
        self._dlq_producer: Producer | None = None
        self.owned: set[int] = set()
        self.generation = 0  # bumped by every assignment change
        self._committed: dict[int, int] = {}
        self._in_callback = False
        self._outage_exit = False
        self._last_commit = 0.0
        self.last_report: dict | None = None  # the final progress report, after the run

    # ---- to implement -------------------------------------------------------------------------

    def process(self, messages: list[Message]) -> None:
        """Store (or buffer) a batch of data messages, wrapping each store call in `self.retry`. Poison goes
        through `self.send_to_dlq` once `committable()` is past it (the DLQ write commits those offsets). Must
        leave `committable()` unchanged until the batch is stored."""
        raise NotImplementedError

    def committable(self) -> dict[int, int]:
        """partition -> next offset to read such that everything before it is stored."""
        raise NotImplementedError

    def flush_due(self, now: float, force: bool = False) -> bool:
        """Write whatever is due (buffers full or rotated); `force` writes everything. True if it wrote."""
        return False

    def flush_partitions(self, partitions: set[int]) -> bool:
        """Write everything buffered for these partitions (called from the revoke callback); False if that was
        impossible (store down)."""
        return True

    def on_partitions_assigned(self, partitions: list[int]) -> None:
        pass

    def forget_partitions(self, partitions: set[int]) -> None:
        """Drop all state of partitions this process no longer owns."""

    def after_commit(self, committed: dict[int, int]) -> None:
        pass

    def open_stores(self) -> None:
        pass

    def close_stores(self) -> None:
        pass

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, TransientError)

    # ---- loop ---------------------------------------------------------------------------------

    def run(
        self,
        until_idle: float | None = None,
        max_seconds: float | None = None,
        assignment_timeout: float = DEFAULT_ASSIGNMENT_TIMEOUT,
    ) -> SinkStats:
        """Consume until stopped (signal/flag), drained (`until_idle`) or `max_seconds` passed.

        `until_idle`: stop once every partition assigned to this process is at its end offset and no message
        came for that many seconds; time without an assignment never counts, and no assignment at all within
        `assignment_timeout` seconds raises NoAssignment (naming the group's members)."""
        self.partitions_total = self.kafka.ensure_topic(self.topic, self.partitions)
        self.kafka.ensure_topic(self.dlq_topic, 1)
        self.open_stores()
        self.consumer = self.kafka.consumer(self.group, **self._consumer_settings())
        self._open_status()
        freeze_startup_objects()
        self.consumer.subscribe(
            [self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        self.log.info(
            "%s sink: consuming %s as group %s, instance %s (until_idle=%s)",
            self.name,
            self.topic,
            self.group,
            self.instance_id or "(dynamic)",
            until_idle,
        )
        started = self._unassigned_since = time.monotonic()
        idle_since: float | None = None
        clean = False
        try:
            while not self.stop:
                messages = self._next_batch()
                now = time.monotonic()
                data = self._data_messages(messages)
                if data:
                    if self.stats.first_data is None:
                        self.stats.first_data = now
                    self.stats.consumed += len(data)
                    self.stats.batches += 1
                    self.process(data)
                    self.stats.stored()
                if self.flush_due(time.monotonic()):
                    self.stats.stored()
                if now - self._last_commit >= self.commit_interval:
                    self.commit(asynchronous=True)
                self.report_progress()
                if until_idle is not None:
                    idle_since = None if data or not self.drained() else (now if idle_since is None else idle_since)
                    if idle_since is not None and now - idle_since >= until_idle:
                        self.stop.set(f"drained, idle for {until_idle:g}s")
                    self._check_assignment(now, assignment_timeout)
                if max_seconds is not None and now - started >= max_seconds:
                    self.stop.set(f"ran {max_seconds:g}s")
            if self.flush_due(time.monotonic(), force=True):
                self.stats.stored()
            clean = True  # _close commits what is stored
        except StopDuringOutage:
            self.log.warning(
                "%s sink: stopped during a store outage; uncommitted messages will be redelivered", self.name
            )
            self._outage_exit = True
            clean = True
        finally:
            self.stats.stopped_by = self.stop.reason or ("error" if not clean else "")
            self._close(clean)
            gc.unfreeze()  # a sink run inside a longer-lived process (Dagster, tests) leaves the collector as it was
        self.log.info("%s sink: stopped (%s): %s", self.name, self.stats.stopped_by, self.stats.as_dict())
        return self.stats

    def run_as_configured(self, options) -> SinkStats:
        """`run` with the stop conditions of a `SinkOptions`: `user-events sink`'s flags or a sink job's config."""
        return self.run(
            until_idle=options.until_idle_seconds,
            max_seconds=options.max_seconds,
            assignment_timeout=options.assignment_timeout_seconds,
        )

    def _consumer_settings(self) -> dict:
        """Consumer properties of the sink: its overrides, partition-end events (for `until_idle`), static
        membership and the session timeout (a value in USER_EVENTS_KAFKA_CONFIG wins over the default)."""
        from_file = self.kafka.client_config("consumer")
        if self.instance_id is None:
            self.instance_id = sink_instance_id(self.name, from_file.get("group.instance.id"))
        settings = {**self.consumer_overrides, "enable.partition.eof": True}
        if "session.timeout.ms" not in from_file:
            settings["session.timeout.ms"] = DEFAULT_SESSION_TIMEOUT_MS
        settings["group.instance.id"] = self.instance_id
        return settings

    def instance_label(self) -> str:
        """The instance id the reports name and the DLQ producer's transactional.id carries: the static one, else
        one of this process."""
        return self.instance_id or default_instance_id(self.name) + f".pid{os.getpid()}"

    def drained(self) -> bool:
        """This process owns partitions and has reached the end of every one of them."""
        return bool(self.owned) and self.owned <= self._at_end

    def _check_assignment(self, now: float, timeout: float) -> None:
        if self.owned or self._unassigned_since is None or now - self._unassigned_since < timeout:
            return
        members = describe_group(self.kafka.admin(), self.group)
        raise NoAssignment(
            f"{self.name} sink: no partition of {self.topic} assigned to instance {self.instance_id or '(dynamic)'} "
            f"within {timeout:g}s in consumer group {self.group} ({members}); nothing was consumed, so it is not drained"
        )

    def _next_batch(self) -> list[Message]:
        """Wait up to batch_timeout for a message, then take what else is already fetched (up to
        batch_size) without waiting: a lone message goes out at once, a backlog in big batches."""
        first = self.consumer.poll(self.batch_timeout)
        if first is None:
            return []
        return [first, *self.consumer.consume(num_messages=self.batch_size - 1, timeout=0)]

    def _data_messages(self, messages: list[Message]) -> list[Message]:
        """The messages with data; partition-end events mark their partition as reached (in order, so an end
        followed by a new message in the same batch leaves the partition not at its end)."""
        data = []
        for m in messages:
            if self._note_position(m):
                data.append(m)
        return data

    def _note_position(self, m: Message) -> bool:
        """Track partition ends; True for a data message. Raises on a fatal Kafka error."""
        err = m.error()
        if err is None:
            self._at_end.discard(m.partition())
            return True
        if err.code() == KafkaError._PARTITION_EOF:
            if m.partition() in self.owned:
                self._at_end.add(m.partition())
        elif err.fatal():
            hint = ""
            if "fenced" in str(err).lower():
                hint = (
                    f" (another process joined group {self.group} as instance {self.instance_id}: give each process"
                    " of a sink its own USER_EVENTS_SINK_INSTANCE_ID)"
                )
            raise RuntimeError(f"fatal Kafka error: {err}{hint}")
        else:
            self.log.warning("%s sink: Kafka error: %s", self.name, err)
        return False

    def _close(self, clean: bool) -> None:
        final_status = None
        try:
            if self.consumer is not None:
                try:  # after an exception too: what is committable is stored, so committing it is right
                    self.commit(asynchronous=False)
                except Exception:
                    if clean:
                        raise
                final_status = self._final_status()
                self.consumer.close()
        finally:
            if self._dlq_producer is not None:
                self._dlq_producer.flush(10)
            if self._status is not None:
                self._status.close(final_status)
            self.close_stores()
