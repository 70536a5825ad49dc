"""A sink run's counters and timings: what `run()` returns and the command prints."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime


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
