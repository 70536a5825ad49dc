"""Kafka -> S3 sink: hourly NDJSON objects in the Confluent S3 sink layout.

`topics/<topic>/year=YYYY/month=MM/day=DD/hour=HH/<topic>+<partition>+<start offset, 10 digits>.json`,
one line per event (the nine raw fields as received), the hour from event_time.

No record is stored twice, whatever crashes or rebalances happen:
- One buffer per (partition, hour) holds that hour's records in offset order; it is written as one
  object when it reaches `flush_records` records, when `rotate_seconds` passed since it was opened, on
  a rebalance and on shutdown. The object is named after its first offset and carries its last offset
  in its metadata (`x-amz-meta-end-offset`).
- Committed offset per partition = the first offset of the oldest buffer not yet written (or the next
  offset when nothing is buffered): everything before it is in S3.
- After a restart or a new assignment, the first record of an hour looks up the last object already
  written for that (partition, hour) (one LIST + one HEAD) and skips records at or below its end offset:
  those are in S3 already, written before the crash but after the last commit. Objects of one
  (partition, hour) are consecutive offset ranges, so that single number is enough.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from confluent_kafka import Message, TopicPartition

from user_events.storage.s3_layout import (
    END_OFFSET_META,
    MAX_EVENT_TIME_META,
    MIN_EVENT_TIME_META,
    RECORDS_META,
    hour_partition_key,
    object_key,
    partition_prefix,
    start_offset_of,
)
from user_events.storage.watermark import (
    hours_complete_before,
    parse_iso,
    partition_watermark,
    read_partition_watermark,
    read_watermark,
    write_partition_watermark,
)
from user_events.streaming.sink_base import KafkaSink
from user_events.streaming.sink_options import FLUSH_RECORDS, ROTATE_SECONDS
from user_events.streaming.validate import TypedEvent, parse_messages


def ndjson_line(raw_value: bytes, record: dict) -> bytes:
    """The record as one NDJSON line: the message bytes as received when they are one line already."""
    line = raw_value.strip()
    if b"\n" in line or b"\r" in line:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return line + b"\n"


def is_transient_s3_error(exc: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return (
            status >= 500
            or status == 429
            or code in ("SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable")
        )
    return isinstance(exc, (BotoCoreError, ConnectionError, TimeoutError, OSError))


@dataclass
class HourBuffer:
    hour: datetime
    start: int
    opened: float
    end: int = -1
    lines: list[bytes] = field(default_factory=list)
    min_time: datetime | None = None
    max_time: datetime | None = None

    def add(self, offset: int, line: bytes, t: datetime) -> None:
        self.lines.append(line)
        self.end = offset
        if self.min_time is None or t < self.min_time:
            self.min_time = t
        if self.max_time is None or t > self.max_time:
            self.max_time = t


@dataclass
class PartitionState:
    partition: int
    next_offset: int | None = None  # after the last handled message
    buffers: dict[datetime, HourBuffer] = field(default_factory=dict)
    stored_end: dict[datetime, int] = field(default_factory=dict)  # hour -> last offset in S3 (-1: none)
    max_event_time: datetime | None = None
    previous_loaded: bool = False  # max_event_time of the previous watermark object merged in
    watermark_written: float = 0.0
    watermark_offset: int | None = None

    def committable(self) -> int | None:
        if self.buffers:
            return min(b.start for b in self.buffers.values())
        return self.next_offset

    def pending(self) -> tuple[int, datetime | None]:
        n = sum(len(b.lines) for b in self.buffers.values())
        times = [b.min_time for b in self.buffers.values() if b.min_time is not None]
        return n, (min(times) if times else None)


@dataclass
class HourReport:
    objects: int = 0
    records: int = 0
    bytes: int = 0
    partitions: set[int] = field(default_factory=set)
    last_key: str = ""
    last_emitted: float = 0.0
    reported_complete: bool = False


class S3Sink(KafkaSink):
    name = "s3"

    def __init__(
        self,
        topic: str,
        s3_client,
        bucket: str,
        rotate_seconds: float = ROTATE_SECONDS,
        flush_records: int = FLUSH_RECORDS,
        watermark_interval: float = 10.0,
        report_interval: float = 60.0,
        grace: timedelta = timedelta(minutes=5),
        on_hour_written: Callable[[str, dict], None] | None = None,
        **kwargs,
    ) -> None:
        kwargs.setdefault("batch_size", 2000)
        kwargs.setdefault("batch_timeout", 0.2)
        kwargs.setdefault("commit_interval", 1.0)
        super().__init__(topic, **kwargs)
        self.s3 = s3_client
        self.bucket = bucket
        self.rotate_seconds = rotate_seconds
        self.flush_records = flush_records
        self.watermark_interval = watermark_interval
        self.report_interval = report_interval
        self.grace = grace
        self.on_hour_written = on_hour_written
        self.parts: dict[int, PartitionState] = {}
        self.reports: dict[datetime, HourReport] = {}
        self._unreported: set[datetime] = set()  # hours with objects written since their last report
        self._last_report_check = 0.0
        self._last_watermark_read = 0.0

    # ---- stores -------------------------------------------------------------------------------

    def is_transient(self, exc: BaseException) -> bool:
        return is_transient_s3_error(exc) or super().is_transient(exc)

    def open_stores(self) -> None:
        self.retry("check bucket", self._ensure_bucket)

    def _ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                self.s3.create_bucket(Bucket=self.bucket)
            else:
                raise

    def close_stores(self) -> None:
        self._report_hours(force=True)

    # ---- partitions ---------------------------------------------------------------------------

    def on_partitions_assigned(self, partitions: list[int]) -> None:
        for p in partitions:
            self.parts[p] = PartitionState(p)

    def forget_partitions(self, partitions: set[int]) -> None:
        for p in partitions:
            self.parts.pop(p, None)

    def committable(self) -> dict[int, int]:
        out = {}
        for p, st in self.parts.items():
            c = st.committable()
            if c is not None:
                out[p] = c
        return out

    # ---- batches ------------------------------------------------------------------------------

    def process(self, messages: list[Message]) -> None:
        generation = self.generation
        parsed, poison = parse_messages(messages)
        valid = [(m, event, ndjson_line(m.value(), record)) for m, record, event in parsed]
        unknown = {(m.partition(), ev.event_hour) for m, ev, _ in valid}
        unknown = {(p, h) for p, h in unknown if p in self.parts and h not in self.parts[p].stored_end}
        for p, h in sorted(unknown):
            end = self.retry("list objects", lambda p=p, h=h: self._last_stored_offset(p, h))
            if self.generation != generation:
                return  # rebalanced while waiting: the lookup may be stale; the batch is redelivered
            self.parts[p].stored_end[h] = end
            if end >= 0:
                self.log.info(
                    "s3 sink: partition %d hour %s already stored up to offset %d", p, hour_partition_key(h), end
                )
        now = time.monotonic()
        events = {id(m): (ev, line) for m, ev, line in valid}
        for m in messages:
            if self.generation != generation:
                return  # a rebalance happened while a write waited: the rest is redelivered
            st = self.parts.get(m.partition())
            if st is None:
                continue
            item = events.get(id(m))
            if item is not None:
                self._add(st, m.offset(), item[0], item[1], now)
            st.next_offset = max(st.next_offset or 0, m.offset() + 1)
        if poison and self.generation == generation:
            self._dlq_after_storing(poison, generation)

    def _dlq_after_storing(self, poison: list[tuple[Message, str]], generation: int) -> None:
        """Write the buffers of the poison messages' partitions (so their committable offset passes the poison:
        rare, so a few early objects are cheap), then DLQ + offsets in one transaction (`send_to_dlq`)."""
        for p in sorted({m.partition() for m, _ in poison}):
            st = self.parts.get(p)
            for buf in list(st.buffers.values()) if st is not None else []:
                self._write(st, buf)
        if self.generation != generation:
            return  # rebalanced while writing: the poison is redelivered to the partitions' next owner
        self.send_to_dlq([(m, e) for m, e in poison if m.partition() in self.parts])

    def _add(self, st: PartitionState, offset: int, ev: TypedEvent, line: bytes, now: float) -> None:
        hour = ev.event_hour
        if offset <= st.stored_end.get(hour, -1):
            self.stats.duplicates += 1  # already in an object written before a crash/rebalance
            return
        buf = st.buffers.get(hour)
        if buf is None:
            buf = st.buffers[hour] = HourBuffer(hour, offset, now)
        buf.add(offset, line, ev.event_time)
        if len(buf.lines) >= self.flush_records:
            self._write(st, buf)

    def _last_stored_offset(self, partition: int, hour: datetime) -> int:
        """The end offset of the last object of (partition, hour) in S3, -1 if there is none."""
        prefix = partition_prefix(self.topic, hour, partition)
        last_key, last_start = None, -1
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                start = start_offset_of(obj["Key"])
                if start > last_start:
                    last_key, last_start = obj["Key"], start
        if last_key is None:
            return -1
        meta = self.s3.head_object(Bucket=self.bucket, Key=last_key).get("Metadata", {})
        if END_OFFSET_META in meta:
            return int(meta[END_OFFSET_META])
        # Not written by this sink: assume its records are consecutive offsets (the Confluent sink's way).
        body = self.s3.get_object(Bucket=self.bucket, Key=last_key)["Body"].read()
        return last_start + max(body.count(b"\n"), 1) - 1

    def flush_due(self, now: float, force: bool = False) -> bool:
        wrote = False
        for st in list(self.parts.values()):
            for buf in list(st.buffers.values()):
                if force or now - buf.opened >= self.rotate_seconds:
                    self._write(st, buf)
                    wrote = True
        return wrote

    def flush_partitions(self, partitions: set[int]) -> bool:
        try:
            for p in partitions:
                st = self.parts.get(p)
                if st is not None:
                    for buf in list(st.buffers.values()):
                        self._write(st, buf)
        except Exception as exc:
            if self.is_transient(exc):
                return False
            raise
        return True

    def _write(self, st: PartitionState, buf: HourBuffer) -> None:
        key = object_key(self.topic, buf.hour, st.partition, buf.start)
        body = b"".join(buf.lines)
        metadata = {
            END_OFFSET_META: str(buf.end),
            RECORDS_META: str(len(buf.lines)),
            MIN_EVENT_TIME_META: buf.min_time.isoformat() if buf.min_time else "",
            MAX_EVENT_TIME_META: buf.max_time.isoformat() if buf.max_time else "",
        }

        def put() -> bool:
            if self.parts.get(st.partition) is not st:
                return False  # revoked while waiting: the next owner writes it
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, Metadata=metadata, ContentType="application/x-ndjson"
            )
            return True

        if not self.retry(f"put {key}", put):
            return
        st.stored_end[buf.hour] = buf.end
        del st.buffers[buf.hour]
        if buf.max_time is not None and (st.max_event_time is None or buf.max_time > st.max_event_time):
            st.max_event_time = buf.max_time
        self.stats.written += len(buf.lines)
        rep = self.reports.setdefault(buf.hour, HourReport())
        rep.objects += 1
        rep.records += len(buf.lines)
        rep.bytes += len(body)
        rep.partitions.add(st.partition)
        rep.last_key = key
        rep.reported_complete = False
        self._unreported.add(buf.hour)

    # ---- after each commit: watermark and hour reports ----------------------------------------

    def after_commit(self, committed: dict[int, int]) -> None:
        if self._in_callback:
            return  # no broker or S3 round trips inside a rebalance callback: the main loop catches up
        now = time.monotonic()
        for p, st in list(self.parts.items()):
            offset = committed.get(p)
            if offset == st.watermark_offset and now - st.watermark_written < self.watermark_interval:
                continue
            try:
                if self._write_watermark(st, offset):
                    st.watermark_written, st.watermark_offset = now, offset
            except Exception as exc:
                self.log.warning("s3 sink: watermark update of partition %d failed (%s)", p, exc)
        if self.reports and now - self._last_report_check >= 1.0:
            self._report_hours(force=False)

    def _write_watermark(self, st: PartitionState, committed: int | None) -> bool:
        """Write the partition's watermark object; False if its position is not known yet."""
        if self.consumer is None:
            return False
        tp = TopicPartition(self.topic, st.partition)
        if committed is None:  # nothing new since the assignment: the position is the committed offset
            committed = self.consumer.position([tp])[0].offset
            if committed < 0:
                return False  # not fetching yet
        _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
        if high is None or high < 0:
            _low, high = self.consumer.get_watermark_offsets(tp, timeout=5, cached=False)
        if not st.previous_loaded:  # keep max_event_time across restarts and owners
            previous = read_partition_watermark(self.s3, self.bucket, self.topic, st.partition)
            if previous and previous.get("max_event_time"):
                t = parse_iso(previous["max_event_time"])
                if st.max_event_time is None or t > st.max_event_time:
                    st.max_event_time = t
            st.previous_loaded = True
        n, oldest = st.pending()
        doc = partition_watermark(
            self.topic, st.partition, committed, high, n, oldest, st.max_event_time, self.partitions_total
        )
        write_partition_watermark(self.s3, self.bucket, doc)
        return True

    def _report_hours(self, force: bool) -> None:
        """Report hours whose objects were committed: at once the first time, then at most every
        `report_interval` while the hour keeps changing, and once more when the watermark passes it."""
        now = time.monotonic()
        self._last_report_check = now
        due = [
            h
            for h in self._unreported
            if force or self.reports[h].last_emitted == 0 or now - self.reports[h].last_emitted >= self.report_interval
        ]
        waiting = [h for h, r in self.reports.items() if not r.reported_complete]
        watermark_t = None
        if due or (waiting and (force or now - self._last_watermark_read >= self.report_interval)):
            self._last_watermark_read = now
            try:
                watermark_t = hours_complete_before(read_watermark(self.s3, self.bucket, self.topic), self.grace)
            except Exception as exc:
                self.log.warning("s3 sink: could not read the watermark (%s)", exc)

        def complete(h: datetime) -> bool:
            return watermark_t is not None and h + timedelta(hours=1) <= watermark_t

        for h in sorted(set(due) | {h for h in waiting if complete(h)}):
            rep = self.reports[h]
            metadata = {
                "objects": rep.objects,
                "records": rep.records,
                "bytes": rep.bytes,
                "kafka_partitions": ",".join(str(p) for p in sorted(rep.partitions)),
                "last_object": f"s3://{self.bucket}/{rep.last_key}",
                "topic": self.topic,
                "complete": complete(h),
            }
            if self.on_hour_written is not None:
                self.on_hour_written(hour_partition_key(h), metadata)
            self.log.info("s3 sink: hour %s written: %s", hour_partition_key(h), metadata)
            rep.objects = rep.records = rep.bytes = 0
            rep.partitions = set()
            rep.last_emitted = now
            rep.reported_complete = complete(h)
            self._unreported.discard(h)
        for h in [h for h, r in self.reports.items() if r.reported_complete and h not in self._unreported]:
            del self.reports[h]
