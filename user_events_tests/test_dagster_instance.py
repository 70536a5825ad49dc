"""The instance `user-events batch` runs in: .data/dagster_home with Dagster's telemetry turned off the
supported way (its dagster.yaml), so no run prints the telemetry banner; a DAGSTER_HOME of the user's own is
used as it is."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from user_events.dagster_instance import TELEMETRY_OFF

pytestmark = pytest.mark.unit

BANNER = "Telemetry:"
# one in-process run on the instance local_instance() chose, as `user-events batch` runs batch_job
ONE_RUN = """
import dagster as dg
from user_events.dagster_instance import local_instance

@dg.asset
def one() -> int:
    return 1

instance = local_instance()
assert dg.materialize([one], instance=instance).success
print("telemetry_enabled", instance.telemetry_enabled)
"""


def run_once(tmp_path, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    environ.update(USER_EVENTS_DATA_DIR=str(tmp_path / "data"), HOME=str(tmp_path / "home"), **env)
    return subprocess.run(
        [sys.executable, "-c", ONE_RUN], env=environ, capture_output=True, text=True, timeout=300, check=True
    )


def test_the_batch_instance_under_data_dir_has_telemetry_off(tmp_path):
    first, second = run_once(tmp_path), run_once(tmp_path)
    home = tmp_path / "data" / "dagster_home"
    assert (home / "dagster.yaml").read_text() == TELEMETRY_OFF
    for run in (first, second):
        assert "telemetry_enabled False" in run.stdout
        assert BANNER not in run.stdout + run.stderr


def test_a_dagster_home_of_the_users_own_is_left_as_it_is(tmp_path):
    own = tmp_path / "own_home"
    own.mkdir()
    run = run_once(tmp_path, DAGSTER_HOME=str(own))
    assert not (own / "dagster.yaml").exists()
    assert not (tmp_path / "data" / "dagster_home").exists()
    # Dagster's default for an instance without the opt-out: the banner this project's instance no longer shows
    assert "telemetry_enabled True" in run.stdout
    assert BANNER in run.stdout + run.stderr
