"""The local services of `make services-up`, exercised through the project's own resources.

Needs the services running (the Makefile's `test` target starts them); the last test stops and restarts
them and checks that nothing of ours is left running in between.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from user_events.config import PROJECT_ROOT, settings
from user_events.devservices.core import services_dir
from user_events.storage.s3 import S3Storage
from user_events.streaming.resources import KafkaResource, MongoResource
from user_events_tests.devservices.support import processes_using
from user_events_tests.streaming.support import require_services

SERVICE_NAMES = ("postgres", "kafka", "mongo", "s3", "spark", "superset")


@pytest.fixture(autouse=True)
def _services():
    require_services(
        "USER_EVENTS_PG_URL", "USER_EVENTS_KAFKA_BOOTSTRAP", "USER_EVENTS_MONGO_URI", "USER_EVENTS_S3_ENDPOINT"
    )


def devservices(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "user_events.devservices", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def recorded_pids() -> dict[str, int]:
    pids = {}
    for name in SERVICE_NAMES:
        path = services_dir() / f"{name}.pid"
        if path.exists():
            pids[name] = json.loads(path.read_text())["pid"]
    return pids


def test_installed_modules_have_bytecode():
    """make install and the services' own venvs write bytecode for every module they install: where
    PYTHONDONTWRITEBYTECODE is set (Python then never writes it), every process would compile dagster, pyspark
    or Superset from source at start."""
    import importlib.util

    import dagster
    import pyspark

    for module in (dagster, pyspark):
        assert Path(importlib.util.cache_from_source(module.__file__)).exists(), module.__name__
    for service, package in (("superset", "superset"), ("mongo", "secantus")):
        (init,) = (services_dir() / service / "venv").glob(f"lib/python*/site-packages/{package}/__init__.py")
        assert Path(importlib.util.cache_from_source(str(init))).exists(), f"{service}: {init}"


def test_postgres_sql_round_trip():
    import psycopg

    table = f"services_probe_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(os.environ["USER_EVENTS_PG_URL"], autocommit=True) as conn:
        conn.execute(f"create table {table} (id int primary key, price numeric(10,2), at timestamptz)")
        try:
            rows = [
                (1, "1.25", "2019-11-01 00:00:01+00"),
                (2, "2.50", "2019-11-01 01:00:00+00"),
                (3, "0", "2019-11-01 23:59:59+00"),
            ]
            with conn.cursor() as cur:
                cur.executemany(f"insert into {table} values (%s, %s, %s)", rows)
            total, n, last = conn.execute(f"select sum(price), count(*), max(at) from {table}").fetchone()
            assert (str(total), n) == ("3.75", 3)
            assert last == dt.datetime(2019, 11, 1, 23, 59, 59, tzinfo=dt.UTC)
            schema = conn.execute("select current_schema()").fetchone()[0]
            assert schema == settings().pg_schema
        finally:
            conn.execute(f"drop table {table}")


def test_kafka_topic_produce_and_consume_in_a_group():
    kafka = KafkaResource()
    topic = f"services_probe_{uuid.uuid4().hex[:8]}"
    assert kafka.ensure_topic(topic, partitions=3) == 3
    assert kafka.ensure_topic(topic, partitions=3) == 3  # existing topic: no error, unchanged

    sent = {f"key-{i % 5}": [] for i in range(5)}
    producer = kafka.producer()
    for i in range(30):
        key = f"key-{i % 5}"
        sent[key].append(str(i))
        producer.produce(topic, key=key, value=json.dumps({"n": i}).encode())
    assert producer.flush(30) == 0

    consumer = kafka.consumer(f"services_probe_group_{uuid.uuid4().hex[:6]}")
    consumer.subscribe([topic])
    received: dict[str, list[str]] = {}
    partitions_of_key: dict[str, set[int]] = {}
    deadline = time.monotonic() + 60
    try:
        while sum(map(len, received.values())) < 30 and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            key = msg.key().decode()
            received.setdefault(key, []).append(str(json.loads(msg.value())["n"]))
            partitions_of_key.setdefault(key, set()).add(msg.partition())
        consumer.commit(asynchronous=False)
        committed = consumer.committed([_tp(topic, p) for p in range(3)], timeout=10)
    finally:
        consumer.close()

    assert received == sent  # everything, once, in order per key
    assert all(len(parts) == 1 for parts in partitions_of_key.values())  # a key stays on one partition
    assert sum(tp.offset for tp in committed if tp.offset >= 0) == 30
    kafka.admin().delete_topics([topic])


def _tp(topic, partition):
    from confluent_kafka import TopicPartition

    return TopicPartition(topic, partition)


def test_mongo_insert_find_upsert_index_and_group():
    from pymongo import ASCENDING, ReplaceOne, UpdateOne
    from pymongo.errors import BulkWriteError, DuplicateKeyError

    mongo = MongoResource()
    col = mongo.database()[f"services_probe_{uuid.uuid4().hex[:8]}"]
    try:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        docs = [
            {
                "_id": f"e{i}",
                "user_id": i % 2,
                "event_type": "purchase" if i % 3 == 0 else "view",
                "price": float(i),
                "kafka_ts": now,
            }
            for i in range(6)
        ]
        col.insert_many(docs)
        assert col.find_one({"_id": "e3"})["price"] == 3.0
        assert col.find_one({"_id": "e3"})["kafka_ts"] == now  # BSON date, timezone-aware

        # redelivery: the same upserts twice leave one document per _id
        upserts = [
            UpdateOne(
                {"_id": d["_id"]},
                {"$set": {"price": d["price"] + 1}, "$setOnInsert": {"ingested_at": now}},
                upsert=True,
            )
            for d in docs
        ] + [UpdateOne({"_id": "e9"}, {"$set": {"user_id": 1, "event_type": "view", "price": 9.0}}, upsert=True)]
        first = col.bulk_write(upserts, ordered=False)
        second = col.bulk_write(upserts, ordered=False)
        assert (first.upserted_count, second.upserted_count) == (1, 0)
        col.bulk_write([ReplaceOne({"_id": "e5"}, {"user_id": 1, "event_type": "view", "price": 6.0}, upsert=True)])
        assert col.count_documents({}) == 7

        col.create_index([("user_id", ASCENDING), ("price", ASCENDING)], unique=True, name="user_price_unique")
        assert "user_price_unique" in col.index_information()
        with pytest.raises(DuplicateKeyError):
            col.insert_one({"_id": "dup", "user_id": 0, "price": 1.0})
        with pytest.raises(BulkWriteError):
            col.bulk_write([UpdateOne({"_id": "dup2"}, {"$set": {"user_id": 0, "price": 1.0}}, upsert=True)])

        top = list(col.find({}, {"_id": 1}).sort("price", -1).limit(2))
        assert [d["_id"] for d in top] == ["e9", "e5"]

        # two accumulators in one $group (FerretDB 1.24 returned 0 for the second one)
        groups = list(
            col.aggregate(
                [
                    {"$match": {"event_type": "purchase"}},
                    {"$group": {"_id": "$user_id", "n": {"$sum": 1}, "revenue": {"$sum": "$price"}}},
                    {"$sort": {"_id": 1}},
                ]
            )
        )
        # purchases after the +1 upserts: e0 (user 0, 1.0) and e3 (user 1, 4.0)
        assert groups == [{"_id": 0, "n": 1, "revenue": 1.0}, {"_id": 1, "n": 1, "revenue": 4.0}]
    finally:
        col.drop()
        mongo.close()


def test_s3_put_get_list_delete():
    storage = S3Storage()
    s3 = storage.get_client()
    bucket = storage.bucket_name()
    assert s3.meta.endpoint_url == os.environ["USER_EVENTS_S3_ENDPOINT"]
    prefix = f"tmp/services_probe_{uuid.uuid4().hex[:8]}/"
    keys = [f"{prefix}year=2019/hour={h:02d}/part.json" for h in range(3)]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=f'{{"n": {i}}}\n'.encode())
    assert s3.get_object(Bucket=bucket, Key=keys[1])["Body"].read() == b'{"n": 1}\n'
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert sorted(listed) == sorted(keys)
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0) == 0


def test_spark_reads_and_writes_s3a(spark):
    bucket = settings().s3_bucket
    prefix = f"tmp/spark_probe_{uuid.uuid4().hex[:8]}"
    rows = [(1, "view", 1.5), (2, "cart", 0.0), (3, "purchase", 10.25)]
    df = spark.createDataFrame(rows, "id long, event_type string, price double")
    df.write.mode("overwrite").parquet(f"s3a://{bucket}/{prefix}/parquet")
    df.write.mode("overwrite").json(f"s3a://{bucket}/{prefix}/json")

    back = spark.read.parquet(f"s3a://{bucket}/{prefix}/parquet").orderBy("id").collect()
    assert [tuple(r) for r in back] == rows
    assert spark.read.json(f"s3a://{bucket}/{prefix}/json").count() == 3

    s3 = S3Storage().get_client()  # the files Spark wrote are visible to plain S3 clients
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert any(k.endswith(".parquet") for k in keys) and any(k.endswith(".json") for k in keys)
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})


def test_services_up_again_is_a_quick_no_op():
    before = recorded_pids()
    assert set(before) == set(SERVICE_NAMES)
    started = time.monotonic()
    result = devservices("up")
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "all already running" in result.stdout
    assert recorded_pids() == before
    assert took < 20, f"a second `up` took {took:.1f}s"


def test_services_down_leaves_nothing_running_then_up_restores(spark):
    env_before = (PROJECT_ROOT / ".env.services").read_text()
    assert spark.range(2).count() == 2  # a session of this process before the restart
    try:
        result = devservices("down")
        assert result.returncode == 0, result.stderr
        assert not any((services_dir() / f"{name}.pid").exists() for name in SERVICE_NAMES)
        assert processes_using(services_dir()) == []
        status = devservices("status")
        assert status.returncode == 3 and status.stdout.count("stopped") == len(SERVICE_NAMES)
    finally:
        result = devservices("up")
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(recorded_pids()) == set(SERVICE_NAMES)
    assert (PROJECT_ROOT / ".env.services").read_text() == env_before  # same ports, same secrets
    assert devservices("status").returncode == 0
    # the Spark Connect server restarted without this process's session: the next get_spark makes a new one
    from user_events.spark import get_spark

    again = get_spark()
    assert again.range(4).count() == 4 and again.conf.get("spark.sql.session.timeZone") == "UTC"


def test_superset_stops_by_itself_soon_after_sigterm():
    """A plain stop is clean and bounded: gunicorn's master and workers exit by themselves, no SIGKILL, nothing
    of Superset left. (Each process used to spend 8-12 s tearing down the preloaded Superset heap after
    gunicorn's shutdown; on a loaded machine a stop sometimes outlasted the 30 s before the SIGKILL.)"""
    import urllib.request

    with urllib.request.urlopen(f"{os.environ['USER_EVENTS_SUPERSET_URL']}/health", timeout=30) as resp:
        assert resp.read().strip() == b"OK"  # a worker has served a request
    started = time.monotonic()
    result = devservices("down", "superset")
    took = time.monotonic() - started
    try:
        assert result.returncode == 0, result.stderr
        assert "superset: stopped" in result.stdout and "killed" not in result.stdout, result.stdout
        assert processes_using(services_dir() / "superset") == []
        assert took < 5, f"stopping Superset took {took:.1f}s"  # 0.5-0.7 s now, 11-16 s before (load 5-7)
    finally:
        assert devservices("up", "superset").returncode == 0
