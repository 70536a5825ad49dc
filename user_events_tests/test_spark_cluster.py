"""A Spark standalone cluster (one master, two workers, from the classes PySpark ships) running a job that
reaches it through USER_EVENTS_SPARK_MASTER, as a deployment with a real cluster would.

The job runs in its own driver process (the test session already has a local SparkSession).
TODO(lead): switch `run_on_cluster` to the batch job (`batch_job`) once it can run against any master; the
cluster fixture and the driver subprocess stay as they are.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

import pyspark

from user_events.config import PROJECT_ROOT
from user_events.devservices.core import free_port

SPARK_HOME = Path(pyspark.__file__).parent
WORKERS = 2


def run_on_cluster(master_url: str, csv_path: str) -> dict:
    """The job run on the cluster: event counts per type of a raw CSV, plus how many executors served it."""
    os.environ["USER_EVENTS_SPARK_MASTER"] = master_url
    from user_events.spark import get_spark

    spark = get_spark(extra={
        "spark.executor.memory": "512m",
        "spark.executor.cores": "1",
        "spark.cores.max": str(WORKERS),
        "spark.driver.memory": "1g",
        "spark.pyspark.python": sys.executable,
    })
    deadline = time.monotonic() + 60  # executors register a moment after the session starts
    while spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() < WORKERS + 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    df = spark.read.option("header", True).csv(csv_path).repartition(4)
    counts = {r["event_type"]: r["count"] for r in df.groupBy("event_type").count().collect()}
    executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
    result = {"master": spark.sparkContext.master, "counts": counts, "executors": executors}
    spark.stop()
    return result


def _start(argv: list[str], log: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _alive_workers(webui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{webui_port}/json/", timeout=2) as resp:
            return int(json.load(resp).get("aliveworkers", 0))
    except OSError:
        return 0


@pytest.fixture(scope="module")
def spark_cluster():
    work = Path(tempfile.mkdtemp(prefix="spark-cluster-"))
    env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_DAEMON_MEMORY": "256m", "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_LOG_DIR": str(work), "SPARK_WORKER_DIR": str(work / "work"), "PYSPARK_PYTHON": sys.executable}
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    port, webui = free_port(), free_port()
    master_url = f"spark://127.0.0.1:{port}"
    procs = [_start([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                     "--webui-port", str(webui)], work / "master.log", env)]
    for i in range(WORKERS):
        procs.append(_start([spark_class, "org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1",
                             "--cores", "1", "--memory", "768m", "--webui-port", str(free_port()),
                             "--work-dir", str(work / f"worker{i}")], work / f"worker{i}.log", env))
    try:
        deadline = time.monotonic() + 120
        while _alive_workers(webui) < WORKERS:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                logs = "\n".join(f"--- {f.name}\n{f.read_text()[-2000:]}" for f in sorted(work.glob("*.log")))
                pytest.fail(f"Spark standalone cluster did not come up with {WORKERS} workers\n{logs}")
            time.sleep(0.5)
        yield master_url
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def test_job_runs_on_a_standalone_cluster_with_two_workers(spark_cluster, rees46_sample):
    import pandas as pd

    code = (
        "import json, sys; from user_events_tests.test_spark_cluster import run_on_cluster; "
        "print('RESULT ' + json.dumps(run_on_cluster(sys.argv[1], sys.argv[2])))"
    )
    env = {**os.environ, "USER_EVENTS_SPARK_MASTER": spark_cluster, "SPARK_LOCAL_IP": "127.0.0.1"}
    result = subprocess.run([sys.executable, "-c", code, spark_cluster, str(rees46_sample)], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, env=env, timeout=600)
    lines = [l for l in result.stdout.splitlines() if l.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-4000:]
    got = json.loads(lines[-1][len("RESULT "):])

    expected = pd.read_csv(rees46_sample, dtype=str)["event_type"].value_counts().to_dict()
    assert got["master"] == spark_cluster
    assert got["executors"] == WORKERS
    assert got["counts"] == expected
