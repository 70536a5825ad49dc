"""The `spark` resource (dagster-pyspark's LazyPySparkResource with the project's session settings), in a
fresh process so that the session it starts is its own: the master and `spark_config` reach the session,
the project's settings stay, and nothing starts before the session is asked for."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

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
    }))
    """
)


def test_master_and_spark_config_reach_the_session():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {
        "started_before_use": False,
        "master": "local[1]",
        "shuffle_partitions": "3",
        "time_zone": "UTC",
        "same_session": True,
    }
