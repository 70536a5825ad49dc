"""Pure tests of the S3 lake layout (storage.s3_layout); expected keys written by hand from CONTRACT.md.

The last test evaluates the Spark column expressions of the same layout on a local SparkSession.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from user_events.storage import s3_layout as L

UTC = UTC
HOUR = datetime(2019, 11, 1, 7, 42, 5, tzinfo=UTC)  # any time in the hour 07:00
KEY = "topics/user_activity/year=2019/month=11/day=01/hour=07/user_activity+2+0000001234.json"


@pytest.mark.unit
def test_object_key_is_the_contract_layout():
    assert L.object_key("user_activity", HOUR.replace(minute=0, second=0), 2, 1234) == KEY
    assert L.object_key("t.x", datetime(2020, 2, 29, 23, tzinfo=UTC), 11, 0) == (
        "topics/t.x/year=2020/month=02/day=29/hour=23/t.x+11+0000000000.json"
    )


@pytest.mark.unit
def test_prefixes_nest_topic_day_hour_partition():
    assert L.topic_prefix("user_activity") == "topics/user_activity/"
    assert L.day_prefix("user_activity", HOUR) == "topics/user_activity/year=2019/month=11/day=01/"
    assert L.hour_prefix("user_activity", HOUR) == "topics/user_activity/year=2019/month=11/day=01/hour=07/"
    assert L.partition_prefix("user_activity", HOUR, 2) == (
        "topics/user_activity/year=2019/month=11/day=01/hour=07/user_activity+2+"
    )
    assert KEY.startswith(L.partition_prefix("user_activity", HOUR, 2))


@pytest.mark.unit
def test_day_prefixes_cover_every_day_the_window_touches():
    start = datetime(2019, 10, 31, 22, tzinfo=UTC)
    assert L.day_prefixes("t", start, start + timedelta(hours=3)) == [
        "topics/t/year=2019/month=10/day=31/",
        "topics/t/year=2019/month=11/day=01/",
    ]
    # a window ending at midnight does not touch the next day
    assert L.day_prefixes("t", start, datetime(2019, 11, 1, tzinfo=UTC)) == ["topics/t/year=2019/month=10/day=31/"]


@pytest.mark.unit
def test_a_key_parses_back_to_its_hour_partition_and_start_offset():
    assert L.hour_of_object_key("user_activity", KEY) == datetime(2019, 11, 1, 7, tzinfo=UTC)
    assert L.start_offset_of(KEY) == 1234
    # a topic whose name contains '+' and digits does not confuse the parsing
    key = "topics/a+1/year=2019/month=11/day=01/hour=00/a+1+7+0000000042.json"
    assert L.start_offset_of(key) == 42


@pytest.mark.unit
def test_keys_outside_the_layout_have_no_hour():
    assert L.hour_of_object_key("user_activity", "topics/user_activity/_tmp/x.json") is None
    assert L.hour_of_object_key("user_activity", "topics/user_activity/year=2019/month=11/x.json") is None


@pytest.mark.unit
def test_hour_partition_key_and_lake_source():
    hour = HOUR.replace(minute=0, second=0)
    assert L.hour_partition_key(hour) == "2019-11-01-07:00"
    # an hour start given in another zone is keyed by its UTC hour
    plus_two = timezone(timedelta(hours=2))
    assert L.hour_partition_key(datetime(2019, 11, 1, 1, tzinfo=plus_two)) == "2019-10-31-23:00"
    assert L.lake_source(hour) == "lake:2019-11-01-07:00"


@pytest.mark.unit
def test_object_metadata_names():
    # x-amz-meta-end-offset / x-amz-meta-records, as docs/streaming.md and the replay logic read them
    assert (L.END_OFFSET_META, L.RECORDS_META) == ("end-offset", "records")


@pytest.mark.unit
def test_spark_pattern_of_the_python_formats():
    assert L.spark_datetime_pattern(L.PARTITION_KEY_FORMAT) == "yyyy-MM-dd-HH:mm"
    assert L.spark_datetime_pattern("%Y-%m-%d-%H") == "yyyy-MM-dd-HH"


def test_spark_columns_agree_with_the_python_layout(spark):
    from pyspark.sql import functions as F

    path = f"s3a://bucket/{KEY}"
    row = (
        spark.createDataFrame([(path,)], "path string")
        .select(L.lake_source_of_path(F.col("path")).alias("source"))
        .select("source", L.hour_of_lake_source(F.col("source")).alias("hour"))
        .first()
    )
    assert row["source"] == "lake:2019-11-01-07:00"
    assert row["hour"] == datetime(2019, 11, 1, 7)  # Spark returns the session-time-zone (UTC) wall time
