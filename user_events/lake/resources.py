"""The `lake` resource: which topic's S3 objects the hourly loads read, where they keep their Parquet, and the
hourly reject-rate threshold. A field left unset is read, when used, from its variable in `config.settings()`."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from user_events.config import settings


class LakeSettings(dg.ConfigurableResource):
    topic: str | None = Field(
        default=None, description="Events topic whose lake objects are loaded; unset -> USER_EVENTS_TOPIC."
    )
    lake_dir: str | None = Field(
        default=None, description="Root of the hourly loads' Parquet; unset -> USER_EVENTS_LAKE_DIR (.data/lake)."
    )
    max_reject_rate: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Threshold of the blocking hourly reject-rate check; unset -> USER_EVENTS_MAX_REJECT_RATE (0.05).",
    )

    def topic_name(self) -> str:
        return self.topic or settings().topic

    def root(self) -> Path:
        # absolute: a Spark Connect server would resolve a relative path against its own working directory
        return (Path(self.lake_dir) if self.lake_dir else settings().lake_path).absolute()
