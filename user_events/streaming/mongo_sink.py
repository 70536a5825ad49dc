"""Kafka -> MongoDB sink: typed documents in `events`, live per-minute counts in `events_per_minute`.

Exactly-once in effect:
- `events._id` is the event's deterministic id (schema.event_id_of). Documents are inserted with an
  unordered bulk insert; a duplicate-key error means the event is already stored (a redelivery, or an
  exact duplicate event) and the stored document is left as it is. So redelivery never duplicates.
- Each document remembers the message that first stored it (kafka_partition, kafka_offset). Only that
  message counts in `events_per_minute`, so an exact duplicate event or a redelivered message is not
  counted twice.
- `events_per_minute` buckets are updated with $inc together with a per-partition "applied up to
  offset" field in the same single-document update (compare-and-set on that field), so a message
  replayed after a crash is never added twice, whatever the batch boundaries were.
- Offsets are committed only after both writes were acknowledged. The bucket updates run in a
  background thread (`DashboardWriter`), so they never hold up the inserts (the delay path).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from confluent_kafka import Message
from pymongo import ASCENDING, InsertOne, UpdateOne, WriteConcern
from pymongo.database import Database
from pymongo.errors import BulkWriteError, ConnectionFailure, PyMongoError
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from user_events.streaming.collections import EVENTS, EVENTS_PER_MINUTE, SINK_DELAY_PER_MINUTE, minute_id
from user_events.streaming.sink_base import KafkaSink
from user_events.streaming.sink_errors import StopDuringOutage
from user_events.streaming.sink_retries import BACKOFF
from user_events.streaming.validate import TypedEvent, minute_start, parse_messages

DUPLICATE_KEY = 11000
DELAY_SINK = "mongo"


def duplicate_key_indexes(exc: BulkWriteError) -> list[int]:
    """Indexes of the operations an unordered bulk write refused as duplicate keys; re-raises `exc` when it
    failed in any other way (another write error, or a write concern error)."""
    errors = exc.details.get("writeErrors", [])
    if exc.details.get("writeConcernErrors") or any(e.get("code") != DUPLICATE_KEY for e in errors):
        raise exc
    return [e["index"] for e in errors]


# Non-connection errors are retried this many times before the sink fails (a supervisor restarts it).
MAX_NON_CONNECTION_RETRIES = 5


def ensure_indexes(db: Database) -> None:
    """event_time on `events` (time-range reads), minute on `events_per_minute`. Nothing more: each
    secondary index costs the local MongoDB-wire server (SecantusDB) a large share of its insert rate
    (see bench/stream.py)."""
    db[EVENTS].create_index([("event_time", ASCENDING)], name="event_time")
    db[EVENTS_PER_MINUTE].create_index([("minute", ASCENDING)], name="minute")


def kafka_timestamp(msg: Message) -> datetime | None:
    ts_type, ts = msg.timestamp()
    if ts_type == 0 or ts is None or ts < 0:
        return None
    return datetime.fromtimestamp(ts / 1000, UTC)


def event_document(event: TypedEvent, msg: Message, ingested_at: datetime) -> dict:
    """The `events` document of a validated message (typed fields, BSON dates, source position)."""
    return {
        "_id": event.event_id,
        "event_time": event.event_time,
        "event_type": event.event_type,
        "product_id": event.product_id,
        "category_id": event.category_id,
        "category_code": event.category_code,
        "brand": event.brand,
        "price": float(event.price),
        "user_id": event.user_id,
        "user_session": event.user_session,
        "event_hour": event.event_hour,
        "kafka_ts": kafka_timestamp(msg),
        "ingested_at": ingested_at,
        "kafka_topic": msg.topic(),
        "kafka_partition": msg.partition(),
        "kafka_offset": msg.offset(),
    }


def bucket_id(minute: datetime, event_type: str) -> str:
    return minute_id(minute, event_type)


def delay_document(minute: datetime, delays_ms, sink: str = DELAY_SINK) -> dict:
    """The `sink_delay_per_minute` fields of one minute (of ingested_at) from its delays in ms."""
    a = np.asarray(delays_ms, dtype=float)
    p50, p95 = np.percentile(a, [50, 95])
    return {
        "minute": minute,
        "sink": sink,
        "count": int(a.size),
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "max_ms": float(a.max()),
        "updated_at": datetime.now(UTC),
    }


def price_cents(price: Decimal) -> int:
    return int((price * 100).to_integral_value())


def apply_bucket_deltas(
    coll, deltas: dict[str, dict[int, dict[int, int]]], meta: dict[str, tuple[datetime, str]]
) -> None:
    """Add per-partition deltas {bucket: {partition: {offset: cents}}} to `events_per_minute`, each bucket
    in one conditional update; removes what it applied from `deltas`.

    The first attempt assumes none of the offsets is counted yet (the normal case: one round trip) and
    its filter requires `applied.p<partition>` below the first new offset. A bucket where that fails
    (a replay after a crash, or a concurrent writer) surfaces as a duplicate-key error of the upsert; it
    is then re-read and updated with only the offsets above its `applied` values, filtered on those
    values as read (compare-and-set). So no offset is ever added twice.
    """
    applied_now: dict | None = None
    for attempt in range(10):
        ids = list(deltas)
        if not ids:
            return
        if attempt > 0:
            applied_now = {d["_id"]: d.get("applied", {}) for d in coll.find({"_id": {"$in": ids}}, {"applied": 1})}
        ops, op_ids = [], []
        for bid in ids:
            applied = None if applied_now is None else applied_now.get(bid) or {}
            op = _bucket_update(bid, deltas[bid], applied, meta[bid])
            if op is None:
                del deltas[bid]  # everything in it was applied already (a replay)
                continue
            ops.append(op)
            op_ids.append(bid)
        if not ops:
            return
        conflicts: set[str] = set()
        try:
            coll.bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            conflicts = {op_ids[i] for i in duplicate_key_indexes(exc)}
        for bid in op_ids:
            if bid not in conflicts:
                del deltas[bid]
        if not conflicts:
            return
    raise PyMongoError(f"{EVENTS_PER_MINUTE}: could not apply bucket updates after 10 attempts (concurrent writers?)")


def _bucket_update(
    bid: str, per_partition: dict[int, dict[int, int]], applied: dict | None, meta: tuple[datetime, str]
):
    """The bucket's conditional upsert; `applied` None = optimistic (nothing of it counted yet)."""
    flt: dict[str, Any] = {"_id": bid}
    new_applied: dict[str, int] = {}
    count = cents = 0
    for p, items in per_partition.items():
        key = f"p{p}"
        prev = None if applied is None else applied.get(key)
        fresh = [(o, c) for o, c in items.items() if prev is None or o > prev]
        if not fresh:
            continue
        count += len(fresh)
        cents += sum(c for _, c in fresh)
        new_applied[f"applied.{key}"] = max(o for o, _ in fresh)
        if applied is None:
            flt[f"applied.{key}"] = {"$not": {"$gte": min(o for o, _ in fresh)}}
        else:
            flt[f"applied.{key}"] = prev if prev is not None else {"$exists": False}
    if count == 0:
        return None
    minute, event_type = meta
    return UpdateOne(
        flt,
        {
            "$inc": {"count": count, "price_cents": cents},
            "$set": {
                **new_applied,
                "minute": minute,
                "event_type": event_type,
                "updated_at": datetime.now(UTC),
            },
        },
        upsert=True,
    )


def _merge(into: dict, deltas: dict) -> None:
    for bid, per_partition in deltas.items():
        target = into.setdefault(bid, {})
        for p, items in per_partition.items():
            target.setdefault(p, {}).update(items)


class DashboardWriter(threading.Thread):
    """Applies `events_per_minute` deltas every `interval` seconds, off the insert path.

    The sink hands over, after each successful insert, the batch's deltas and the partitions' next
    offsets; `applied()` is what the sink may commit: offsets whose events are inserted and counted.
    Store errors are retried with backoff here (a connection error forever, others 5 times, then
    `error` is set and the sink fails).
    """

    def __init__(self, coll, interval: float, log, delay_coll=None) -> None:
        super().__init__(name="events_per_minute", daemon=True)
        self.coll = coll
        self.delay_coll = delay_coll
        self._delays: dict[datetime, list[float]] = {}  # minute of ingested_at -> delays (ms) of that minute
        self._delays_changed: set[datetime] = set()
        self._delay_error_logged = False
        self.interval = interval
        self.log = log
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._pending: dict = {}
        self._meta: dict[str, tuple[datetime, str]] = {}
        self._written: dict[int, int] = {}
        self._applied: dict[int, int] = {}
        self._added = self._done = 0  # hand-over sequence numbers, for flush()
        self._wake = threading.Event()
        self._stopping = threading.Event()

    def add(self, deltas: dict, meta: dict, written: dict[int, int]) -> None:
        with self._cond:
            _merge(self._pending, deltas)
            self._meta.update(meta)
            self._written.update(written)
            self._added += 1

    def add_delays(self, ingested_at: datetime, delays_ms: list[float]) -> None:
        """Delays (ms) of the documents one insert stored; summarised per minute in `sink_delay_per_minute`."""
        if not delays_ms or self.delay_coll is None:
            return
        minute = ingested_at.replace(second=0, microsecond=0)
        with self._cond:
            self._delays.setdefault(minute, []).extend(delays_ms)
            self._delays_changed.add(minute)

    def _write_delays(self) -> None:
        """Upsert the changed minutes' delay summaries; older minutes are dropped from memory (a restart
        starts a minute's sample again). Best effort: never fails the sink."""
        with self._cond:
            changed, self._delays_changed = self._delays_changed, set()
            samples = {m: list(self._delays[m]) for m in changed}
            newest = max(self._delays, default=None)
            for m in [m for m in self._delays if newest is not None and m < newest - timedelta(minutes=2)]:
                del self._delays[m]
        if not samples:
            return
        try:
            self.delay_coll.bulk_write(
                [
                    UpdateOne({"_id": minute_id(m, DELAY_SINK)}, {"$set": delay_document(m, d)}, upsert=True)
                    for m, d in samples.items()
                ],
                ordered=False,
            )
            self._delay_error_logged = False
        except PyMongoError as exc:
            with self._cond:
                self._delays_changed |= set(samples)
            if not self._delay_error_logged:
                self.log.warning("mongo sink: %s update failed (%s); retried next time", SINK_DELAY_PER_MINUTE, exc)
                self._delay_error_logged = True

    def applied(self) -> dict[int, int]:
        with self._cond:
            return dict(self._applied)

    def forget(self, partitions: set[int]) -> None:
        with self._cond:
            for bid in list(self._pending):
                for p in partitions:
                    self._pending[bid].pop(p, None)
                if not self._pending[bid]:
                    del self._pending[bid]
            for p in partitions:
                self._written.pop(p, None)
                self._applied.pop(p, None)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything handed over so far is applied; False on timeout."""
        with self._cond:
            target = self._added
        self._wake.set()
        with self._cond:
            ok = self._cond.wait_for(
                lambda: self._done >= target or self.error is not None or not self.is_alive(), timeout
            )
        if self.error is not None:
            raise self.error
        return ok

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self.is_alive():
            self.join(10)

    def run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            with self._cond:
                deltas, self._pending = self._pending, {}
                meta, written, seq = dict(self._meta), dict(self._written), self._added
            try:
                if deltas and not self._apply_with_retry(deltas, meta):
                    return  # stopping during an outage: nothing more is marked applied
            except BaseException as exc:
                with self._cond:
                    self.error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self._applied.update(written)
                self._done = max(self._done, seq)
                for bid in list(self._meta):
                    if bid not in self._pending:
                        del self._meta[bid]
                self._cond.notify_all()
            self._write_delays()

    def _apply_with_retry(self, deltas: dict, meta: dict) -> bool:
        """Apply the deltas, retrying with `BACKOFF`: a connection error forever, other store errors
        MAX_NON_CONNECTION_RETRIES times. False when the writer stops while waiting."""
        failures = 0

        def give_up(state: RetryCallState) -> bool:
            nonlocal failures
            if isinstance(state.outcome.exception(), ConnectionFailure):
                return False
            failures += 1
            return failures > MAX_NON_CONNECTION_RETRIES

        def log_failure(state: RetryCallState) -> None:
            exc, delay = state.outcome.exception(), state.upcoming_sleep
            self.log.warning("mongo sink: %s update failed (%s); retrying in %.1fs", EVENTS_PER_MINUTE, exc, delay)

        def wait(seconds: float) -> None:
            if self._stopping.wait(seconds):
                raise _WriterStopped

        try:
            Retrying(
                retry=retry_if_exception_type(PyMongoError),
                wait=BACKOFF,
                stop=give_up,
                before_sleep=log_failure,
                sleep=wait,
                reraise=True,
            )(apply_bucket_deltas, self.coll, deltas, meta)
        except _WriterStopped:
            return False
        return True


class _WriterStopped(Exception):
    """The dashboard writer was stopped while it waited to retry."""


class MongoSink(KafkaSink):
    name = "mongo"
    consumer_overrides = {"fetch.wait.max.ms": 10}

    def __init__(self, topic: str, db: Database, dashboard_interval: float = 1.0, **kwargs) -> None:
        kwargs.setdefault("batch_size", 1000)
        kwargs.setdefault("batch_timeout", 0.1)
        kwargs.setdefault("commit_interval", 1.0)
        kwargs.setdefault("status_db", db)
        super().__init__(topic, **kwargs)
        # Offsets are committed once MongoDB acknowledged the batch: the acknowledgement must mean on disk. With
        # the default j=false a server killed before its next journal flush lost acknowledged writes (9 of 6,000
        # events in user_events_tests/faults); j=true costs one journal sync per batch, not per event.
        db = db.with_options(write_concern=WriteConcern(j=True))
        self.db = db
        self.dashboard = DashboardWriter(db[EVENTS_PER_MINUTE], dashboard_interval, self.log, db[SINK_DELAY_PER_MINUTE])
        self._failures = 0

    # ---- stores -------------------------------------------------------------------------------

    def open_stores(self) -> None:
        self.retry("create indexes", lambda: ensure_indexes(self.db))
        self.dashboard.start()

    def close_stores(self) -> None:
        self.dashboard.stop()

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, ConnectionFailure):
            return True
        if isinstance(exc, PyMongoError):
            self._failures += 1
            return self._failures <= MAX_NON_CONNECTION_RETRIES
        return super().is_transient(exc)

    # ---- batches ------------------------------------------------------------------------------

    def process(self, messages: list[Message]) -> None:
        if self.dashboard.error is not None:
            raise self.dashboard.error
        valid, poison = parse_messages(messages)
        parsed = [(m, event) for m, _, event in valid]
        deltas: dict = {}
        meta: dict = {}
        if parsed:
            deltas, meta = self.retry("insert events", lambda: self._insert(parsed))
            self._failures = 0
        written: dict[int, int] = {}
        for m in messages:
            written[m.partition()] = max(written.get(m.partition(), 0), m.offset() + 1)
        self.dashboard.add(deltas, meta, written)
        if poison:  # rare: wait until the batch is counted, then DLQ + offsets past it in one transaction
            self.flush_due(0.0, force=True)
            self.send_to_dlq(poison)

    def _insert(self, parsed: list[tuple[Message, TypedEvent]]) -> tuple[dict, dict]:
        """Insert the batch; returns the dashboard deltas of the events whose first storing message is ours."""
        now = datetime.now(UTC)
        docs = [event_document(ev, m, now) for m, ev in parsed]
        duplicate_idx: list[int] = []
        try:
            self.db[EVENTS].bulk_write([InsertOne(d) for d in docs], ordered=False)
        except BulkWriteError as exc:
            duplicate_idx = duplicate_key_indexes(exc)
        owners_of_dups: dict[str, tuple] = {}
        if duplicate_idx:
            ids = list({docs[i]["_id"] for i in duplicate_idx})
            for d in self.db[EVENTS].find(
                {"_id": {"$in": ids}}, {"kafka_topic": 1, "kafka_partition": 1, "kafka_offset": 1}
            ):
                owners_of_dups[d["_id"]] = (d.get("kafka_topic"), d.get("kafka_partition"), d.get("kafka_offset"))
        dup_set = set(duplicate_idx)
        self.dashboard.add_delays(
            now,
            [
                (now - d["kafka_ts"]).total_seconds() * 1000
                for i, d in enumerate(docs)
                if i not in dup_set and d["kafka_ts"] is not None
            ],
        )
        deltas: dict[str, dict[int, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
        meta: dict[str, tuple[datetime, str]] = {}
        for i, (m, ev) in enumerate(parsed):
            if i in dup_set and owners_of_dups.get(docs[i]["_id"]) != (m.topic(), m.partition(), m.offset()):
                self.stats.duplicates += 1
                continue  # stored earlier by another message (exact duplicate event)
            if i not in dup_set:
                self.stats.written += 1
            minute = minute_start(ev.event_time)
            bid = bucket_id(minute, ev.event_type)
            meta[bid] = (minute, ev.event_type)
            deltas[bid][m.partition()][m.offset()] = price_cents(ev.price)
        return deltas, meta

    # ---- commit -------------------------------------------------------------------------------

    def flush_due(self, now: float, force: bool = False) -> bool:
        """The dashboard thread writes on its own schedule; `force` waits for it (a stop during an outage
        gives up after 15 s: nothing unapplied is committed, so it is redelivered)."""
        if self.dashboard.error is not None:
            raise self.dashboard.error
        if not force:
            return False
        waited = 0.0
        while not self.dashboard.flush(timeout=1.0):
            waited += 1.0
            if self.stop and waited >= 15:
                raise StopDuringOutage()
        return True

    def flush_partitions(self, partitions: set[int]) -> bool:
        return self.dashboard.flush(timeout=30.0)  # called from the revoke callback: bounded

    def committable(self) -> dict[int, int]:
        return self.dashboard.applied()

    def forget_partitions(self, partitions: set[int]) -> None:
        self.dashboard.forget(partitions)
