"""Event simulator: generated sessions (the batch generator's model) or a replayed CSV, published to Kafka.

One message per event: a JSON object with the nine raw field names, values as the raw text
(`event_time` as `YYYY-MM-DD HH:MM:SS UTC`, empty string for an empty field), key = user_session
(None when empty). Every delivery report is counted; failures make the run fail.
"""

from __future__ import annotations

import csv
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from user_events.schema import RAW_FIELDS
from user_events.streaming.clients import KafkaClients, KafkaClientsMixin
from user_events.streaming.kafka_io import DeliveryTracker
from user_events.streaming.simulate_config import TIME_MODES, SimulateConfig
from user_events.streaming.validate import ValidationError, parse_event_time
from user_events.validation_rules import RAW_TIME_FORMAT

EXTRA_FIELDS_KEY = "_extra_fields"  # a CSV row with too many fields keeps them here (and is rejected downstream)
# Simulated event density of an endless generated stream. In live mode times are re-stamped anyway; a
# bounded density keeps the generator's per-hour planning small whatever the publish rate.
ENDLESS_DENSITY_MAX = 1000.0

# Over clients.PRODUCER_DEFAULTS: room for large batches and a deep local queue at high publish rates
PUBLISH_SETTINGS = {
    "batch.num.messages": 10000,
    "batch.size": 1_000_000,
    "queue.buffering.max.messages": 500_000,
    "queue.buffering.max.kbytes": 262_144,
    "message.timeout.ms": 60_000,
}


class SimulationFailed(RuntimeError):
    pass


@dataclass
class SimulateResult:
    topic: str
    produced: int = 0
    delivered: int = 0
    failed: int = 0
    seconds: float = 0.0
    partitions: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.produced / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["rate"] = round(self.rate, 1)
        d["seconds"] = round(self.seconds, 3)
        return d


# ------------------------------------------------------------------------------------------------
# Sources: iterators of raw records (dict field -> text), in publication order
# ------------------------------------------------------------------------------------------------


def csv_records(path: str | Path) -> Iterator[dict]:
    """Rows of a raw CSV (header required) as dicts of text; a row with a wrong field count is kept as is
    (missing keys, or the surplus under EXTRA_FIELDS_KEY) so the sinks reject it with a reason."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != list(RAW_FIELDS):
            raise SimulationFailed(f"{path}: header is not {','.join(RAW_FIELDS)}")
        n = len(RAW_FIELDS)
        for row in reader:
            if not row:
                continue
            rec = dict(zip(RAW_FIELDS, row, strict=False))
            if len(row) > n:
                rec[EXTRA_FIELDS_KEY] = row[n:]
            yield rec


def generated_records(
    seed: int, start: datetime, count: int | None, duration: float | None, rate: float
) -> Iterator[dict]:
    """Events from the batch generator's session model, as raw text records."""
    from user_events.generator import generate_events, raw_row

    if count is not None:
        # A window sized so the simulated density equals the publish rate (times stay close to real time).
        window = count / rate if rate > 0 else max(1.0, count / 20_000)
        if duration is not None:
            window = min(window, duration) if rate > 0 else duration
        events = generate_events(
            seed=seed, start=start, duration=timedelta(seconds=max(window, 1.0)), n_events=count, diurnal=False
        )
    elif duration is not None and rate > 0:
        events = generate_events(
            seed=seed, start=start, duration=timedelta(seconds=duration), n_events=int(rate * duration), diurnal=False
        )
    else:
        density = min(rate, ENDLESS_DENSITY_MAX) if rate > 0 else ENDLESS_DENSITY_MAX
        events = generate_events(seed=seed, start=start, duration=None, rate=density, diurnal=False)
    for ev in events:
        yield dict(zip(RAW_FIELDS, raw_row(ev), strict=False))


class _LiveClock:
    """The current time in the raw format, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now_text(self) -> str:
        s = int(time.time())
        if s != self._second:
            self._second = s
            self._text = time.strftime(RAW_TIME_FORMAT, time.gmtime(s))
        return self._text


def restamp_live(records: Iterator[dict]) -> Iterator[dict]:
    """event_time := publication time (UTC, seconds); order kept, spacing set by the publish rate.
    An unparseable event_time is left as is, so a bad record stays bad."""
    clock = _LiveClock()
    for rec in records:
        try:
            parse_event_time(rec.get("event_time"))
        except ValidationError:
            yield rec
            continue
        rec["event_time"] = clock.now_text()
        yield rec


def encode_record(rec: dict) -> tuple[bytes | None, bytes]:
    """(key, value) of a record: key = user_session (None if empty), value = compact JSON."""
    session = rec.get("user_session")
    key = session.encode("utf-8") if isinstance(session, str) and session else None
    return key, json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# ------------------------------------------------------------------------------------------------
# Publishing
# ------------------------------------------------------------------------------------------------


def build_records(cfg: SimulateConfig) -> Iterator[dict]:
    if cfg.time_mode not in TIME_MODES:
        raise SimulationFailed(f"time_mode must be one of {TIME_MODES}, not {cfg.time_mode!r}")
    if cfg.from_csv:
        records: Iterator[dict] = csv_records(cfg.from_csv)
    else:
        start = cfg.start or datetime.now(UTC).replace(microsecond=0)
        records = generated_records(cfg.seed, start, cfg.count, cfg.duration, cfg.rate)
    if cfg.count is not None:
        records = itertools.islice(records, cfg.count)
    if cfg.time_mode == "live":
        records = restamp_live(records)
    return records


def publish(
    cfg: SimulateConfig,
    kafka: KafkaClientsMixin | None = None,
    progress: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> SimulateResult:
    """Publish cfg's records at cfg.rate until count/duration/end of file/should_stop(); wait for every
    delivery report. Raises nothing for delivery failures: they are counted in the result."""
    kafka = kafka or KafkaClients()
    result = SimulateResult(topic=cfg.topic)
    result.partitions = kafka.ensure_topic(cfg.topic, cfg.partitions)
    tracker = DeliveryTracker()
    producer = kafka.producer(**PUBLISH_SETTINGS)
    records = build_records(cfg)

    started = time.monotonic()
    deadline = started + cfg.duration if cfg.duration is not None else None
    next_progress = started + cfg.progress_seconds
    check_every = max(1, min(1000, int(cfg.rate / 200))) if cfg.rate > 0 else 1000
    produced = 0
    try:
        for rec in records:
            key, value = encode_record(rec)
            while True:
                try:
                    producer.produce(cfg.topic, value=value, key=key, on_delivery=tracker)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    producer.poll(0.05)
            producer.poll(0)
            produced += 1
            if produced % check_every == 0:
                now = time.monotonic()
                if cfg.rate > 0:
                    due = started + produced / cfg.rate
                    while now < due:  # poll() returns early when it served a delivery report
                        producer.poll(due - now)
                        now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                if now >= next_progress:
                    next_progress = now + cfg.progress_seconds
                    if progress:
                        progress(_progress_line(cfg.topic, produced, tracker, now - started))
                if should_stop():
                    break
    finally:
        remaining = producer.flush(max(30.0, PUBLISH_SETTINGS["message.timeout.ms"] / 1000 + 5))
        result.produced = produced
        result.seconds = time.monotonic() - started
        result.delivered = tracker.delivered
        result.failed = tracker.failed + remaining  # undelivered after flush count as failed
        result.errors = tracker.errors + ([f"{remaining} message(s) still queued after flush"] if remaining else [])
    if progress:
        progress(_progress_line(cfg.topic, produced, tracker, result.seconds, final=True))
    return result


def _progress_line(topic: str, produced: int, tracker: DeliveryTracker, seconds: float, final: bool = False) -> str:
    rate = produced / seconds if seconds > 0 else 0.0
    label = "done" if final else "running"
    return (
        f"simulate [{label}] topic={topic} produced={produced:,} delivered={tracker.delivered:,} "
        f"failed={tracker.failed:,} elapsed={seconds:.1f}s rate={rate:,.0f}/s"
    )
