"""Streaming benchmark: the sinks next to the raw speed of what they are built on.

    python -m bench.stream [--events 50000] [--delay-seconds 20]

(a) raw confluent-kafka consume rate of N messages (plain consumer, no processing);
(b) raw pymongo insert_many rate of the same N typed documents (batches of 1,000, unordered) into a
    collection indexed like `events` (event_time); (b0) the same into a collection without that index;
(c) MongoDB sink throughput over the same topic (validation, DLQ check, inserts, events_per_minute, commits);
(d) S3 sink throughput over the same topic (validation, hour buffers, 1,000-record objects, watermarks);
(e) delay Kafka timestamp -> ingested_at (p50/p99) with the MongoDB sink as its own process and the
    simulator publishing 1,000 events/s;
(f) simulator publish rate: as fast as possible, and paced at 20,000 events/s for 10 s.
Sink rates are over their active window (first message to last write), not start-up or idling.
The MongoDB-wire server of `make services-up` is SecantusDB 0.7 (a Python server on WiredTiger; see
docs/services.md), not MongoDB: the absolute MongoDB rates are its rates.
Uses the services in .env.services; everything goes to a fresh topic / database / S3 prefix, removed after.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from user_events.config import PROJECT_ROOT, load_env_file

OUT = PROJECT_ROOT / "bench" / "out"


def _resources():
    from user_events.storage.s3 import S3Storage
    from user_events.streaming.resources import KafkaResource, MongoResource

    return KafkaResource(), MongoResource(), S3Storage()


def delete_topics(kafka, topics: list[str]) -> None:
    for future in kafka.admin().delete_topics(topics, operation_timeout=30).values():
        try:
            future.result(30)
        except Exception:  # noqa: BLE001 - e.g. a DLQ that was never created
            pass


def consume_raw(kafka, topic: str, n: int) -> tuple[float, list]:
    consumer = kafka.consumer(f"bench-raw-{uuid.uuid4().hex[:8]}")
    consumer.subscribe([topic])
    msgs: list = []
    first = None
    while len(msgs) < n:
        batch = consumer.consume(1000, 1.0)
        if batch and first is None:
            first = time.monotonic()
        msgs.extend(m for m in batch if m.error() is None)
    seconds = time.monotonic() - first
    consumer.close()
    return n / seconds, msgs


def insert_many_raw(db, msgs: list) -> tuple[float, float]:
    """insert_many of the sink's documents (exact duplicates removed, as a plain load would have to):
    into a collection indexed like `events` (event_time), and into one with no secondary index."""
    from user_events.streaming.mongo_sink import event_document
    from user_events.streaming.validate import parse_message

    now = datetime.now(timezone.utc)
    docs = [event_document(parse_message(m.value())[1], m, now) for m in msgs]
    docs = list({d["_id"]: d for d in docs}.values())
    rates = []
    for name, indexed in (("raw_insert_indexed", True), ("raw_insert_plain", False)):
        coll = db[name]
        if indexed:
            coll.create_index("event_time")
        t = time.monotonic()
        for i in range(0, len(docs), 1000):
            coll.insert_many(docs[i : i + 1000], ordered=False)
        rates.append(len(docs) / (time.monotonic() - t))
        coll.drop()
    return rates[0], rates[1]


def run_sink(sink) -> dict:
    stats = sink.run(until_idle=3.0)
    return {"consumed": stats.consumed, "rate": stats.consumed / stats.active_seconds, "written": stats.written}


def delay_run(kafka, mongo, seconds: float, tmp: Path) -> dict:
    """The MongoDB sink as a process, the simulator at 1,000 events/s in this one; delays from the documents."""
    from user_events.streaming.simulator import SimulateConfig, publish

    topic, dbname = f"bench_delay_{uuid.uuid4().hex[:8]}", f"bench_delay_{uuid.uuid4().hex[:8]}"
    kafka.ensure_topic(topic, 3)
    env = dict(os.environ, USER_EVENTS_TOPIC=topic, USER_EVENTS_MONGO_DB=dbname)
    log = tmp / "delay_sink.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "user_events.cli", "sink", "mongo"], env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 120
        while "assigned partitions [" not in log.read_text():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("delay sink did not start:\n" + log.read_text()[-2000:])
            time.sleep(0.2)
        result = publish(SimulateConfig(topic=topic, rate=1000, duration=seconds, time_mode="live", seed=7), kafka)
        time.sleep(3)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    db = mongo.client()[dbname]
    delays = sorted(
        (d["ingested_at"] - d["kafka_ts"]).total_seconds() * 1000 for d in db.events.find({}, {"ingested_at": 1, "kafka_ts": 1})
    )
    mongo.client().drop_database(dbname)
    delete_topics(kafka, [topic, f"{topic}.dlq"])
    q = statistics.quantiles(delays, n=100)
    return {
        "published": result.delivered,
        "rate": round(result.rate),
        "documents": len(delays),
        "p50_ms": q[49],
        "p99_ms": q[98],
        "max_ms": delays[-1],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--delay-seconds", type=float, default=20.0)
    args = ap.parse_args(argv)
    load_env_file()
    from user_events.streaming.mongo_sink import MongoSink
    from user_events.streaming.s3_sink import S3Sink
    from user_events.streaming.simulator import SimulateConfig, publish

    kafka, mongo, s3 = _resources()
    n = args.events
    run = uuid.uuid4().hex[:8]
    topic, dbname = f"bench_stream_{run}", f"bench_stream_{run}"
    tmp = OUT / f"stream_{run}"
    tmp.mkdir(parents=True, exist_ok=True)
    res: dict = {"events": n, "mongo_server": "SecantusDB 0.7 (MongoDB wire, WiredTiger)"}
    try:
        print(f"publishing {n:,} events to {topic} ...", flush=True)
        sim = publish(SimulateConfig(topic=topic, rate=0, count=n, time_mode="replay", seed=20191101,
                                     start=datetime(2019, 11, 1, tzinfo=timezone.utc)), kafka)  # fmt: skip
        res["f_simulator_max_rate"] = sim.rate
        paced_topic = f"{topic}_paced"
        paced = publish(SimulateConfig(topic=paced_topic, rate=20_000, duration=10, time_mode="live", seed=1), kafka)
        res["f_simulator_20k_paced"] = {"produced": paced.produced, "seconds": paced.seconds, "rate": paced.rate, "failed": paced.failed}
        delete_topics(kafka, [paced_topic])

        print("(a) raw consume ...", flush=True)
        res["a_raw_consume"], msgs = consume_raw(kafka, topic, n)
        print("(b) raw insert_many ...", flush=True)
        db = mongo.client()[dbname]
        res["b_raw_insert_many"], res["b0_raw_insert_many_no_index"] = insert_many_raw(db, msgs)
        del msgs
        print("(c) mongo sink ...", flush=True)
        res["c_mongo_sink"] = run_sink(MongoSink(topic, db, kafka=kafka))
        print("(d) s3 sink ...", flush=True)
        res["d_s3_sink"] = run_sink(S3Sink(topic, s3.get_client(), s3.bucket_name(), kafka=kafka))
        print(f"(e) delay at 1,000 events/s for {args.delay_seconds:g}s ...", flush=True)
        res["e_delay"] = delay_run(kafka, mongo, args.delay_seconds, tmp)
    finally:
        mongo.client().drop_database(dbname)
        delete_topics(kafka, [topic, f"{topic}.dlq"])
        client, bucket = s3.get_client(), s3.bucket_name()
        for prefix in (f"topics/{topic}/", f"_watermarks/{topic}/"):
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=bucket, Delete={"Objects": keys})

    a, b = res["a_raw_consume"], res["b_raw_insert_many"]
    c, d, e = res["c_mongo_sink"]["rate"], res["d_s3_sink"]["rate"], res["e_delay"]
    res["ratio_c_over_min_ab"] = c / min(a, b)
    res["ratio_d_over_a"] = d / a
    print()
    print(f"{'measure':48} {'value':>12}")
    print(f"{'(a) raw Kafka consume':48} {a:>10,.0f}/s")
    print(f"{'(b) raw insert_many, event_time index as events':48} {b:>10,.0f}/s")
    b0 = res["b0_raw_insert_many_no_index"]
    print(f"{'(b0) raw insert_many, no secondary index':48} {b0:>10,.0f}/s   c/min(a,b0) = {c / min(a, b0):.2f}")
    print(f"{'(c) MongoDB sink':48} {c:>10,.0f}/s   c/min(a,b) = {res['ratio_c_over_min_ab']:.2f} (goal >= 0.5)")
    print(f"{'(d) S3 sink':48} {d:>10,.0f}/s   d/a = {res['ratio_d_over_a']:.2f}")
    print(f"{'(e) delay kafka_ts -> ingested_at at 1,000/s':48} p50 {e['p50_ms']:.1f} ms, p99 {e['p99_ms']:.1f} ms, max {e['max_ms']:.0f} ms "
          f"({e['documents']:,} docs; goal p50 <= 20, p99 <= 100)")  # fmt: skip
    p = res["f_simulator_20k_paced"]
    print(f"{'(f) simulator, as fast as possible':48} {res['f_simulator_max_rate']:>10,.0f}/s")
    print(f"{'(f) simulator, paced at 20,000/s for 10 s':48} {p['rate']:>10,.0f}/s ({p['produced']:,} in {p['seconds']:.1f}s, {p['failed']} failed)")
    (OUT / "stream.json").write_text(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
