"""Committing the consumer offsets up to what the sink has stored."""

from __future__ import annotations

import time

from user_events.streaming.kafka_io import commit_offsets


class CommitsMixin:
    """`commit` for KafkaSink: commits `committable()` of the owned partitions, then `after_commit`."""

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
