"""Pure tests: the `batch` resource reads its unset fields from the settings when used; set fields win."""

import pytest

from user_events.config import settings
from user_events.ingest.resources import BatchSettings
from user_events.quality.results import check_reject_rate

pytestmark = pytest.mark.unit


def test_unset_fields_follow_the_environment_at_use_time(monkeypatch, tmp_path):
    monkeypatch.delenv("USER_EVENTS_RAW_CSV", raising=False)
    monkeypatch.delenv("USER_EVENTS_BATCH_DIR", raising=False)
    batch = BatchSettings()
    assert batch.raw_csv_spec() == (str(settings().data_dir / "sample" / "user_events_2019-11-01.csv"), True)
    assert batch.typed_events_path() == settings().data_dir / "batch" / "typed_events"
    monkeypatch.setenv("USER_EVENTS_RAW_CSV", "s3a://bucket/raw/*.csv")
    monkeypatch.setenv("USER_EVENTS_BATCH_DIR", str(tmp_path))
    assert batch.raw_csv_spec() == ("s3a://bucket/raw/*.csv", False)
    assert batch.brand_details_path() == tmp_path / "brand_details"
    monkeypatch.setenv("USER_EVENTS_RAW_CSV", "  ")  # blank = unset
    assert batch.raw_csv_spec()[1] is True


def test_set_fields_win_over_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("USER_EVENTS_RAW_CSV", "/from/env.csv")
    monkeypatch.setenv("USER_EVENTS_BATCH_DIR", "/from/env")
    batch = BatchSettings(raw_csv="/from/config.csv", batch_dir=str(tmp_path))
    assert batch.raw_csv_spec() == ("/from/config.csv", False)
    assert batch.rejected_events_path() == tmp_path / "rejected_events"


def test_reject_rate_limit_from_the_resource_or_the_environment(monkeypatch):
    monkeypatch.setenv("USER_EVENTS_MAX_REJECT_RATE", "0.1")
    assert check_reject_rate(10, 100).passed and not check_reject_rate(11, 100).passed
    assert not check_reject_rate(10, 100, limit=0.05).passed  # the resource's field wins
    assert check_reject_rate(10, 100, limit=0.1).metadata["max_reject_rate"].value == 0.1


def test_a_bad_threshold_fails_the_check_naming_the_variable(monkeypatch):
    import dagster as dg

    monkeypatch.setenv("USER_EVENTS_MAX_REJECT_RATE", "abc")
    with pytest.raises(dg.Failure) as err:
        check_reject_rate(1, 100)
    assert "USER_EVENTS_MAX_REJECT_RATE='abc'" in err.value.description
    with pytest.raises(ValueError):  # a field out of range is refused when the resource is built
        BatchSettings(max_reject_rate=2.0)


def test_relative_parquet_directories_are_made_absolute_for_the_spark_server(monkeypatch, tmp_path):
    """A Spark Connect server resolves a relative path against its own working directory, not the user's:
    `USER_EVENTS_BATCH_DIR=.data/bench/batch2m` once made the batch fail with PATH_NOT_FOUND under
    .data/services/spark/. The batch and lake directories reach Spark as absolute paths."""
    from user_events.ingest.resources import BatchSettings
    from user_events.lake.resources import LakeSettings

    monkeypatch.chdir(tmp_path)
    assert BatchSettings(batch_dir="rel/batch").validated_path() == tmp_path / "rel" / "batch" / "validated"
    assert LakeSettings(lake_dir="rel/lake").root() == tmp_path / "rel" / "lake"
    monkeypatch.setenv("USER_EVENTS_BATCH_DIR", "env/batch")
    monkeypatch.setenv("USER_EVENTS_LAKE_DIR", "env/lake")
    assert BatchSettings().batch_path() == tmp_path / "env" / "batch"
    assert LakeSettings().root() == tmp_path / "env" / "lake"
