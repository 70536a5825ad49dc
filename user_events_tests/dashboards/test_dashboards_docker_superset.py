"""The Docker stack's Superset (validated with `docker compose config`, no Docker engine): the official image
extended with the MongoDB driver, provisioned from the same bundle at start, reading as the reader role whose
password reaches it only through the environment; the reader role made by the PostgreSQL init scripts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from user_events.config import PROJECT_ROOT
from user_events.devservices.core import services_dir
from user_events.warehouse.access import READER_ROLE
from user_events_tests.test_docker_compose import SECRETS, compose_config


def test_compose_superset_is_provisioned_from_the_bundle_with_the_reader_role():
    result = compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    svc = json.loads(result.stdout)["services"]["superset"]
    env = svc["environment"]
    assert svc["build"]["dockerfile"].endswith("docker/superset/Dockerfile")
    assert "provision.py" in " ".join(svc["command"]) and "initialise.py" in " ".join(svc["command"])
    assert env["USER_EVENTS_PG_URL"] == "postgresql://user_events_reader@postgres:5432/user_events"  # no password
    assert env["USER_EVENTS_SUPERSET_READER_PASSWORD"] == SECRETS["USER_EVENTS_PG_READER_PASSWORD"]
    assert env["SUPERSET_SECRET_KEY"] == SECRETS["USER_EVENTS_SUPERSET_SECRET_KEY"]
    assert {d: c["condition"] for d, c in svc["depends_on"].items()} == {
        "postgres": "service_healthy",
        "mongo": "service_healthy",
    }
    dockerfile = (PROJECT_ROOT / "docker" / "superset" / "Dockerfile").read_text()
    assert "pymongosql==0.7.4" in dockerfile and "user_events/dashboards/bundle/" in dockerfile
    init = (PROJECT_ROOT / "docker" / "postgres-init" / "20-dashboards-reader.sh").read_text()
    assert "CREATE ROLE user_events_reader" in init and "ALTER DEFAULT PRIVILEGES FOR ROLE user_events" in init
    assert "GRANT SELECT ON ALL TABLES" in init and "GRANT CREATE" not in init and "GRANT ALL" not in init


def replay_dockerfile_copies(app_dir: Path) -> None:
    """The Superset Dockerfile's `COPY <repo path> /app/<path>` lines, replayed into `app_dir`."""
    dockerfile = (PROJECT_ROOT / "docker" / "superset" / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[0] != "COPY" or not parts[2].startswith("/app/"):
            continue
        src, dest = PROJECT_ROOT / parts[1], app_dir / parts[2].removeprefix("/app/")
        if src.is_dir():
            shutil.copytree(src, dest)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest)


def test_the_image_provisioning_script_runs_in_superset_s_own_environment(kpi_warehouse, tmp_path):
    """provision.py as the image holds it (only what the Dockerfile copies), run by Superset's own Python
    (the local Superset venv: Superset 6.1 with the image's extra pins), provisions the running Superset."""
    replay_dockerfile_copies(tmp_path)
    superset_python = services_dir() / "superset" / "venv" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USER_EVENTS_", "PYTHON"))}
    env.update(
        {
            k: os.environ[k]
            for k in ("USER_EVENTS_SUPERSET_URL", "USER_EVENTS_SUPERSET_USER", "USER_EVENTS_SUPERSET_PASSWORD")
        }
    )
    # the placement the session's dashboards already have, so the other tests still read their schema
    pg = urlsplit(kpi_warehouse.pg_url)
    env.update(
        USER_EVENTS_PG_URL=f"postgresql://{READER_ROLE}@{pg.hostname}:{pg.port}{pg.path}",
        USER_EVENTS_PG_SCHEMA=kpi_warehouse.schema,
        USER_EVENTS_MONGO_URI=os.environ.get("USER_EVENTS_MONGO_URI", ""),
        USER_EVENTS_MONGO_DB=os.environ.get("USER_EVENTS_MONGO_DB", ""),
        USER_EVENTS_SUPERSET_WAIT="30",
    )
    run = subprocess.run(
        [str(superset_python), str(tmp_path / "user_events_dashboards" / "provision.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "provisioned dashboard kpis" in run.stdout and "provisioned dashboard live" in run.stdout


def superset_config_reader(config_file: Path) -> str:
    """READER_USER of a superset_config.py, loaded by a fresh Python as Superset loads it."""
    env = {**os.environ, "SUPERSET_SECRET_KEY": "x" * 32, "SUPERSET_METADATA_URI": "sqlite://"}
    env["USER_EVENTS_SUPERSET_READER_USER"] = "someone_else"  # no variable renames the role on one side only
    code = (
        "import importlib.util, sys; spec = importlib.util.spec_from_file_location('superset_config', sys.argv[1]); "
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); print(m.READER_USER)"
    )
    run = subprocess.run([sys.executable, "-c", code, str(config_file)], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_superset_s_config_reads_the_reader_role_from_its_one_home(tmp_path):
    """The password store hands the reader's password to READER_ROLE's connections, in the repository's
    config (the local Superset) and in the image's copy alike: no second spelling of the role to drift."""
    assert superset_config_reader(PROJECT_ROOT / "user_events" / "dashboards" / "server" / "superset_config.py") == (
        READER_ROLE
    )
    replay_dockerfile_copies(tmp_path)
    assert superset_config_reader(tmp_path / "user_events_dashboards" / "server" / "superset_config.py") == READER_ROLE
