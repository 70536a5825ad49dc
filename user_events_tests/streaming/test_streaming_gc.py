"""The delay's tail (issue 11): a sink consumes with the objects that existed at its start frozen out of the
garbage collector (a full collection otherwise walked them all on the consume thread: docs/streaming.md),
and leaves the collector as it was when it stops. Real Kafka and MongoDB-wire server."""

from __future__ import annotations

import gc

from user_events_tests.streaming.support import GOOD_RECORD, encode, kafka, mongo_db, produce


def test_mongo_sink_consumes_with_startup_objects_frozen_and_unfreezes_after(pipeline):
    from user_events.streaming.mongo_sink import MongoSink

    p = pipeline
    produce(p.topic, [encode({**GOOD_RECORD, "user_session": f"s{i}", "user_id": str(i + 1)}) for i in range(5)])
    objects_before = len(gc.get_objects())  # what exists now; the sink's start adds clients on top
    seen: list[int] = []

    class Probe(MongoSink):
        def process(self, messages):
            seen.append(gc.get_freeze_count())
            super().process(messages)

    sink = Probe(p.topic, mongo_db(p.mongo_db), kafka=kafka())
    stats = sink.run(until_idle=1.0)

    assert stats.written == 5
    assert seen and min(seen) >= objects_before // 2  # the consume path ran with the start-up objects frozen
    assert gc.get_freeze_count() == 0  # and the collector is back to normal after the run
