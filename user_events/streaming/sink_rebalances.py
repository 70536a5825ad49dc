"""Partitions assigned, revoked (flush, then commit) or lost: the sink's ownership follows the group."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, TopicPartition

from user_events.redaction import redact_text


class RebalancesMixin:
    """The consumer's rebalance callbacks for KafkaSink: `owned`, `generation` and the offsets it remembers."""

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
