"""Shared fixtures. Services come from `make services-up` (its .env.services is loaded here too)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dotenv import load_dotenv

from user_events.config import SERVICES_ENV_FILE
from user_events_tests.samples import SampleError, choose_sample, sample_file

load_dotenv(SERVICES_ENV_FILE, interpolate=False)

# PostgreSQL and batch_job fixtures, shared by the ingest, warehouse and dashboard tests
pytest_plugins = ["user_events_tests.batch_fixtures"]


@pytest.fixture
def spark():
    """The process's one SparkSession (get_spark: created once; a Spark Connect session whose server was
    restarted meanwhile, as test_devservices_services does, is replaced)."""
    from user_events.spark import get_spark

    return get_spark(master=os.environ.get("USER_EVENTS_TEST_SPARK_MASTER", "local[2]"))


@pytest.fixture
def pipeline(tmp_path, request):
    """An isolated Kafka topic, Mongo database and S3 prefix for one test, removed afterwards."""
    from user_events_tests.streaming.support import cleanup_pipeline, make_pipeline

    p = make_pipeline(tmp_path, request.node.name[5:20].strip("_[]"))
    yield p
    cleanup_pipeline(p)


@pytest.fixture(scope="session")
def rees46_sample() -> Path:
    """Real-shaped raw events: USER_EVENTS_TEST_SAMPLE, the shared REES46 sample, or the generated stand-in."""
    try:
        return sample_file(choose_sample())
    except SampleError as exc:
        pytest.fail(str(exc))


def pytest_report_header(config):
    try:
        sample = choose_sample()
    except SampleError as exc:
        return f"real-shaped sample: {exc}"
    return f"real-shaped sample: {sample.origin} ({sample.path})"


def pytest_collection_modifyitems(config, items):
    """`-m rees46_sample` selects every test that uses real-shaped data, directly or through a fixture."""
    for item in items:
        if "rees46_sample" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.rees46_sample)
