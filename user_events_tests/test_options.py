"""Pure tests of one-declaration options: the CLI flags and the Dagster config derived from one dataclass,
and the simulator's options as the contract and the existing run configs spell them."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from user_events.options import add_arguments, dagster_config, from_arguments, from_dagster_config, option
from user_events.streaming.simulate_config import SimulateConfig

pytestmark = pytest.mark.unit


@dataclass
class Example:
    name: str | None = option(None, help="a name")
    size: int = option(3, help="how many", dagster_default=10)
    seconds: float | None = option(None, flag="--secs", dagster_name="seconds_total", exclusive="stop")
    limit: int | None = option(None, exclusive="stop")
    when: datetime | None = option(None, text_type=str, parse=lambda t: t and datetime.fromisoformat(t))
    verbose_cli_only: str = option("INFO", dagster=False)
    dagster_only: float = option(60.0, cli=False)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="example")
    add_arguments(p, Example)
    return p


def test_flags_types_and_defaults_come_from_the_fields():
    args = parser().parse_args(["--size", "7", "--secs", "1.5", "--when", "2019-11-01T00:00:00+00:00"])
    assert (args.name, args.size, args.seconds, args.limit, args.verbose_cli_only) == (None, 7, 1.5, None, "INFO")
    assert not hasattr(args, "dagster_only")
    built = from_arguments(Example, args, name="given")
    assert built == Example(
        name="given", size=7, seconds=1.5, when=datetime(2019, 11, 1, tzinfo=UTC), dagster_only=60.0
    )


def test_exclusive_options_cannot_be_given_together():
    with pytest.raises(SystemExit):
        parser().parse_args(["--secs", "1", "--limit", "2"])


def test_the_dagster_config_has_its_own_names_and_defaults():
    config_cls = dagster_config(Example, "ExampleConfig")
    fields = {k: (v.annotation, v.default) for k, v in config_cls.model_fields.items()}
    assert fields == {
        "name": (str | None, None),
        "size": (int, 10),
        "seconds_total": (float | None, None),
        "limit": (int | None, None),
        "when": (str | None, None),
        "dagster_only": (float, 60.0),
    }
    config = config_cls(seconds_total=2.0, when="2019-11-01T01:00:00+00:00")
    assert from_dagster_config(Example, config) == Example(
        size=10, seconds=2.0, when=datetime(2019, 11, 1, 1, tzinfo=UTC)
    )


def test_the_simulators_flags_are_the_contracts():
    p = argparse.ArgumentParser()
    add_arguments(p, SimulateConfig)
    flags = {a.option_strings[0]: a.default for a in p._actions if a.option_strings and a.dest != "help"}
    assert flags == {
        "--topic": None,
        "--rate": 1000.0,
        "--count": None,
        "--duration": None,
        "--seed": 20191101,
        "--from-csv": None,
        "--time-mode": "live",
        "--start": None,
        "--partitions": 3,
        "--progress-seconds": 5.0,
    }
    args = p.parse_args(["--count", "5", "--time-mode", "replay", "--start", "2019-11-01T00:00:00Z"])
    cfg = from_arguments(SimulateConfig, args, topic="t")
    assert (cfg.count, cfg.time_mode, cfg.start) == (5, "replay", datetime(2019, 11, 1, tzinfo=UTC))
    with pytest.raises(SystemExit):
        p.parse_args(["--time-mode", "later"])


def test_the_simulate_job_config_keeps_its_field_names_and_defaults():
    config_cls = dagster_config(SimulateConfig, "SimulateConfig")
    fields = {k: v.default for k, v in config_cls.model_fields.items()}
    assert fields == {
        "topic": None,
        "rate": 1000.0,
        "count": 10_000,
        "duration_seconds": None,
        "seed": 20191101,
        "from_csv": None,
        "time_mode": "live",
        "start": None,
        "partitions": 3,
    }
    cfg = from_dagster_config(SimulateConfig, config_cls(duration_seconds=3.0), topic="t")
    assert (cfg.duration, cfg.count, cfg.progress_seconds) == (3.0, 10_000, 5.0)


def test_the_sink_commands_flags_are_as_before():
    from user_events.streaming.sink_options import SinkOptions

    p = argparse.ArgumentParser()
    add_arguments(p, SinkOptions)
    flags = {a.option_strings[0]: a.default for a in p._actions if a.option_strings and a.dest != "help"}
    assert flags == {
        "--topic": None,
        "--until-idle": None,
        "--assignment-timeout": 90.0,
        "--max-seconds": None,
        "--progress-seconds": 10.0,
        "--batch-size": None,
        "--rotate-seconds": 60.0,
        "--flush-records": 1000,
        "--partitions": 3,
        "--log-level": "INFO",
    }


def test_the_sink_job_configs_keep_their_field_names_and_defaults():
    from user_events.streaming.definitions import S3SinkConfig, SinkConfig

    common = {
        "until_idle_seconds": None,
        "assignment_timeout_seconds": 90.0,
        "max_seconds": None,
        "batch_size": None,
        "topic": None,
        "partitions": 3,
        "progress_seconds": 10.0,
        "report_interval_seconds": 60.0,
    }
    assert {k: v.default for k, v in SinkConfig.model_fields.items()} == common
    s3 = {k: v.default for k, v in S3SinkConfig.model_fields.items()}
    assert s3 == {**common, "rotate_seconds": 60.0, "flush_records": 1000, "grace_seconds": 300.0}
    assert issubclass(S3SinkConfig, SinkConfig)
