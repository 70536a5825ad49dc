"""A sink's progress: lag per partition, the last store, the progress line and the `sink_status` document."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from confluent_kafka import TopicPartition

from user_events.redaction import redact_text
from user_events.streaming.collections import SINK_STATUS, status_id
from user_events.streaming.lag import partition_lag
from user_events.streaming.status import StatusWriter


class ProgressMixin:
    """Progress reports for KafkaSink, every `progress_interval` seconds and once more when it stops."""

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
            "instance_id": self.instance_label(),
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
