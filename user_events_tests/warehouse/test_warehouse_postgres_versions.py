"""The tests run against the oldest PostgreSQL the README supports, so every supported version is at least as
capable as the one the tests saw."""

from __future__ import annotations

import re

from user_events.config import PROJECT_ROOT


def oldest_supported_postgres() -> int:
    """The major version of the README's "Supported PostgreSQL versions": `PostgreSQL <N> and later`."""
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text.split("## Supported PostgreSQL versions", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"PostgreSQL ([0-9]+) and later", section)
    assert found, "the README's supported-versions section names no oldest version"
    return int(found[1])


def test_the_tests_warehouse_runs_the_oldest_supported_postgresql(pg_conn):
    assert pg_conn.info.server_version // 10000 == oldest_supported_postgres()
