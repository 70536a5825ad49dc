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
- Offsets are committed only after both writes were acknowledged.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from confluent_kafka import Message
from pymongo import ASCENDING, InsertOne, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError, ConnectionFailure, PyMongoError

from user_events.streaming.kafka_io import MONGO_SINK_GROUP
from user_events.streaming.sink_base import KafkaSink
from user_events.streaming.validate import TypedEvent, ValidationError, minute_start, parse_message

EVENTS = "events"
EVENTS_PER_MINUTE = "events_per_minute"
DUPLICATE_KEY = 11000
# Non-connection errors are retried this many times before the sink fails (a supervisor restarts it).
MAX_NON_CONNECTION_RETRIES = 5

def ensure_indexes(db: Database) -> None:
    """event_time on `events` (time-range reads), minute on `events_per_minute`. Nothing more: every
    secondary index roughly halves FerretDB's insert rate (see bench/stream.py)."""
    db[EVENTS].create_index([("event_time", ASCENDING)], name="event_time")
    db[EVENTS_PER_MINUTE].create_index([("minute", ASCENDING)], name="minute")


def kafka_timestamp(msg: Message) -> datetime | None:
    ts_type, ts = msg.timestamp()
    if ts_type == 0 or ts is None or ts < 0:
        return None
    return datetime.fromtimestamp(ts / 1000, timezone.utc)


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
    return f"{minute.strftime('%Y-%m-%dT%H:%MZ')}|{event_type}"


def price_cents(price: Decimal) -> int:
    return int((price * 100).to_integral_value())


class MongoSink(KafkaSink):
    group = MONGO_SINK_GROUP
    name = "mongo"
    consumer_overrides = {"fetch.wait.max.ms": 10}

    def __init__(self, topic: str, db: Database, dashboard_interval: float = 1.0, **kwargs) -> None:
        kwargs.setdefault("batch_size", 1000)
        kwargs.setdefault("batch_timeout", 0.005)
        kwargs.setdefault("commit_interval", dashboard_interval)
        super().__init__(topic, **kwargs)
        self.db = db
        self.dashboard_interval = dashboard_interval
        # bucket id -> partition -> {offset: price_cents} of events this sink stored first
        self._deltas: dict[str, dict[int, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
        self._bucket_meta: dict[str, tuple[datetime, str]] = {}
        self._written: dict[int, int] = {}  # partition -> next offset, events stored
        self._applied: dict[int, int] = {}  # partition -> next offset, events and dashboard stored
        self._last_dashboard = time.monotonic()
        self._failures = 0

    # ---- stores -------------------------------------------------------------------------------

    def open_stores(self) -> None:
        self.retry("create indexes", lambda: ensure_indexes(self.db))

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, ConnectionFailure):
            return True
        if isinstance(exc, PyMongoError):
            self._failures += 1
            return self._failures <= MAX_NON_CONNECTION_RETRIES
        return super().is_transient(exc)

    # ---- batches ------------------------------------------------------------------------------

    def process(self, messages: list[Message]) -> None:
        parsed: list[tuple[Message, TypedEvent]] = []
        poison: list[tuple[Message, str]] = []
        for m in messages:
            try:
                _, event = parse_message(m.value())
            except ValidationError as exc:
                poison.append((m, str(exc)))
                continue
            parsed.append((m, event))
        self.send_to_dlq(poison)
        if parsed:
            self.retry("insert events", lambda: self._insert(parsed))
            self._failures = 0
        for m in messages:
            p = m.partition()
            if m.offset() + 1 > self._written.get(p, -1):
                self._written[p] = m.offset() + 1

    def _insert(self, parsed: list[tuple[Message, TypedEvent]]) -> None:
        """Insert the batch; count in the dashboard only the events whose first storing message is ours."""
        now = datetime.now(timezone.utc)
        docs = [event_document(ev, m, now) for m, ev in parsed]
        duplicate_idx: list[int] = []
        try:
            self.db[EVENTS].bulk_write([InsertOne(d) for d in docs], ordered=False)
        except BulkWriteError as exc:
            other = [e for e in exc.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
            if other or exc.details.get("writeConcernErrors"):
                raise
            duplicate_idx = [e["index"] for e in exc.details["writeErrors"]]
        owners_of_dups: dict[str, tuple] = {}
        if duplicate_idx:
            ids = list({docs[i]["_id"] for i in duplicate_idx})
            for d in self.db[EVENTS].find({"_id": {"$in": ids}}, {"kafka_topic": 1, "kafka_partition": 1, "kafka_offset": 1}):
                owners_of_dups[d["_id"]] = (d.get("kafka_topic"), d.get("kafka_partition"), d.get("kafka_offset"))
        dup_set = set(duplicate_idx)
        for i, (m, ev) in enumerate(parsed):
            if i in dup_set and owners_of_dups.get(docs[i]["_id"]) != (m.topic(), m.partition(), m.offset()):
                self.stats.duplicates += 1
                continue  # stored earlier by another message (exact duplicate event)
            if i not in dup_set:
                self.stats.written += 1
            minute = minute_start(ev.event_time)
            bid = bucket_id(minute, ev.event_type)
            self._bucket_meta[bid] = (minute, ev.event_type)
            self._deltas[bid][m.partition()][m.offset()] = price_cents(ev.price)

    # ---- dashboard + commit -------------------------------------------------------------------

    def flush_due(self, now: float, force: bool = False) -> bool:
        if not force and now - self._last_dashboard < self.dashboard_interval:
            return False
        self._last_dashboard = now
        written = dict(self._written)
        pending = bool(self._deltas)
        if pending:
            self.retry("update events_per_minute", self._apply_dashboard)
        self._applied.update(written)
        return pending

    def flush_partitions(self, partitions: set[int], in_callback: bool) -> bool:
        self.flush_due(time.monotonic(), force=True)
        return True

    def committable(self) -> dict[int, int]:
        return dict(self._applied)

    def forget_partitions(self, partitions: set[int]) -> None:
        for bid in list(self._deltas):
            per_part = self._deltas[bid]
            for p in partitions:
                per_part.pop(p, None)
            if not per_part:
                del self._deltas[bid]
        for p in partitions:
            self._written.pop(p, None)
            self._applied.pop(p, None)

    def _apply_dashboard(self) -> None:
        """Add the pending deltas to their minute buckets, each bucket in one conditional update.

        The filter pins the bucket's `applied.<partition>` offsets as read, so a concurrent or repeated
        update cannot add the same offsets twice: a lost race shows up as a duplicate-key error of the
        upsert, and the bucket is re-read and retried.
        """
        coll = self.db[EVENTS_PER_MINUTE]
        for _attempt in range(10):
            ids = list(self._deltas)
            if not ids:
                return
            applied_now = {
                d["_id"]: d.get("applied", {}) for d in coll.find({"_id": {"$in": ids}}, {"applied": 1})
            }
            ops, op_ids = [], []
            for bid in ids:
                op = self._bucket_update(bid, applied_now.get(bid))
                if op is None:
                    del self._deltas[bid]  # everything in it was applied already (replay)
                    self._bucket_meta.pop(bid, None)
                    continue
                ops.append(op)
                op_ids.append(bid)
            if not ops:
                return
            conflicts: set[str] = set()
            try:
                coll.bulk_write(ops, ordered=False)
            except BulkWriteError as exc:
                other = [e for e in exc.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
                if other:
                    raise
                conflicts = {op_ids[e["index"]] for e in exc.details["writeErrors"]}
            for bid in op_ids:
                if bid not in conflicts:
                    del self._deltas[bid]
                    self._bucket_meta.pop(bid, None)
            if not conflicts:
                return
        raise PyMongoError(f"{EVENTS_PER_MINUTE}: could not apply bucket updates after 10 attempts (concurrent writers?)")

    def _bucket_update(self, bid: str, applied: dict | None) -> UpdateOne | None:
        applied = applied or {}
        flt: dict[str, Any] = {"_id": bid}
        new_applied: dict[str, int] = {}
        count = cents = 0
        for p, items in self._deltas[bid].items():
            key = f"p{p}"
            prev = applied.get(key)
            fresh = [(o, c) for o, c in items.items() if prev is None or o > prev]
            if not fresh:
                continue
            count += len(fresh)
            cents += sum(c for _, c in fresh)
            new_applied[f"applied.{key}"] = max(o for o, _ in fresh)
            flt[f"applied.{key}"] = prev if prev is not None else {"$exists": False}
        if count == 0:
            return None
        minute, event_type = self._bucket_meta[bid]
        return UpdateOne(
            flt,
            {
                "$inc": {"count": count, "price_cents": cents},
                "$set": {**new_applied, "minute": minute, "event_type": event_type, "updated_at": datetime.now(timezone.utc)},
            },
            upsert=True,
        )
