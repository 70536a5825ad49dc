"""Helpers for the streaming integration tests: real Kafka, MongoDB-wire server (SecantusDB) and SeaweedFS
from `make services-up`.

Every test gets its own topic, MongoDB database and S3 prefix (the topic is part of the object keys), so
tests never see each other's data and the shared services need no reset.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest

from user_events.config import PROJECT_ROOT
from user_events.schema import RAW_FIELDS, event_id_of

CLI = [sys.executable, "-m", "user_events.cli"]
GOOD_RECORD = {
    "event_time": "2019-11-01 00:10:00 UTC",
    "event_type": "view",
    "product_id": "1",
    "category_id": "2",
    "category_code": "",
    "brand": "",
    "price": "1.00",
    "user_id": "3",
    "user_session": "poison",
}


def require_services(
    *variables: str, default=("USER_EVENTS_KAFKA_BOOTSTRAP", "USER_EVENTS_MONGO_URI", "USER_EVENTS_S3_ENDPOINT")
) -> None:
    """Fail (not skip) the test when the services it needs are not configured."""
    missing = [v for v in variables or default if not os.environ.get(v)]
    if missing:
        pytest.fail(f"services not configured ({', '.join(missing)} unset): run `make services-up` first")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@dataclass
class Pipeline:
    """One isolated pipeline: topic, Mongo database, S3 prefix, and the environment for subprocesses."""

    topic: str
    mongo_db: str
    kafka_config: Path

    @property
    def dlq(self) -> str:
        return f"{self.topic}.dlq"

    def group(self, sink: str) -> str:
        """The sink's consumer group on this (non-default) topic, as docs/streaming.md defines it."""
        return f"user_events.{self.topic}.{sink}_sink"

    def env(self, **extra: str) -> dict:
        env = dict(os.environ)
        env.update(
            USER_EVENTS_TOPIC=self.topic,
            USER_EVENTS_MONGO_DB=self.mongo_db,
            USER_EVENTS_KAFKA_CONFIG=str(self.kafka_config),
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env


def kafka():
    from user_events.streaming.resources import KafkaResource

    return KafkaResource()


def mongo_db(name: str):
    from user_events.streaming.resources import MongoResource

    return MongoResource(db=name).database()


def s3():
    from user_events.storage.s3 import S3Storage

    storage = S3Storage()
    return storage.get_client(), storage.bucket_name()


def make_pipeline(tmp_path: Path, name: str) -> Pipeline:
    require_services()
    cfg = tmp_path / "librdkafka.ini"
    # Short session timeout: a SIGKILLed consumer's partitions move on after 6 s instead of 45 s.
    cfg.write_text("[consumer]\nsession.timeout.ms=6000\nheartbeat.interval.ms=500\n")
    return Pipeline(topic=unique(f"t_{name}"), mongo_db=unique(f"ue_{name}"), kafka_config=cfg)


def cleanup_pipeline(p: Pipeline) -> None:
    kill_started()
    try:
        admin = kafka().admin()
        for f in admin.delete_topics([p.topic, p.dlq], operation_timeout=10).values():
            try:
                f.result(15)
            except Exception:
                pass
    except Exception:
        pass
    try:
        from user_events.streaming.resources import MongoResource

        MongoResource().client().drop_database(p.mongo_db)
    except Exception:
        pass
    try:
        client, bucket = s3()
        for prefix in (f"topics/{p.topic}/", f"_watermarks/{p.topic}/"):
            keys = list_keys(client, bucket, prefix)
            for i in range(0, len(keys), 1000):
                client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]]})
    except Exception:
        pass


# ---- Kafka ------------------------------------------------------------------------------------


def produce(topic: str, items: Iterable[tuple[bytes | None, bytes | None]], partitions: int = 3) -> int:
    """Produce (key, value) pairs and wait for every delivery; returns the count."""
    k = kafka()
    k.ensure_topic(topic, partitions)
    producer = k.producer(**{"linger.ms": 5})
    failed: list = []
    n = 0
    for key, value in items:
        producer.produce(topic, value=value, key=key, on_delivery=lambda err, _m: failed.append(err) if err else None)
        producer.poll(0)
        n += 1
    producer.flush(30)
    assert not failed, failed[:3]
    return n


def encode(rec: dict) -> tuple[bytes | None, bytes]:
    session = rec.get("user_session") or None
    return (session.encode() if session else None), json.dumps(rec).encode()


def end_offsets(topic: str) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    k = kafka()
    c = Consumer(k.client_config("consumer", **{"group.id": unique("probe")}))
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in md.partitions}
    finally:
        c.close()


def committed_offsets(topic: str, group: str) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    k = kafka()
    c = Consumer(k.client_config("consumer", **{"group.id": group}))
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        tps = c.committed([TopicPartition(topic, p) for p in md.partitions], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def consume_all(topic: str, timeout: float = 30) -> list:
    """Every message of the topic (read_committed, librdkafka's default), up to the end offsets seen at the
    start. Reads until every partition's position reached its end offset: transaction markers and aborted
    records take offsets too, so counting messages would never reach the end of a transactional topic."""
    from confluent_kafka import Consumer, TopicPartition

    ends = end_offsets(topic)
    k = kafka()
    c = Consumer(
        k.client_config(
            "consumer", **{"group.id": unique("reader"), "auto.offset.reset": "earliest", "enable.auto.commit": False}
        )
    )
    c.assign([TopicPartition(topic, p, 0) for p in ends])
    out = []
    deadline = time.monotonic() + timeout

    def at_end() -> bool:
        return all(
            tp.offset >= ends[tp.partition]
            for tp in c.position([TopicPartition(topic, p) for p in ends])
            if ends[tp.partition] > 0
        )

    try:
        while time.monotonic() < deadline and not at_end():
            for m in c.consume(500, 0.5):
                if m.error() is None:
                    out.append(m)
    finally:
        c.close()
    return out


# ---- expectations computed independently (pandas), not with the sink's code --------------------


def records_frame(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=list(RAW_FIELDS)).astype(str)


def expected_event_ids(df: pd.DataFrame) -> set[str]:
    """Distinct events of raw records (all valid), by the schema's id function over pandas-typed values."""
    ids = set()
    times = pd.to_datetime(df["event_time"], format="%Y-%m-%d %H:%M:%S UTC", utc=True)
    for t, r in zip(times, df.itertuples(index=False), strict=False):
        ids.add(
            event_id_of(
                t.to_pydatetime(),
                r.event_type,
                int(r.product_id),
                int(r.category_id),
                r.category_code or None,
                r.brand or None,
                Decimal(r.price),
                int(r.user_id),
                r.user_session or None,
            )
        )
    return ids


def expected_minute_counts(df: pd.DataFrame) -> dict[tuple, tuple[int, int]]:
    """(minute, event_type) -> (distinct events, price cents) over exact-duplicate-free records."""
    d = df.drop_duplicates(subset=list(RAW_FIELDS)).copy()
    d["minute"] = pd.to_datetime(d["event_time"], format="%Y-%m-%d %H:%M:%S UTC", utc=True).dt.floor("min")
    d["cents"] = d["price"].map(lambda p: int((Decimal(p) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)))
    g = d.groupby(["minute", "event_type"]).agg(count=("cents", "size"), cents=("cents", "sum"))
    return {(m.to_pydatetime(), t): (int(r["count"]), int(r["cents"])) for (m, t), r in g.iterrows()}


def mongo_minute_counts(db) -> dict[tuple, tuple[int, int]]:
    return {
        (d["minute"], d["event_type"]): (int(d["count"]), int(d["price_cents"])) for d in db.events_per_minute.find()
    }


# ---- S3 ---------------------------------------------------------------------------------------


def list_keys(client, bucket: str, prefix: str) -> list[str]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def s3_lines(topic: str) -> list[tuple[str, dict]]:
    """(object key, record) for every line of every object of the topic."""
    client, bucket = s3()
    out = []
    for key in list_keys(client, bucket, f"topics/{topic}/"):
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        for line in body.splitlines():
            out.append((key, json.loads(line)))
    return out


def hour_folder(event_time: str) -> str:
    t = pd.Timestamp(event_time.replace(" UTC", ""), tz="UTC")
    return f"year={t:%Y}/month={t:%m}/day={t:%d}/hour={t:%H}/"


# ---- processes --------------------------------------------------------------------------------


_STARTED: list[subprocess.Popen] = []  # killed by cleanup_pipeline if a test left them running


def start_cli(args: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")
    proc = subprocess.Popen(CLI + args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
    _STARTED.append(proc)
    return proc


def kill_started() -> None:
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    return proc.wait(timeout)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_assigned(log: Path, timeout: float, what: str, partitions: str = "") -> None:
    """Wait until a sink's log says it was assigned partitions (with `partitions`, e.g. "0, 1, 2": those)."""
    wait_until(lambda: f"assigned partitions [{partitions}" in log.read_text(), timeout, what)


# ---- a TCP proxy that can take a store "down" -------------------------------------------------


class ToggleProxy:
    """Forwards 127.0.0.1:<port> to a target. `down()` resets every connection and refuses new ones
    (the server process is gone, as far as the client can tell); `up()` serves again."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self._up = threading.Event()
        self._up.set()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def down(self) -> None:
        self._up.clear()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
            except OSError:
                pass

    def up(self) -> None:
        self._up.set()

    def close(self) -> None:
        self._closed = True
        self.down()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 1.0)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    (b if s is a else a).sendall(data)
        except (OSError, ValueError):
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass


@contextlib.contextmanager
def holding_the_group(consumer, topic: str, timeout: float = 60) -> Iterator[None]:
    """`consumer` subscribed to `topic` and polling on a thread of its own while the block runs: a live member of
    its group that takes part in rebalances. Enters once it holds a partition; closed afterwards."""
    assigned, done = threading.Event(), threading.Event()

    def hold() -> None:
        consumer.subscribe([topic], on_assign=lambda c, parts: assigned.set() if parts else None)
        while not done.is_set():
            consumer.poll(0.2)
        consumer.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        assert assigned.wait(timeout), "the holder got no assignment"
        yield
    finally:
        done.set()
        thread.join(30)
