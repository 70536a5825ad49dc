"""The `spark` resource (dagster-pyspark's LazyPySparkResource with the project's session settings), in a
fresh process so that the session it starts is its own: the master and `spark_config` reach the session,
the project's settings stay, and nothing starts before the session is asked for; with USER_EVENTS_SPARK_REMOTE
the session is a Spark Connect client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(
    """
    import json
    from user_events.ingest.resources import SparkResource
    from pyspark.sql import SparkSession

    resource = SparkResource(master="local[1]", spark_config={"spark.sql.shuffle.partitions": "3"})
    before = SparkSession.getActiveSession() is not None
    conf = resource.spark_session.conf
    print(json.dumps({
        "started_before_use": before,
        "master": conf.get("spark.master"),
        "shuffle_partitions": conf.get("spark.sql.shuffle.partitions"),
        "time_zone": conf.get("spark.sql.session.timeZone"),
        "same_session": resource.spark_session is resource.spark_session,
        "connect": type(resource.spark_session).__module__.startswith("pyspark.sql.connect"),
    }))
    """
)


def probe(env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_master_and_spark_config_reach_an_in_process_session():
    env = {k: v for k, v in os.environ.items() if k != "USER_EVENTS_SPARK_REMOTE"}  # the embedded default
    assert probe(env) == {
        "started_before_use": False,
        "master": "local[1]",
        "shuffle_partitions": "3",
        "time_zone": "UTC",
        "same_session": True,
        "connect": False,
    }


def test_with_a_spark_connect_server_the_session_is_its_client_with_the_project_s_session_settings():
    """USER_EVENTS_SPARK_REMOTE (services-up's warm server): the server's master applies, while spark_config
    and the project's session settings (UTC) reach the client's own session."""
    if not os.environ.get("USER_EVENTS_SPARK_REMOTE"):
        pytest.skip("needs `make services-up` (USER_EVENTS_SPARK_REMOTE)")
    assert probe(dict(os.environ)) == {
        "started_before_use": False,
        "master": "local[*]",
        "shuffle_partitions": "3",
        "time_zone": "UTC",
        "same_session": True,
        "connect": True,
    }


def test_an_unreachable_spark_connect_server_is_a_clear_error_at_once():
    env = {**os.environ, "USER_EVENTS_SPARK_REMOTE": "sc://127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode != 0
    assert "cannot reach the Spark Connect server at sc://127.0.0.1:9 (USER_EVENTS_SPARK_REMOTE)" in out.stderr
    assert "make services-up" in out.stderr
