"""A newcomer's first steps, as the README gives them, on a clone in a private directory with nothing beside it.

The clone lives in a fresh directory of mode 700 (as root: one the `postgres` system user cannot enter, like a
home directory), with no `../shared` beside it. There `make services-up` must start every service, the tests
that use real-shaped data must pass on the generated sample that stands in for the shared REES46 one, and
`make services-down` must leave nothing of the clone running. Deleting the clone and cloning again at the same
path must work too: nothing of the first clone (a cluster kept outside it) may outlive it and refuse the second.

It runs the inner suite with the clone's own `make`, so it takes minutes: marked `fresh_clone`, and excluded
from the inner run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from user_events.config import PROJECT_ROOT
from user_events_tests.devservices.support import processes_using

pytestmark = [pytest.mark.fresh_clone, pytest.mark.timeout(3600)]

# what points a process at this checkout's services or instance; the clone must find its own
INHERITED_PREFIXES = ("USER_EVENTS_", "AWS_", "DAGSTER_", "PYTEST_", "SPARK_")
INHERITED_NAMES = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}


def newcomer_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_PREFIXES) and k not in INHERITED_NAMES}


def run(argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=newcomer_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tail(result: subprocess.CompletedProcess, lines: int = 60) -> str:
    return "\n".join((result.stdout + "\n" + result.stderr).strip().splitlines()[-lines:])


def clone_into(path: Path) -> None:
    result = run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(path)], path.parent, 300)
    assert result.returncode == 0, tail(result)


def outside_clusters(clone: Path) -> list[Path]:
    """Where the clone's PostgreSQL cluster lives when it is not inside the clone (a symlink points there)."""
    link = clone / ".data" / "services" / "postgres" / "data"
    return [link.resolve()] if link.is_symlink() else []


def services_down(clone: Path) -> None:
    result = run(["make", "services-down"], clone, 300)
    assert result.returncode == 0, tail(result)


@pytest.fixture
def private_dir():
    path = Path(tempfile.mkdtemp(prefix="user_events-newcomer-"))
    assert path.stat().st_mode & 0o777 == 0o700
    yield path
    clone = path / "user_events"
    if (clone / "Makefile").exists():
        run(["make", "clean"], clone, 300)
    shutil.rmtree(path, ignore_errors=True)


def test_fresh_private_clone_passes_services_up_and_the_real_shaped_data_tests(private_dir):
    clone = private_dir / "user_events"
    clone_into(clone)
    assert not (private_dir / "shared").exists()

    up = run(["make", "services-up"], clone, 1800)
    assert up.returncode == 0, tail(up)
    assert "up in" in up.stdout

    tests = run(["make", "test", "PYTEST_ARGS=-m 'rees46_sample and not fresh_clone' -p no:cacheprovider"], clone, 3000)
    assert tests.returncode == 0, tail(tests, 120)
    summary = re.findall(r"=+ (.*) in [\d.]+s", tests.stdout)
    assert summary and re.search(r"\d+ passed", summary[-1]) and "failed" not in summary[-1], tail(tests)
    assert int(re.search(r"(\d+) passed", summary[-1]).group(1)) >= 10, summary[-1]
    assert "generated REES46-shaped sample" in tests.stdout, "the tests did not use the generated sample"

    outside = outside_clusters(clone)
    services_down(clone)
    assert processes_using(clone, *outside) == []

    # the same path again, after the first clone is gone with everything in it
    shutil.rmtree(clone)
    clone_into(clone)
    again = run(["make", "services-up"], clone, 1800)
    assert again.returncode == 0, tail(again)
    outside_again = outside_clusters(clone)
    services_down(clone)
    assert processes_using(clone, *outside, *outside_again) == []
    assert all(not p.exists() for p in outside if p not in outside_again), "the first clone's cluster outlived it"
