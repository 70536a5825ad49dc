"""USER_EVENTS_RAW_CSV as an s3a:// glob, against the local S3-compatible store of `make services-up`."""

from __future__ import annotations

import uuid

import pytest

from user_events.ingest import transforms as T
from user_events.ingest.inputs import InputError, resolve_inputs
from user_events.schema import RAW_HEADER
from user_events.storage.s3 import S3Storage
from user_events_tests.ingest.support import validated_as_stored
from user_events_tests.streaming.support import list_keys, require_services


@pytest.fixture()
def s3_prefix():
    """A fresh prefix in the services' bucket (created by `make services-up`), emptied afterwards."""
    require_services("USER_EVENTS_S3_ENDPOINT")
    storage = S3Storage()
    client, bucket = storage.get_client(), storage.bucket_name()
    prefix = f"batch-tests/{uuid.uuid4().hex[:8]}"
    yield client, bucket, prefix
    for key in list_keys(client, bucket, prefix):
        client.delete_object(Bucket=bucket, Key=key)


def test_s3a_glob_is_listed_vetted_and_read(spark, s3_prefix, rees46_sample, tmp_path):
    client, bucket, prefix = s3_prefix
    body = rees46_sample.read_bytes()
    client.put_object(Bucket=bucket, Key=f"{prefix}/a.csv", Body=body)
    client.put_object(
        Bucket=bucket,
        Key=f"{prefix}/b.csv",
        Body=RAW_HEADER.encode() + b'\n2019-11-01 00:00:00 UTC,view,1,2,,"x\ny",5,3,s\n',
    )
    files = resolve_inputs(f"s3a://{bucket}/{prefix}/*.csv", spark)
    assert [f.uri.rsplit("/", 1)[1] for f in files] == ["a.csv", "b.csv"] and all(f.multiline for f in files)
    typed, rejected = validated_as_stored(spark, T.read_raw_csv(spark, [f.uri for f in files]), tmp_path / "v")
    assert typed.count() == 9999 + 1 and rejected.count() == 0
    assert typed.where("brand = 'x\\ny'").count() == 1

    client.put_object(Bucket=bucket, Key=f"{prefix}/bad/noheader.csv", Body=body.split(b"\n", 1)[1])
    with pytest.raises(InputError, match="header"):
        resolve_inputs(f"s3a://{bucket}/{prefix}/bad/*.csv", spark)
    with pytest.raises(InputError, match="no raw CSV found"):
        resolve_inputs(f"s3a://{bucket}/{prefix}/missing/*.csv", spark)
