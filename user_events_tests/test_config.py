"""Pure tests of the typed settings (user_events.config): defaults, one meaning of unset, clear type errors, and
the README's configuration table in step with Settings and with the variables the code names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices, SecretStr

from user_events.config import PROJECT_ROOT, ConfigError, Settings, field_of, settings, variable_name

pytestmark = pytest.mark.unit

README = PROJECT_ROOT / "README.md"
# USER_EVENTS_* names in user_events/ that are not environment variables
NOT_VARIABLES = {"USER_EVENTS_TABLE"}  # schema.py's TableSpec of the user_events table


@pytest.fixture()
def clean_env(monkeypatch):
    """No USER_EVENTS_* / AWS region or secret variable set (the defaults apply)."""
    import os

    for name in list(os.environ):
        if name.startswith("USER_EVENTS_") or name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(name)
    return monkeypatch


def variables_of(field: str) -> list[str]:
    alias = Settings.model_fields[field].validation_alias
    return [str(a) for a in alias.choices] if isinstance(alias, AliasChoices) else [variable_name(field)]


def readme_rows() -> dict[str, str]:
    """variable -> its default cell, from the table under `## Configuration`."""
    section = README.read_text().split("## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]):
            rows[name] = cells[1]
    return rows


def test_defaults_are_the_contracts(clean_env):
    s = settings()
    # the contract's defaults (/work/shared/CONTRACT.md), written out here, not read from the code
    assert s.pg_url is None and s.pg_schema == "public" and s.raw_csv is None
    assert s.spark_master == "local[*]" and s.kafka_bootstrap == "localhost:9092" and s.kafka_config is None
    assert s.topic == "user_activity" and s.mongo_db == "user_events" and s.s3_bucket == "ecom-user-events"
    assert s.mongo_uri.get_secret_value() == "mongodb://localhost:27017" and s.s3_endpoint is None
    # and the project's own
    assert s.max_reject_rate == 0.05 and s.hourly_start == "2019-10-01-00:00"
    assert (s.hourly_grace_seconds, s.hourly_lookback_hours) == (300.0, 48.0)
    assert s.data_dir == PROJECT_ROOT / ".data"
    assert s.batch_path == PROJECT_ROOT / ".data" / "batch" and s.lake_path == PROJECT_ROOT / ".data" / "lake"
    assert (s.spark_shuffle_partitions, s.spark_ui, s.spark_driver_memory) == (8, False, "2g")
    assert s.dagster_url == "http://127.0.0.1:3000"
    assert (s.superset_workers, s.superset_threads, s.superset_public) == (3, 4, False)


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_empty_or_blank_is_unset(clean_env, blank):
    for name in ("USER_EVENTS_TOPIC", "USER_EVENTS_PG_URL", "USER_EVENTS_MAX_REJECT_RATE", "USER_EVENTS_SPARK_MASTER"):
        clean_env.setenv(name, blank)
    clean_env.setenv("USER_EVENTS_PG_PORT", blank)
    s = settings()
    assert s.topic == "user_activity" and s.pg_url is None and s.max_reject_rate == 0.05
    assert s.spark_master == "local[*]" and s.pg_port is None
    assert not s.is_set("topic") and not s.is_set("spark_master")


def test_set_values_are_typed(clean_env, tmp_path):
    clean_env.setenv("USER_EVENTS_MAX_REJECT_RATE", "0.2")
    clean_env.setenv("USER_EVENTS_PG_PORT", "5544")
    clean_env.setenv("USER_EVENTS_SPARK_UI", "true")
    clean_env.setenv("USER_EVENTS_DATA_DIR", str(tmp_path))
    clean_env.setenv("USER_EVENTS_LAKE_DIR", str(tmp_path / "elsewhere"))
    clean_env.setenv("USER_EVENTS_KAFKA_BOOTSTRAP", "broker:9093")
    clean_env.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    s = settings()
    assert s.max_reject_rate == 0.2 and s.pg_port == 5544 and s.spark_ui is True
    assert s.batch_path == tmp_path / "batch" and s.lake_path == tmp_path / "elsewhere"
    assert s.kafka_bootstrap == "broker:9093" and s.is_set("kafka_bootstrap")
    assert s.aws_region == "eu-west-1"
    clean_env.setenv("AWS_REGION", "us-west-2")  # the first of the two wins
    assert settings().aws_region == "us-west-2"


def test_the_environment_is_read_at_each_call(clean_env):
    assert settings().topic == "user_activity"
    clean_env.setenv("USER_EVENTS_TOPIC", "other")
    assert settings().topic == "other"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("USER_EVENTS_MAX_REJECT_RATE", "abc", "valid number"),
        ("USER_EVENTS_MAX_REJECT_RATE", "1.5", "less than or equal to 1"),
        ("USER_EVENTS_PG_PORT", "x", "valid integer"),
        ("USER_EVENTS_SPARK_UI", "maybe", "valid boolean"),
        ("USER_EVENTS_HOURLY_GRACE_SECONDS", "-1", "greater than or equal to 0"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_variable(clean_env, name, value, says):
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        settings()
    message = str(err.value)
    assert f"{name}={value!r}" in message and says in message, message


def test_secrets_are_secret_and_never_shown(clean_env):
    clean_env.setenv("USER_EVENTS_PG_URL", "postgresql://u:Pa55word@h:5432/d")
    clean_env.setenv("USER_EVENTS_SUPERSET_PASSWORD", "Sup3rSecret")
    s = settings()
    assert isinstance(s.pg_url, SecretStr) and isinstance(s.superset_password, SecretStr)
    assert s.pg_url.get_secret_value() == "postgresql://u:Pa55word@h:5432/d"
    shown = repr(s) + str(s)
    assert "Pa55word" not in shown and "Sup3rSecret" not in shown
    for field in ("pg_url", "mongo_uri", "dagster_pg_url", "superset_password", "superset_reader_password"):
        assert "SecretStr" in str(Settings.model_fields[field].annotation), field


def test_variable_names_and_fields_map_both_ways():
    assert variable_name("pg_url") == "USER_EVENTS_PG_URL" and field_of("USER_EVENTS_PG_URL") == "pg_url"
    assert variable_name("aws_region") == "AWS_REGION"
    for field in Settings.model_fields:
        assert field_of(variable_name(field)) == field
    with pytest.raises(KeyError):
        field_of("USER_EVENTS_NO_SUCH_THING")


def test_every_field_is_described():
    undocumented = [f for f, info in Settings.model_fields.items() if not (info.description or "").strip()]
    assert undocumented == []


def test_readme_table_settings_and_code_agree():
    in_settings = {name for field in Settings.model_fields for name in variables_of(field)}
    in_readme = readme_rows()
    named_in_code = {
        name
        for path in sorted((PROJECT_ROOT / "user_events").rglob("*.py"))
        for name in re.findall(r"USER_EVENTS_[A-Z0-9_]+", path.read_text())
    } - NOT_VARIABLES
    assert set(in_readme) == in_settings, set(in_readme) ^ in_settings
    # every variable the code names (reads, messages, docstrings) is a setting: none is read beside Settings
    # (the Superset server's files read theirs directly, and they are settings too)
    assert named_in_code - in_settings == set()
    assert "USER_EVENTS_MAX_REJECT_RATE" in named_in_code  # the grep sees the code


def default_text(field: str) -> str | None:
    value = Settings.model_fields[field].default
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Path):
        return str(value.relative_to(PROJECT_ROOT))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_readme_defaults_are_the_settings_defaults():
    rows = readme_rows()
    wrong = {}
    for field in Settings.model_fields:
        expected = default_text(field)
        for name in variables_of(field):
            cell = rows[name]
            ok = cell.startswith("unset") if expected is None else cell.startswith(f"`{expected}`")
            if not ok:
                wrong[name] = (cell, expected)
    assert wrong == {}


def test_a_command_reports_a_bad_setting_in_one_line(monkeypatch):
    import subprocess
    import sys

    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("USER_EVENTS_")}
    env["USER_EVENTS_HOURLY_LOOKBACK_HOURS"] = "two days"
    proc = subprocess.run(
        [sys.executable, "-m", "user_events.cli", "simulate", "--help"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr  # importing never fails on a bad value: only what uses it does
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from user_events.cli import main; raise SystemExit(main(['backfill', '--from', "
            "'2019-11-01-00:00', '--to', '2019-11-01-00:00']))",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "USER_EVENTS_HOURLY_LOOKBACK_HOURS='two days'" in proc.stderr and "Traceback" not in proc.stderr
