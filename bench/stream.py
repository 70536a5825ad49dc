"""Streaming benchmark: the sinks next to the raw speed of what they are built on.

    python -m bench.stream [--events 50000] [--delay-seconds 20]

(a) raw confluent-kafka consume rate of N messages (plain consumer, no processing);
(b) raw pymongo insert_many rate of the same N typed documents (batches of 1,000, unordered) into a
    collection indexed like `events` (event_time); (b0) the same into a collection without that index;
(c) MongoDB sink throughput over the same topic (validation, DLQ check, inserts, events_per_minute, commits);
(d) S3 sink throughput over the same topic (validation, hour buffers, 1,000-record objects, watermarks);
(e) delay Kafka timestamp -> ingested_at (p50/p99) with the MongoDB sink as its own process and the
    simulator publishing 1,000 events/s, and the longest times without a store and without a Kafka timestamp
    (where a tail comes from);
(f) simulator publish rate: as fast as possible, and paced at 20,000 events/s for 10 s;
(g) with --peer (or --peer-only): the official baseline, Kafka Connect standalone + the MongoDB sink connector
    (bench/kafka_connect.py), next to our MongoDB sink as a process, in one run: throughput over the same
    --events messages, peak RSS, delay at 1,000 events/s, launch -> partitions assigned, SIGKILL -> restarted
    process storing again; ratios ours/peer against the goals. Both are timed by the write times they store
    (ours: ingested_at; the connector: _insertedTS/_modifiedTS of its UpdateOneBusinessKeyTimestampStrategy);
    MongoDB is only counted once a second to see when a phase is done.
Sink rates are over their active window (first message to last write), not start-up or idling.
The MongoDB-wire server of `make services-up` is SecantusDB 0.7 (a Python server on WiredTiger; see
docs/services.md), not MongoDB: the absolute MongoDB rates are its rates.
Uses the services in .env.services; everything goes to a fresh topic / database / S3 prefix, removed after.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from dotenv import load_dotenv

from bench.processes import LoggedProcess
from user_events.config import PROJECT_ROOT, SERVICES_ENV_FILE, settings

OUT = PROJECT_ROOT / "bench" / "out"


def _resources():
    from user_events.storage.s3 import S3Storage
    from user_events.streaming.resources import KafkaResource, MongoResource

    return KafkaResource(), MongoResource(), S3Storage()


def delete_topics(kafka, topics: list[str]) -> None:
    for future in kafka.admin().delete_topics(topics, operation_timeout=30).values():
        try:
            future.result(30)
        except Exception:
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

    now = datetime.now(UTC)
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
        [sys.executable, "-m", "user_events.cli", "sink", "mongo"],
        env=env,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
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
    docs = list(db.events.find({}, {"ingested_at": 1, "kafka_ts": 1}))
    delays = sorted((d["ingested_at"] - d["kafka_ts"]).total_seconds() * 1000 for d in docs)
    mongo.client().drop_database(dbname)
    delete_topics(kafka, [topic, f"{topic}.dlq"])
    return {
        "published": result.delivered,
        "rate": round(result.rate),
        "documents": len(delays),
        **percentiles(delays),
        "store_gap_ms": largest_gap_ms(d["ingested_at"] for d in docs),
        "stamp_gap_ms": largest_gap_ms(d["kafka_ts"] for d in docs),
    }


def largest_gap_ms(times) -> float:
    """The longest time between two successive distinct values. Over the documents' ingested_at: the longest
    the sink stored nothing (its loop waiting on an insert, or not scheduled); over kafka_ts: the longest the
    producer stamped nothing (at 1,000/s, ~1 ms normally). A delay tail with a store gap of its size and no
    stamp gap is the sink's side (sink, MongoDB server), not the producer's or the broker's intake."""
    ordered = sorted(set(times))
    return max(((b - a).total_seconds() * 1000 for a, b in itertools.pairwise(ordered)), default=0.0)


# ---- (g) the official connector as the baseline -------------------------------------------------

COUNT_POLL_SECONDS = 1.0  # only to see when a sink is done: counting is slow on the MongoDB-wire server under load
RECOVERY_WARMUP_SECONDS = 5.0
RECOVERY_NEW_DOCUMENTS = 500


class OurSinkProcess(LoggedProcess):
    """`user-events sink mongo` as its own process, with the same interface as bench.kafka_connect.ConnectStandalone."""

    inserted_field = written_field = "ingested_at"  # a redelivered event is not written again

    def __init__(self, workdir: Path, name: str, topic: str, database: str):
        super().__init__(workdir / f"{name}.log")
        self.env = dict(
            os.environ, USER_EVENTS_TOPIC=topic, USER_EVENTS_MONGO_DB=database, USER_EVENTS_SINK_INSTANCE_ID=name
        )

    def start(self) -> None:
        self.launch([sys.executable, "-m", "user_events.cli", "sink", "mongo"], env=self.env)

    def assigned(self) -> bool:
        return "assigned partitions [" in self.log_text().replace("assigned partitions []", "")


def rss_mib(pid: int) -> tuple[float, float]:
    """(current VmRSS, peak VmHWM) of a process in MiB, from /proc (psutil has no peak RSS on Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def _wait_assigned(sink, deadline_s: float = 180) -> float:
    """Seconds until the sink's log shows its partitions (the log is polled, not the server)."""
    started = time.monotonic()
    while not sink.assigned():
        if not sink.alive():
            raise RuntimeError(f"sink exited before its assignment:\n{sink.log_text()[-3000:]}")
        if time.monotonic() - started > deadline_s:
            raise RuntimeError(f"no assignment within {deadline_s:g}s:\n{sink.log_text()[-3000:]}")
        time.sleep(0.05)
    return time.monotonic() - started


def _wait_count(sink, coll, at_least: int, timeout: float, on_poll=lambda: None) -> int:
    deadline = time.monotonic() + timeout
    while True:
        n = coll.estimated_document_count()
        on_poll()
        if n >= at_least:
            return n
        if time.monotonic() > deadline or not sink.alive():
            raise RuntimeError(f"stored {n} of {at_least}:\n{sink.log_text()[-3000:]}")
        time.sleep(COUNT_POLL_SECONDS)


def distinct_expected(kafka, topic: str, n: int) -> tuple[int, int]:
    """(distinct raw values = the peer's business keys, distinct event ids = ours) of the topic's n messages."""
    from user_events.streaming.validate import parse_message

    _, msgs = consume_raw(kafka, topic, n)
    return len({m.value() for m in msgs}), len({parse_message(m.value())[1].event_id for m in msgs})


def _times(coll, field: str, after: datetime | None = None) -> list[datetime]:
    flt = {field: {"$gt": after}} if after is not None else {}
    return sorted(d[field] for d in coll.find(flt, {field: 1}))


def measure_throughput(sink, coll, expected: int, timeout: float = 900) -> dict:
    """Launch -> partitions assigned, peak RSS, and the write rate from the first document's write time to the
    last one's (the times the sinks store; the count is polled once a second only to see the end)."""
    launched_wall, launched = datetime.now(UTC), time.monotonic()
    sink.start()
    assigned_s = _wait_assigned(sink)
    peak = [0.0]
    _wait_count(sink, coll, expected, timeout, on_poll=lambda: peak.__setitem__(0, max(peak[0], rss_mib(sink.pid)[0])))
    peak[0] = max(peak[0], rss_mib(sink.pid)[1])  # VmHWM: the true peak between two samples
    sink.stop()
    times = _times(coll, sink.inserted_field)
    window = (times[-1] - times[0]).total_seconds()
    return {
        "documents": len(times),
        "rate": (len(times) - 1) / max(window, 1e-9),
        "assigned_s": assigned_s,
        "rss_peak_mib": peak[0],
        "first_store_s": (times[0] - launched_wall).total_seconds(),
        "launch_to_done_s": time.monotonic() - launched,
    }


def measure_delay(kafka, sink, coll, topic: str, seconds: float) -> dict:
    """The simulator at 1,000 events/s while the sink runs; delay = first write time − kafka_ts per document."""
    from user_events.streaming.simulator import SimulateConfig, publish

    sink.start()
    _wait_assigned(sink)
    result = publish(SimulateConfig(topic=topic, rate=1000, duration=seconds, time_mode="live", seed=7), kafka)
    expected = min(distinct_expected(kafka, topic, result.delivered))  # the peer's business keys or our event ids
    _wait_count(sink, coll, expected, 300)
    sink.stop()
    field = sink.inserted_field
    delays = [
        (d[field] - _as_time(d["kafka_ts"])).total_seconds() * 1000 for d in coll.find({}, {field: 1, "kafka_ts": 1})
    ]
    return {
        "published": result.delivered,
        "publish_rate": round(result.rate),
        "documents": len(delays),
        **percentiles(delays),
    }


def _as_time(kafka_ts) -> datetime:
    """Our documents store the Kafka timestamp as a date; Connect's InsertField (schemaless) as epoch ms."""
    return kafka_ts if isinstance(kafka_ts, datetime) else datetime.fromtimestamp(int(kafka_ts) / 1000, UTC)


def percentiles(delays_ms: list[float]) -> dict:
    q = statistics.quantiles(sorted(delays_ms), n=100)
    return {"p50_ms": q[49], "p95_ms": q[94], "p99_ms": q[98], "max_ms": max(delays_ms)}


def measure_recovery(kafka, sink, coll, topic: str, seconds_limit: float = 240) -> dict:
    """Publishing at 1,000 events/s: SIGKILL the sink after it stored for a while, restart it at once; restart ->
    partitions assigned (its log) and restart -> first write of the new process (the write times it stores)."""
    import threading

    from user_events.streaming.simulator import SimulateConfig, publish

    stop = threading.Event()
    publisher = threading.Thread(
        target=publish,
        daemon=True,
        kwargs={
            "cfg": SimulateConfig(topic=topic, rate=1000, duration=seconds_limit + 120, time_mode="live", seed=11),
            "kafka": kafka,
            "should_stop": stop.is_set,
        },
    )
    publisher.start()
    try:
        sink.start()
        _wait_assigned(sink)
        _wait_count(sink, coll, 1, 120)
        time.sleep(RECOVERY_WARMUP_SECONDS)
        sink.kill()
        restarted_wall, restarted = datetime.now(UTC), time.monotonic()
        before = coll.estimated_document_count()
        sink.start()
        assigned_s = _wait_assigned(sink, seconds_limit)
        # the server's fast count lags by a few dozen documents: wait for clearly more, then look at write times
        _wait_count(sink, coll, before + RECOVERY_NEW_DOCUMENTS, seconds_limit)
    finally:
        stop.set()
        publisher.join(90)
        sink.stop()
    first = _times(coll, sink.written_field, after=restarted_wall)[0]
    return {
        "restart_to_assigned_s": assigned_s,
        "restart_to_storing_s": (first - restarted_wall).total_seconds(),
        "check_restart_to_count_seen_s": time.monotonic() - restarted,
    }


def peer_comparison(kafka, mongo, n: int, delay_seconds: float, tmp: Path, save=lambda res: None) -> dict:
    """(g): the official connector and our sink, each as a process against the same servers, one after the other."""
    from bench.kafka_connect import BUSINESS_KEY, ConnectStandalone, connect_libs
    from user_events.config import settings
    from user_events.streaming.simulator import SimulateConfig, publish

    connect_libs()
    run = uuid.uuid4().hex[:8]
    client = mongo.client()
    uri, bootstrap = settings().mongo_uri.get_secret_value(), kafka.bootstrap()
    topics, dbs = [], []

    def fresh(label: str) -> tuple[str, str]:
        topic, dbname = f"bench_g_{label}_{run}", f"bench_g_{label}_{run}"
        kafka.ensure_topic(topic, 3)
        topics.extend([topic, f"{topic}.dlq", f"{topic}.connect_dlq"])
        dbs.append(dbname)
        return topic, dbname

    def peer(label: str, topic: str, dbname: str) -> ConnectStandalone:
        from pymongo import ASCENDING

        client[dbname]["events"].create_index([(f, ASCENDING) for f in BUSINESS_KEY], unique=True, name="business_key")
        return ConnectStandalone(tmp, f"bench-g-{label}-{run}", topic, bootstrap, uri, dbname)

    def ours(label: str, topic: str, dbname: str) -> OurSinkProcess:
        return OurSinkProcess(tmp, f"bench-g-{label}-{run}", topic, dbname)

    res: dict = {"events": n}
    try:
        topic = f"bench_g_events_{run}"
        topics.extend([topic, f"{topic}.dlq", f"{topic}.connect_dlq"])
        print(f"(g) publishing {n:,} events to {topic} ...", flush=True)
        publish(
            SimulateConfig(
                topic=topic,
                rate=0,
                count=n,
                time_mode="replay",
                seed=20191101,
                start=datetime(2019, 11, 1, tzinfo=UTC),
            ),
            kafka,
        )
        peer_expected, our_expected = distinct_expected(kafka, topic, n)
        for label, make, expected in (("peer", peer, peer_expected), ("ours", ours, our_expected)):
            print(f"(g) {label}: throughput over {n:,} events ...", flush=True)
            dbname = f"bench_g_tp_{label}_{run}"
            dbs.append(dbname)
            res[f"{label}_throughput"] = measure_throughput(
                make(f"tp-{label}", topic, dbname), client[dbname]["events"], expected
            )
            save(res)
        for label, make in (("peer", peer), ("ours", ours)):
            print(f"(g) {label}: delay at 1,000 events/s for {delay_seconds:g}s ...", flush=True)
            t, dbname = fresh(f"delay_{label}")
            res[f"{label}_delay"] = measure_delay(
                kafka, make(f"delay-{label}", t, dbname), client[dbname]["events"], t, delay_seconds
            )
            save(res)
        for label, make in (("peer", peer), ("ours", ours)):
            print(f"(g) {label}: SIGKILL and restart while publishing ...", flush=True)
            t, dbname = fresh(f"recovery_{label}")
            res[f"{label}_recovery"] = measure_recovery(
                kafka, make(f"recovery-{label}", t, dbname), client[dbname]["events"], t
            )
            save(res)
    finally:
        for dbname in dbs:
            client.drop_database(dbname)
        delete_topics(kafka, topics)
    res["ratios"] = {
        "throughput": res["ours_throughput"]["rate"] / res["peer_throughput"]["rate"],
        "rss": res["ours_throughput"]["rss_peak_mib"] / res["peer_throughput"]["rss_peak_mib"],
        "delay_p99": res["ours_delay"]["p99_ms"] / res["peer_delay"]["p99_ms"],
        "assigned": res["ours_throughput"]["assigned_s"] / res["peer_throughput"]["assigned_s"],
        "recovery": res["ours_recovery"]["restart_to_storing_s"] / res["peer_recovery"]["restart_to_storing_s"],
    }
    return res


def print_peer(g: dict) -> None:
    from bench.kafka_connect import MONGO_CONNECTOR_VERSION

    r = g["ratios"]
    rows = [
        (
            "throughput (events/s)",
            "throughput",
            "rate",
            "{:,.0f}",
            f"{r['throughput']:.2f}  goal >= 2.5: {'met' if r['throughput'] >= 2.5 else 'NOT met'}",
        ),
        ("peak RSS (MiB)", "throughput", "rss_peak_mib", "{:,.0f}", f"{r['rss']:.2f}"),
        ("launch -> partitions assigned (s)", "throughput", "assigned_s", "{:.1f}", f"{r['assigned']:.2f}"),
        ("delay at 1,000/s p50 (ms)", "delay", "p50_ms", "{:.0f}", ""),
        ("delay at 1,000/s p95 (ms)", "delay", "p95_ms", "{:.0f}", ""),
        (
            "delay at 1,000/s p99 (ms)",
            "delay",
            "p99_ms",
            "{:.0f}",
            f"{r['delay_p99']:.2f}  goal <= 0.5: {'met' if r['delay_p99'] <= 0.5 else 'NOT met'}",
        ),
        ("SIGKILL: restart -> assigned (s)", "recovery", "restart_to_assigned_s", "{:.1f}", ""),
        (
            "SIGKILL: restart -> storing again (s)",
            "recovery",
            "restart_to_storing_s",
            "{:.1f}",
            f"{r['recovery']:.2f}  goal <= 0.15: {'met' if r['recovery'] <= 0.15 else 'NOT met'}",
        ),
    ]
    print()
    print(
        f"(g) {g['events']:,} events; peer = Kafka Connect {settings().kafka_version} standalone + mongo-kafka-connect {MONGO_CONNECTOR_VERSION}"
    )
    print(f"{'measure':42} {'ours':>10} {'peer':>10}   ours/peer")
    for title, group, key, fmt, ratio in rows:
        print(
            f"{title:42} {fmt.format(g['ours_' + group][key]):>10} {fmt.format(g['peer_' + group][key]):>10}   {ratio}"
        )
    print(
        "delay = first write time - kafka_ts per document (ours: ingested_at; peer: _insertedTS of "
        "UpdateOneBusinessKeyTimestampStrategy); rate = documents / (last write - first write)"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--delay-seconds", type=float, default=20.0)
    ap.add_argument(
        "--peer", action="store_true", help="also (g): the official Kafka Connect MongoDB sink as the baseline"
    )
    ap.add_argument("--peer-only", action="store_true", help="only (g)")
    ap.add_argument("--delay-only", action="store_true", help="only (e), the delay at 1,000 events/s")
    args = ap.parse_args(argv)
    load_dotenv(SERVICES_ENV_FILE, interpolate=False)
    if args.delay_only:
        kafka, mongo, _ = _resources()
        tmp = OUT / f"stream_e_{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True, exist_ok=True)
        e = delay_run(kafka, mongo, args.delay_seconds, tmp)
        print(
            f"(e) delay kafka_ts -> ingested_at at 1,000/s for {args.delay_seconds:g}s: p50 {e['p50_ms']:.1f} ms, "
            f"p95 {e['p95_ms']:.1f} ms, p99 {e['p99_ms']:.1f} ms, max {e['max_ms']:.0f} ms ({e['documents']:,} docs); "
            f"longest time without a store {e['store_gap_ms']:.0f} ms, without a Kafka timestamp {e['stamp_gap_ms']:.0f} ms"
        )
        return 0
    if args.peer_only:
        kafka, mongo, _ = _resources()
        tmp = OUT / f"stream_g_{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True, exist_ok=True)

        def save(res: dict) -> None:  # after every phase: a failed later phase keeps the figures so far
            (OUT / "stream_g.json").write_text(json.dumps(res, indent=2, default=str))

        g = peer_comparison(kafka, mongo, args.events, args.delay_seconds, tmp, save)
        print_peer(g)
        (OUT / "stream_g.json").write_text(json.dumps(g, indent=2, default=str))
        return 0
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
        sim = publish(
            SimulateConfig(
                topic=topic,
                rate=0,
                count=n,
                time_mode="replay",
                seed=20191101,
                start=datetime(2019, 11, 1, tzinfo=UTC),
            ),
            kafka,
        )
        res["f_simulator_max_rate"] = sim.rate
        paced_topic = f"{topic}_paced"
        paced = publish(SimulateConfig(topic=paced_topic, rate=20_000, duration=10, time_mode="live", seed=1), kafka)
        res["f_simulator_20k_paced"] = {
            "produced": paced.produced,
            "seconds": paced.seconds,
            "rate": paced.rate,
            "failed": paced.failed,
        }
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
        if args.peer:
            res["g_peer"] = peer_comparison(kafka, mongo, n, args.delay_seconds, tmp)
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
    print(
        f"{'(e) delay kafka_ts -> ingested_at at 1,000/s':48} p50 {e['p50_ms']:.1f} ms, p95 {e['p95_ms']:.1f} ms, p99 {e['p99_ms']:.1f} ms, "
        f"max {e['max_ms']:.0f} ms ({e['documents']:,} docs; goal p50 <= 20, p99 <= 100)"
    )
    p = res["f_simulator_20k_paced"]
    print(f"{'(f) simulator, as fast as possible':48} {res['f_simulator_max_rate']:>10,.0f}/s")
    print(
        f"{'(f) simulator, paced at 20,000/s for 10 s':48} {p['rate']:>10,.0f}/s ({p['produced']:,} in {p['seconds']:.1f}s, {p['failed']} failed)"
    )
    if args.peer:
        print_peer(res["g_peer"])
    (OUT / "stream.json").write_text(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
