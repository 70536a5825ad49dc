"""Sink status documents (`sink_status` in MongoDB): lag per partition and the last store, off the sink's thread.

One document per sink instance, replaced at every progress report and once more (`state: "stopped"`) when
the sink stops. MongoDB is never a hard dependency here: a failed write is logged once and the sink goes
on (the S3 sink writes its status too, when USER_EVENTS_MONGO_URI reaches a server).
"""

from __future__ import annotations

import logging
import threading

from user_events.redaction import redact_text


class StatusWriter(threading.Thread):
    """Writes the latest status document handed over with `publish` (older unwritten ones are dropped)."""

    def __init__(self, collection, log: logging.Logger | logging.LoggerAdapter) -> None:
        super().__init__(name="sink_status", daemon=True)
        self.collection = collection
        self.log = log
        self._lock = threading.Lock()
        self._doc: dict | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._failing = False
        self.written = 0

    def publish(self, doc: dict) -> None:
        with self._lock:
            self._doc = doc
        self._wake.set()

    def close(self, final: dict | None = None, timeout: float = 5.0) -> None:
        """Write `final` (if given) and stop; waits at most `timeout` seconds."""
        if final is not None:
            self.publish(final)
        self._stopping.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                doc, self._doc = self._doc, None
            if doc is not None:
                self._write(doc)
            if self._stopping.is_set() and self._doc is None:
                return

    def _write(self, doc: dict) -> None:
        try:
            self.collection.replace_one({"_id": doc["_id"]}, doc, upsert=True)
            self.written += 1
            if self._failing:
                self.log.info("sink status: writing %s again", self.collection.full_name)
                self._failing = False
        except Exception as exc:
            if not self._failing:
                self.log.warning(
                    "sink status: cannot write %s (%s); going on without it",
                    self.collection.full_name,
                    redact_text(str(exc))[:200],
                )
                self._failing = True
