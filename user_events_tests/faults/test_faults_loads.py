"""PostgreSQL or the Spark Connect server dies or stalls under `user-events batch` (issue 28's matrix: the batch
workload's cells).

`user-events batch` loads a generated file. Once its COPY into user_events is under way, PostgreSQL's process
group is either SIGKILLed and brought back 15 s later by `python -m user_events.devservices up postgres`, or
stalled (SIGSTOP for 20 s, then SIGCONT); or, while Spark parses and validates the rows, the Spark Connect
server is SIGKILLed and brought back 15 s later. The run must complete by itself (the step that lost its server
is retried with back-off) and leave the six tables exactly as an undisturbed run of the same file does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid

import psycopg
import pytest

from user_events.config import PROJECT_ROOT
from user_events.schema import WAREHOUSE_TABLES
from user_events_tests.faults.support import devservices_up, kill_and_bring_back, service_group, stall

pytestmark = pytest.mark.faults
ROWS = 1_000_000
OUTAGE_SECONDS = 15
# columns that say when a row was loaded, not what was loaded
LOAD_TIME_COLUMNS = {"rejected_at"}
FAULTS = {"kill": lambda: kill_and_bring_back("postgres", OUTAGE_SECONDS), "stall": lambda: stall("postgres")}


def pg_url() -> str:
    url = os.environ.get("USER_EVENTS_PG_URL", "")
    if not url:
        pytest.skip("needs the PostgreSQL of `make services-up` (USER_EVENTS_PG_URL)")
    return url


def start_batch(raw_csv, schema: str, tmp_path, log_name: str) -> tuple[subprocess.Popen, object]:
    env = dict(
        os.environ,
        USER_EVENTS_RAW_CSV=str(raw_csv),
        USER_EVENTS_PG_SCHEMA=schema,
        USER_EVENTS_BATCH_DIR=str(tmp_path / f"batch-{schema}"),
    )
    log = tmp_path / log_name
    proc = subprocess.Popen(
        [sys.executable, "-m", "user_events.cli", "batch"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    return proc, log


def table_digests(url: str, schema: str) -> dict[str, tuple[int, str]]:
    """Per table: its row count and an md5 over its rows in a fixed order (load times left out)."""
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for spec in WAREHOUSE_TABLES:
            cols = ", ".join(f'"{c}"' for c in spec.column_names if c not in LOAD_TIME_COLUMNS)
            row = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) "
                f'FROM (SELECT row({cols})::text AS r FROM "{schema}"."{spec.name}") t'
            ).fetchone()
            out[spec.name] = (row[0], row[1])
    return out


def drop_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def copy_under_way(url: str, schema: str) -> bool:
    with contextlib.suppress(psycopg.OperationalError):
        with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
            return bool(
                conn.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query ILIKE %s",
                    (f'COPY "{schema}"."user_events"%',),
                ).fetchone()
            )
    return False


@pytest.fixture(scope="module")
def raw_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults") / "raw.csv"
    subprocess.run(
        [sys.executable, "-m", "user_events.cli", "generate", "--rows", str(ROWS), "--out", str(path)],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )
    return path


@pytest.fixture(scope="module")
def undisturbed(raw_csv, tmp_path_factory):
    """The six tables' digests after a run of the same file that no fault touched."""
    url, schema = pg_url(), f"faults_ref_{uuid.uuid4().hex[:8]}"
    tmp = tmp_path_factory.mktemp("undisturbed")
    proc, log = start_batch(raw_csv, schema, tmp, "batch.log")
    assert proc.wait(900) == 0, log.read_text()[-3000:]
    yield table_digests(url, schema)
    drop_schema(url, schema)


@pytest.fixture
def postgres_back_up():
    yield
    with contextlib.suppress(OSError, ValueError, FileNotFoundError):
        os.killpg(service_group("postgres"), signal.SIGCONT)
    devservices_up("postgres")  # the next tests find it running, whatever happened


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_postgres_failing_mid_copy_the_batch_completes_as_if_undisturbed(
    fault, raw_csv, undisturbed, tmp_path, postgres_back_up
):
    url, schema = pg_url(), f"faults_{fault}_{uuid.uuid4().hex[:8]}"
    proc, log = start_batch(raw_csv, schema, tmp_path, "batch.log")
    try:
        deadline = time.monotonic() + 600
        while not copy_under_way(url, schema):
            assert proc.poll() is None, "the run ended before its COPY: " + log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no COPY into user_events within 600 s"
            time.sleep(0.05)
        FAULTS[fault]()
        back = time.monotonic()
        assert proc.wait(600) == 0, log.read_text()[-3000:]
        print(f"postgres {fault}: the run finished {time.monotonic() - back:.1f}s after the server's return")
        if fault == "kill":
            assert "retrying the step" in log.read_text(), log.read_text()[-3000:]
        assert table_digests(url, schema) == undisturbed
    finally:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(psycopg.OperationalError):
            drop_schema(url, schema)


@pytest.fixture
def spark_back_up():
    yield
    devservices_up("spark")


def test_spark_connect_killed_mid_parse_the_batch_completes_as_if_undisturbed(
    raw_csv, undisturbed, tmp_path, spark_back_up
):
    if not os.environ.get("USER_EVENTS_SPARK_REMOTE"):
        pytest.skip("needs the Spark Connect server of `make services-up` (USER_EVENTS_SPARK_REMOTE)")
    url, schema = pg_url(), f"faults_spark_{uuid.uuid4().hex[:8]}"
    proc, log = start_batch(raw_csv, schema, tmp_path, "batch.log")
    try:
        deadline = time.monotonic() + 600
        while "parsing and validating" not in log.read_text():
            assert proc.poll() is None, "the run ended before parsing: " + log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no parsing within 600 s"
            time.sleep(0.2)
        time.sleep(3)  # inside the Spark job that parses, validates and writes the typed events
        kill_and_bring_back("spark", OUTAGE_SECONDS)
        back = time.monotonic()
        assert proc.wait(600) == 0, log.read_text()[-3000:]
        print(f"spark kill: the run finished {time.monotonic() - back:.1f}s after the server's return")
        assert "retrying the step" in log.read_text(), log.read_text()[-3000:]
        assert table_digests(url, schema) == undisturbed
    finally:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(psycopg.OperationalError):
            drop_schema(url, schema)
