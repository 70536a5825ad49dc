"""The Dagster instance `user-events batch` records its runs in: $DAGSTER_HOME, else the one `make dev` uses
(.data/dagster_home, so its UI shows these runs) with telemetry off; a temporary instance when the configured
one cannot be used."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import dagster as dg

from user_events.progress import PROGRESS_LOGGER

DAGSTER_HOME_DIR = "dagster_home"
# Dagster's supported opt-out: without it every new instance prints the telemetry banner
TELEMETRY_OFF = "telemetry:\n  enabled: false\n"


def default_dagster_home() -> Path:
    from user_events.config import settings

    return settings().data_dir / DAGSTER_HOME_DIR


def ensure_instance_config(home: Path) -> Path:
    """The home's dagster.yaml, written with telemetry off when the home has none (`make dev` copies the
    project's over it, which turns telemetry off too)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() and not (home / "dagster.yml").exists():
        config.write_text(TELEMETRY_OFF)
    return config


def local_instance() -> dg.DagsterInstance:
    """The instance at $DAGSTER_HOME (as its owner configured it), else at .data/dagster_home (DAGSTER_HOME
    set to it for this process, its dagster.yaml written when missing)."""
    if not os.environ.get("DAGSTER_HOME"):
        home = default_dagster_home()
        ensure_instance_config(home)
        os.environ["DAGSTER_HOME"] = str(home)
    try:
        return dg.DagsterInstance.get()
    except Exception as exc:  # e.g. a dagster.yaml for PostgreSQL storage whose server is not up
        logging.getLogger(PROGRESS_LOGGER).info(
            f"Dagster instance at {os.environ['DAGSTER_HOME']} unusable ({type(exc).__name__}); using a temporary one"
        )
        return dg.DagsterInstance.ephemeral()
