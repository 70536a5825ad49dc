"""The Docker stack's Superset (validated with `docker compose config`, no Docker engine): the official image
extended with the MongoDB driver, provisioned from the same bundle at start, reading as the reader role whose
password reaches it only through the environment; the reader role made by the PostgreSQL init scripts."""

from __future__ import annotations

import json

from user_events.config import PROJECT_ROOT
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
