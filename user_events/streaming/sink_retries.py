"""Retrying a store call with backoff while the consumer stays in its group (partitions paused, polling on)."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import TopicPartition
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential

from user_events.redaction import redact_text
from user_events.streaming.sink_errors import StopDuringOutage

MAX_BACKOFF_SECONDS = 30.0
# The wait before each retry of a store call: 0.2 s, doubling per failure, at most MAX_BACKOFF_SECONDS.
BACKOFF = wait_exponential(multiplier=0.2, max=MAX_BACKOFF_SECONDS)


class RetriesMixin:
    """`retry` for KafkaSink: uses its consumer, stop flag, stats, `is_transient` and `report_progress`."""

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
