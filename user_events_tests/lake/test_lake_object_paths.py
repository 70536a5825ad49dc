"""The routes by which hourly_typed_events reads an hour's objects give the same rows: fetched to local files
by parallel GETs and joined into one file per hour (Spark reads this host's files) and read through s3a:// (a
cluster's executors)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from user_events.files import join_line_files
from user_events.lake.fetch import FETCHED_HOUR_FILE
from user_events.lake.transforms import read_lake_json
from user_events.spark import reads_local_files
from user_events.storage import s3_layout as L
from user_events.storage.s3 import S3Storage
from user_events.storage.s3_client import download_objects
from user_events_tests.streaming.support import list_keys, require_services

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
        # no line break after the last line (a writer may leave none): it must not run into the next object
        L.object_key(topic, HOUR, 1, 0): EVENT.format(m=10, p=200) + "\nnot json at all",
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


def test_an_hour_s_fetched_objects_joined_into_one_file_read_as_the_same_rows(spark, lake_objects, tmp_path):
    client, bucket, keys = lake_objects
    joined = join_line_files(download_objects(client, bucket, keys, tmp_path), FETCHED_HOUR_FILE)
    assert len(joined) == 1 and joined[0].parent.name == "hour=07"
    assert sorted(p.name for p in joined[0].parent.iterdir()) == [FETCHED_HOUR_FILE]  # the parts are gone
    through_s3a = rows(read_lake_json(spark, [f"s3a://{bucket}/{k}" for k in keys]))
    assert rows(read_lake_json(spark, [str(p) for p in joined])) == through_s3a
    assert len(through_s3a) == 6


class _Session:
    def __init__(self, master: str):
        self.conf = {"spark.master": master}


class _ConnectSession(_Session):
    """Stands for pyspark.sql.connect.session.SparkSession: a client of a server at `host`."""

    __module__ = "pyspark.sql.connect.session"

    def __init__(self, master: str, host: str):
        super().__init__(master)
        self.client = type("Client", (), {"host": host})()


@pytest.mark.unit
@pytest.mark.parametrize(
    ("master", "local_files"),
    [("local[*]", True), ("local[2]", True), ("spark://h:7077", False), ("yarn", False), ("k8s://https://h", False)],
)
def test_only_a_local_master_reads_this_host_s_files(master, local_files):
    assert reads_local_files(_Session(master)) is local_files


@pytest.mark.unit
@pytest.mark.parametrize(
    ("master", "host", "local_files"),
    [
        ("local[*]", "127.0.0.1", True),
        ("local[*]", "localhost", True),
        ("local[*]", "spark.example.com", False),
        ("spark://h:7077", "127.0.0.1", False),
    ],
)
def test_a_spark_connect_server_reads_this_host_s_files_only_on_loopback_in_local_mode(master, host, local_files):
    assert reads_local_files(_ConnectSession(master, host)) is local_files
