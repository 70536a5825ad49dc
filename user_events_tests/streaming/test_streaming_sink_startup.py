"""A restarted sink is storing again within seconds only if its process starts fast: the `user-events sink`
path (the console script's parser, both sinks and the clients they build) must not import Dagster, whose
import alone takes seconds, several times that under load (docs/streaming.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("dagster", "dagster_aws", "pyspark", "pandas")

SINK_PATH = """
import json, sys
from user_events.cli import build_parser
from user_events.streaming.cli import build_sink
args = build_parser().parse_args(["sink", "mongo", "--until-idle", "1"])
mongo = build_sink("mongo", "t")
s3 = build_sink("s3", "t")
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & {heavy})))
"""


@pytest.mark.unit
def test_the_sink_command_and_both_sinks_start_without_importing_dagster(monkeypatch):
    # clients are built lazily: no broker, database or object store is contacted to build them
    monkeypatch.setenv("USER_EVENTS_MONGO_URI", "mongodb://127.0.0.1:1")
    code = SINK_PATH.format(heavy=set(HEAVY))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert imported == [], f"the sink path imports {imported}"
