"""The consumer loop both sinks share: batches, DLQ, retries with backoff, commits, rebalances, stopping.

A sink subclass turns a batch of messages into durable writes (`process`), says per partition which
offset is safely stored (`committable`), and flushes what it buffers (`flush_due` / `flush_partitions`).
Offsets are committed only up to what is stored, so a crash at any point means redelivery, which the
sinks absorb idempotently (deterministic ids / object names).
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential

from user_events.config import settings
from user_events.redaction import redact_text
from user_events.streaming.clients import KafkaClients, KafkaClientsMixin
from user_events.streaming.collections import SINK_STATUS, status_id
from user_events.streaming.kafka_io import (
    DEFAULT_PARTITIONS,
    commit_offsets,
    default_instance_id,
    describe_group,
    dlq_headers,
    dlq_topic_of,
    sink_group,
    sink_instance_id,
)
from user_events.streaming.lag import partition_lag
from user_events.streaming.sink_options import DEFAULT_ASSIGNMENT_TIMEOUT, DEFAULT_PROGRESS_SECONDS
from user_events.streaming.status import StatusWriter
from user_events.streaming.stopping import StopFlag

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0
# The wait before each retry of a store call: 0.2 s, doubling per failure, at most MAX_BACKOFF_SECONDS.
BACKOFF = wait_exponential(multiplier=0.2, max=MAX_BACKOFF_SECONDS)
# Static membership makes a restart of the same instance immediate, whatever this is: the session timeout
# only decides how long the partitions of a member that never comes back (host gone, scaled down) wait.
DEFAULT_SESSION_TIMEOUT_MS = 45_000


class TransientError(Exception):
    """A store is unreachable or overloaded: wait and retry the same write (never skip it)."""


class StopDuringOutage(Exception):
    """Asked to stop while a store was unreachable: exit without committing what was not stored."""


def fault_point(name: str) -> None:
    """Test hook: USER_EVENTS_FAULT=<name> makes the process die here at once (exit 137, no cleanup), like a
    SIGKILL at exactly this point. Unset in production."""
    if settings().fault == name:
        os._exit(137)


def freeze_startup_objects() -> None:
    """Exempt everything allocated so far (imported libraries, clients) from garbage collection. A full
    collection otherwise walks all of it on the consume thread: measured 290 ms once in a 30 s run at
    1,000 events/s, a stall that every message arriving meanwhile waits out (the delay's tail). Objects
    created later are collected as usual; `run()` unfreezes when it ends."""
    gc.collect()
    gc.freeze()


class NoAssignment(RuntimeError):
    """`until_idle` was asked for, but the group gave this process no partition within the bound."""


@dataclass
class SinkStats:
    consumed: int = 0
    written: int = 0  # records stored by this run (Mongo: new documents; S3: records in objects)
    duplicates: int = 0  # records already stored (redelivery), not written again
    dlq: int = 0
    batches: int = 0
    commits: int = 0
    retries: int = 0
    rebalances: int = 0
    started: float = field(default_factory=time.monotonic)
    first_data: float | None = None  # when the first message arrived
    last_stored: float | None = None  # when the last batch (or final flush) was stored
    last_store_at: datetime | None = None  # the same moment, wall clock (reported in progress and status)
    stopped_by: str = ""

    def stored(self) -> None:
        self.last_stored = time.monotonic()
        self.last_store_at = datetime.now(UTC)

    @property
    def active_seconds(self) -> float:
        """From the first message to the last write: the throughput window, without start-up or idling."""
        if self.first_data is None or self.last_stored is None:
            return 0.0
        return max(self.last_stored - self.first_data, 1e-9)

    def as_dict(self) -> dict:
        seconds = time.monotonic() - self.started
        return {
            "consumed": self.consumed,
            "written": self.written,
            "duplicates": self.duplicates,
            "dlq": self.dlq,
            "batches": self.batches,
            "commits": self.commits,
            "retries": self.retries,
            "rebalances": self.rebalances,
            "seconds": round(seconds, 3),
            "active_seconds": round(self.active_seconds, 3),
            "rate": round(self.consumed / self.active_seconds, 1) if self.active_seconds > 0 else 0.0,
            "stopped_by": self.stopped_by,
        }


class KafkaSink:
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

    # ---- progress: lag per partition, last store, the sink_status document --------------------

    def _open_status(self) -> None:
        if self.status_db is None:
            return
        try:
            self._status = StatusWriter(self.status_db[SINK_STATUS], self.log)
            self._status.start()
        except Exception as exc:
            self.log.warning("%s sink: no status document (%s)", self.name, redact_text(str(exc))[:200])
            self._status = None

    def partition_lag(self) -> list[dict]:
        """Per owned partition: the end offset (broker), the committed offset (this process's last commit, or
        the group's at assignment; None when the group has none) and lag = end − committed (end − start of the
        log when nothing is committed)."""
        out = []
        for p in sorted(self.owned):
            low, high = self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=5, cached=False)
            committed = self._committed.get(p, self._known_committed.get(p))
            committed = committed if committed is not None and committed >= 0 else None
            out.append(
                {
                    "partition": p,
                    "end_offset": high,
                    "committed": committed,
                    "lag": partition_lag(low, high, committed),
                }
            )
        return out

    def progress(self, state: str = "running") -> dict:
        """What a progress report says: counts, lag per partition and in total, the last store."""
        partitions = self.partition_lag() if self.consumer is not None else []
        s = self.stats
        return {
            "sink": self.name,
            "topic": self.topic,
            "group": self.group,
            "instance_id": self.instance_id or default_instance_id(self.name) + f".pid{os.getpid()}",
            "partitions": partitions,
            "lag": sum(d["lag"] for d in partitions),
            "last_store_at": s.last_store_at,
            "consumed": s.consumed,
            "written": s.written,
            "duplicates": s.duplicates,
            "dlq": s.dlq,
            "state": state,
        }

    def report_progress(self, force: bool = False) -> None:
        """Every `progress_interval` seconds: a progress line, the status document, the `on_progress` hook."""
        now = time.monotonic()
        if self.consumer is None or (not force and now - self._last_progress < self.progress_interval):
            return
        self._last_progress = now
        try:
            report = self.progress()
        except Exception as exc:
            self.log.warning("%s sink: progress report failed (%s)", self.name, exc)
            return
        self._publish(report)

    def _publish(self, report: dict) -> None:
        lag = " ".join(f"p{d['partition']}={d['lag']}" for d in report["partitions"])
        last = report["last_store_at"].isoformat(timespec="seconds") if report["last_store_at"] else "never"
        self.log.info(
            "%s sink: progress: consumed=%d written=%d duplicates=%d dlq=%d lag=%d (%s) last_store_at=%s",
            self.name,
            report["consumed"],
            report["written"],
            report["duplicates"],
            report["dlq"],
            report["lag"],
            lag or "no partitions",
            last,
        )
        if self._status is not None:
            self._status.publish(self.status_document(report))
        if self.on_progress is not None:
            self.on_progress(report)

    def status_document(self, report: dict) -> dict:
        """The `sink_status` document of a progress report (layout in docs/streaming.md)."""
        return {
            "_id": status_id(report["group"], report["instance_id"]),
            **{
                k: report[k]
                for k in ("sink", "topic", "group", "instance_id", "partitions", "lag", "last_store_at", "state")
            },
            "counts": {k: report[k] for k in ("consumed", "written", "duplicates", "dlq")},
            "updated_at": datetime.now(UTC),
        }

    def _final_status(self) -> dict | None:
        """The last report (state stopped), after the final commit; also logged and handed to `on_progress`."""
        try:
            report = self.progress(state="stopped")
        except Exception as exc:
            self.log.warning("%s sink: final progress report failed (%s)", self.name, exc)
            return None
        self.last_report = report
        lag = " ".join(f"p{d['partition']}={d['lag']}" for d in report["partitions"])
        self.log.info(
            "%s sink: final lag=%d (%s) after the last commit", self.name, report["lag"], lag or "no partitions"
        )
        if self.on_progress is not None:
            self.on_progress(report)
        return self.status_document(report) if self._status is not None else None

    # ---- commits ------------------------------------------------------------------------------

    def commit(self, asynchronous: bool) -> None:
        self._last_commit = time.monotonic()
        if self.consumer is None:
            return
        wanted = {p: o for p, o in self.committable().items() if p in self.owned}
        # async commits may fail silently (logged): a synchronous commit always sends everything
        changed = {p: o for p, o in wanted.items() if not asynchronous or self._committed.get(p) != o}
        if changed:
            commit_offsets(self.consumer, {(self.topic, p): o for p, o in changed.items()}, asynchronous)
            self._committed.update(changed)
            self.stats.commits += 1
        self.after_commit(dict(self._committed))

    # ---- rebalances ---------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        parts = [tp.partition for tp in partitions]
        self.generation += 1
        self.stats.rebalances += 1
        self.owned.update(parts)
        if self.owned:
            self._unassigned_since = None
        for p in parts:
            self._committed.pop(p, None)
            self._at_end.discard(p)
        self.log.info("%s sink: assigned partitions %s", self.name, sorted(parts))
        self._read_committed(partitions)
        self.on_partitions_assigned(parts)

    def _read_committed(self, partitions: list[TopicPartition]) -> None:
        """Remember the group's committed offsets of new partitions (the lag of a partition this process has
        not committed yet)."""
        try:
            for tp in self.consumer.committed(
                [TopicPartition(self.topic, tp.partition) for tp in partitions], timeout=10
            ):
                self._known_committed[tp.partition] = tp.offset
        except Exception as exc:
            self.log.warning("%s sink: could not read committed offsets (%s)", self.name, exc)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        parts = {tp.partition for tp in partitions}
        self.log.info("%s sink: partitions %s revoked: flushing and committing", self.name, sorted(parts))
        self._in_callback = True
        try:
            if self._outage_exit:
                pass  # stopping during an outage: nothing more can be stored; the next owner re-reads
            elif self.flush_partitions(parts):
                self.commit(asynchronous=False)
            else:
                self.log.warning(
                    "%s sink: could not flush %s before revoke; the next owner re-reads them", self.name, sorted(parts)
                )
        except Exception as exc:
            self.log.warning(
                "%s sink: flush on revoke failed (%s); the next owner re-reads", self.name, redact_text(str(exc))
            )
        finally:
            self._in_callback = False
            self._drop_partitions(parts)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        parts = {tp.partition for tp in partitions}
        self.log.warning("%s sink: partitions %s lost (not committing)", self.name, sorted(parts))
        self._drop_partitions(parts)

    def _drop_partitions(self, parts: set[int]) -> None:
        self.generation += 1
        self.forget_partitions(parts)
        self.owned.difference_update(parts)
        if not self.owned and self._unassigned_since is None:
            self._unassigned_since = time.monotonic()
        for p in parts:
            self._committed.pop(p, None)
            self._known_committed.pop(p, None)
            self._at_end.discard(p)

    # ---- DLQ ----------------------------------------------------------------------------------

    @property
    def dlq_producer(self) -> Producer:
        """A transactional producer, `transactional.id` = `<group>|<instance id>.dlq`: stable per sink instance, so
        a restarted instance fences its dead predecessor and aborts the transaction it left open."""
        if self._dlq_producer is None:
            tid = f"{self.group}|{self.instance_id or default_instance_id(self.name) + f'.pid{os.getpid()}'}.dlq"
            producer = self.kafka.producer(
                **{
                    "transactional.id": tid,
                    "linger.ms": 0,
                    "message.timeout.ms": 30000,
                    "transaction.timeout.ms": 60000,
                }
            )
            self.retry("DLQ init_transactions", lambda: self._kafka_call(lambda: producer.init_transactions(30)))
            self._dlq_producer = producer
        return self._dlq_producer

    @staticmethod
    def _kafka_call(fn: Callable[[], object]):
        try:
            return fn()
        except KafkaException as exc:
            if exc.args[0].fatal():
                raise
            raise TransientError(str(exc)) from exc

    def send_to_dlq(self, poison: list[tuple[Message, str]]) -> None:
        """Produce each (message, error) to the DLQ **and** commit the consumer offsets in one Kafka transaction
        (`send_offsets_to_transaction`), so a poison message is in the DLQ exactly once for read_committed
        readers, whatever crash happens between the two.

        The caller has stored everything before these messages first (`committable()` covers each poison
        message's partition up to past it), and the offsets committed are `committable()`. A failed attempt is
        aborted and retried whole with backoff; a crash leaves an open transaction that the restarted instance
        (same transactional.id) aborts, or the broker after transaction.timeout.ms."""
        if not poison:
            return
        offsets = {p: o for p, o in self.committable().items() if p in self.owned}
        late = [(m.partition(), m.offset()) for m, _ in poison if offsets.get(m.partition(), -1) <= m.offset()]
        if late:
            raise RuntimeError(f"DLQ transaction before its messages were stored: {late[:3]} not below {offsets}")

        def attempt() -> None:
            producer = self.dlq_producer
            try:
                producer.begin_transaction()
                for m, error in poison:
                    producer.produce(
                        self.dlq_topic, value=m.value(), key=m.key(), headers=dlq_headers(m, error, self.group)
                    )
                producer.flush(40)
                fault_point("after_dlq_write")
                tps = [TopicPartition(self.topic, p, o) for p, o in sorted(offsets.items())]
                producer.send_offsets_to_transaction(tps, self.consumer.consumer_group_metadata(), 30)
                producer.commit_transaction(30)
            except KafkaException as exc:
                if exc.args[0].fatal():
                    raise
                try:
                    producer.abort_transaction(30)
                except KafkaException:
                    pass
                raise TransientError(f"DLQ transaction failed: {exc}") from exc

        self.retry("DLQ transaction", attempt)
        self._committed.update(offsets)
        self.stats.dlq += len(poison)
        self.stats.commits += 1
        for m, error in poison[:5]:
            self.log.warning(
                "%s sink: poison message %s[%d]@%d -> %s: %s",
                self.name,
                m.topic(),
                m.partition(),
                m.offset(),
                self.dlq_topic,
                error,
            )

    # ---- retries ------------------------------------------------------------------------------

    def retry(self, what: str, fn: Callable[[], object]):
        """Run fn until it succeeds; on a transient store error wait with exponential backoff (`BACKOFF`).

        While waiting the assigned partitions are paused and the consumer keeps polling, so the
        process stays in its group (max.poll.interval) without taking more messages. Inside a
        rebalance callback it only sleeps, for at most ~30 s, then gives up (the next owner re-reads).
        """
        paused: list[TopicPartition] = []

        def log_failure(state: RetryCallState) -> None:
            self.stats.retries += 1
            self.log.warning(
                "%s sink: %s failed (%s); retrying in %.1fs",
                self.name,
                what,
                redact_text(str(state.outcome.exception()))[:300],
                BACKOFF(state),
            )

        def give_up(state: RetryCallState) -> bool:
            if self._in_callback:
                return state.idle_for > 30
            return bool(self.stop) and state.idle_for > 5

        def raise_last(state: RetryCallState):
            exc = state.outcome.exception()
            if self._in_callback:
                raise exc
            raise StopDuringOutage() from exc

        def wait(seconds: float) -> None:
            nonlocal paused
            if self._in_callback:
                time.sleep(seconds)
            else:
                paused = self._pause_all(paused)
                self._wait_polling(seconds)

        try:
            return Retrying(
                retry=retry_if_exception(self.is_transient),
                wait=BACKOFF,
                stop=give_up,
                after=log_failure,
                retry_error_callback=raise_last,
                sleep=wait,
            )(fn)
        finally:
            if paused and self.consumer is not None:
                current = self.consumer.assignment()
                if current:
                    self.consumer.resume(current)

    def _pause_all(self, paused: list[TopicPartition]) -> list[TopicPartition]:
        assignment = self.consumer.assignment() if self.consumer is not None else []
        if assignment:
            self.consumer.pause(assignment)
        return assignment or paused

    def _wait_polling(self, seconds: float) -> None:
        """Sleep `seconds` while serving the consumer; a message that still arrives is put back."""
        if self.consumer is None:  # not consuming yet (opening the stores)
            time.sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.report_progress()  # lag keeps growing visibly while a store is down
            msg = self.consumer.poll(min(left, 0.5))
            if msg is not None and self._note_position(msg):
                tp = TopicPartition(msg.topic(), msg.partition(), msg.offset())
                self.consumer.seek(tp)
                self.consumer.pause([TopicPartition(msg.topic(), msg.partition())])
