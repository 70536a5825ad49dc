"""`batch_job` on a Spark standalone cluster (one master, two workers, from the classes PySpark ships),
reached through USER_EVENTS_SPARK_MASTER as a deployment with a real cluster would: the step users take
when one machine is not enough. The job runs through Dagster's CLI in its own driver process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pyspark
import pytest

from user_events.config import PROJECT_ROOT

SPARK_HOME = Path(pyspark.__file__).parent
WORKERS = 2


def distinct_free_ports(n: int) -> list[int]:
    """n different free loopback ports (held open together while chosen)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


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
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_DAEMON_MEMORY": "256m",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(work),
        "SPARK_WORKER_DIR": str(work / "work"),
        "PYSPARK_PYTHON": sys.executable,
    }
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    # all ports at once, so the master's and the workers' never coincide (a worker's web UI on the
    # master's UI port would answer /json/ with HTML)
    port, webui, *worker_ui = distinct_free_ports(2 + WORKERS)
    master_url = f"spark://127.0.0.1:{port}"
    procs = [
        _start(
            [
                spark_class,
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(webui),
            ],
            work / "master.log",
            env,
        )
    ]
    for i in range(WORKERS):
        procs.append(
            _start(
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    master_url,
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    "1",
                    "--memory",
                    "768m",
                    "--webui-port",
                    str(worker_ui[i]),
                    "--work-dir",
                    str(work / f"worker{i}"),
                ],
                work / f"worker{i}.log",
                env,
            )
        )
    try:
        deadline = time.monotonic() + 120
        while _alive_workers(webui) < WORKERS:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                logs = "\n".join(f"--- {f.name}\n{f.read_text()[-2000:]}" for f in sorted(work.glob("*.log")))
                pytest.fail(f"Spark standalone cluster did not come up with {WORKERS} workers\n{logs}")
            time.sleep(0.5)
        yield master_url, webui
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


def _cluster_apps(webui_port: int) -> list[dict]:
    """Applications the master has seen (running or finished)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{webui_port}/json/", timeout=5) as resp:
        state = json.load(resp)
    return state.get("activeapps", []) + state.get("completedapps", [])


def test_batch_job_runs_on_a_standalone_cluster_with_two_workers(spark_cluster, rees46_sample, tmp_path):
    import pandas as pd
    import psycopg

    master_url, webui = spark_cluster
    schema = f"cluster_{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if k != "USER_EVENTS_SPARK_REMOTE"},  # this process's own driver
        "USER_EVENTS_SPARK_MASTER": master_url,
        "USER_EVENTS_RAW_CSV": str(rees46_sample),
        "USER_EVENTS_PG_SCHEMA": schema,
        "USER_EVENTS_BATCH_DIR": str(tmp_path / "batch"),  # one machine: the workers share the local disk
        "SPARK_LOCAL_IP": "127.0.0.1",
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "PYSPARK_SUBMIT_ARGS": f"--conf spark.executor.memory=512m --conf spark.cores.max={WORKERS} pyspark-shell",
    }
    (tmp_path / "dagster_home").mkdir()
    cmd = [
        str(Path(sys.executable).parent / "dagster"),
        "job",
        "execute",
        "-m",
        "user_events.definitions",
        "-j",
        "batch_job",
    ]
    result = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]

    apps = _cluster_apps(webui)
    assert any(a.get("name") == "user_events" for a in apps), apps
    raw = pd.read_csv(rees46_sample, dtype=str, keep_default_na=False)
    with psycopg.connect(os.environ["USER_EVENTS_PG_URL"], autocommit=True) as conn:
        loaded = conn.execute(f'SELECT count(*) FROM "{schema}".user_events').fetchone()[0]
        by_type = dict(conn.execute(f'SELECT event_type, count(*) FROM "{schema}".user_events GROUP BY 1').fetchall())
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    deduped = raw.drop_duplicates()
    assert loaded == len(deduped)
    assert by_type == deduped["event_type"].value_counts().to_dict()
