"""The two routes by which hourly_typed_events reads an hour's objects give the same rows: fetched to local
files by parallel GETs (Spark in process) and read through s3a:// (a cluster's executors)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from user_events.lake.transforms import read_lake_json
from user_events.spark import runs_in_process
from user_events.storage import s3_layout as L
from user_events.storage.s3 import S3Storage
from user_events.storage.s3_client import download_objects
from user_events_tests.stream_support import list_keys, require_services

HOUR = datetime(2019, 11, 1, 7, tzinfo=UTC)
EVENT = '{{"event_time":"2019-11-01 07:{m:02d}:00 UTC","event_type":"view","product_id":{p},"category_id":"2",'
EVENT += '"category_code":null,"brand":"b","price":5.5,"user_id":"3","user_session":"s"}}'


@pytest.fixture()
def lake_objects():
    """Three objects of one hour (one holding a line that is not JSON) under a fresh topic, removed afterwards."""
    require_services("USER_EVENTS_S3_ENDPOINT")
    storage = S3Storage()
    client, bucket, topic = storage.get_client(), storage.bucket_name(), f"paths_{uuid.uuid4().hex[:8]}"
    bodies = {
        L.object_key(topic, HOUR, 0, 0): "\n".join(EVENT.format(m=i, p=100 + i) for i in range(3)) + "\n",
        L.object_key(topic, HOUR, 1, 0): EVENT.format(m=10, p=200) + "\nnot json at all\n",
        L.object_key(topic, HOUR, 2, 5): EVENT.format(m=20, p=300) + "\n",
    }
    for key, body in bodies.items():
        client.put_object(Bucket=bucket, Key=key, Body=body.encode())
    yield client, bucket, sorted(bodies)
    for key in list_keys(client, bucket, L.topic_prefix(topic)):
        client.delete_object(Bucket=bucket, Key=key)


def rows(df) -> list[tuple]:
    return sorted(tuple("" if v is None else str(v) for v in r) for r in df.collect())


def test_fetched_objects_read_as_the_same_rows_as_through_s3a(spark, lake_objects, tmp_path):
    client, bucket, keys = lake_objects
    local = download_objects(client, bucket, keys, tmp_path)
    assert [p.read_bytes() for p in local] == [client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys]

    through_s3a = rows(read_lake_json(spark, [f"s3a://{bucket}/{k}" for k in keys]))
    fetched = rows(read_lake_json(spark, [str(p) for p in local]))
    assert fetched == through_s3a
    assert len(fetched) == 6
    # every row's source names the hour, and the line that is not JSON is kept as malformed, both ways
    assert {r[-1] for r in fetched} == {"lake:2019-11-01-07:00"}
    assert sum(r[-2] == "not json at all" for r in fetched) == 1


class _Session:
    def __init__(self, master: str):
        self.conf = {"spark.master": master}


@pytest.mark.unit
@pytest.mark.parametrize(
    ("master", "in_process"),
    [("local[*]", True), ("local[2]", True), ("spark://h:7077", False), ("yarn", False), ("k8s://https://h", False)],
)
def test_only_a_local_master_counts_as_spark_in_this_process(master, in_process):
    assert runs_in_process(_Session(master)) is in_process
