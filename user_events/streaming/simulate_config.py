"""The simulator's options, declared once: `user-events simulate`'s flags and simulate_job's Dagster config
are derived from `SimulateConfig` (see `user_events.options`). Light: the command parses flags with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from user_events.generator import DEFAULT_SEED
from user_events.options import option
from user_events.streaming.kafka_io import DEFAULT_PARTITIONS

TIME_MODES = ("live", "replay")


def parse_start(text: str | None) -> datetime | None:
    """An ISO time (Z, offset, or naive = UTC) for SimulateConfig.start."""
    if not text:
        return None
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass
class SimulateConfig:
    topic: str | None = option(None, help="topic (default $USER_EVENTS_TOPIC or user_activity)")
    rate: float = option(1000.0, help="events per second; 0 = as fast as possible (default 1000)")
    # the CLI needs --count or --duration to stop; a Dagster run publishes 10,000 events unless told otherwise
    count: int | None = option(None, help="number of events to publish", exclusive="stop", dagster_default=10_000)
    duration: float | None = option(
        None, help="seconds to publish for", exclusive="stop", dagster_name="duration_seconds"
    )
    seed: int = option(DEFAULT_SEED, help=f"generator seed (default {DEFAULT_SEED})")
    from_csv: str | None = option(None, metavar="PATH", help="replay this raw CSV instead of generating")
    time_mode: str = option(
        "live",
        choices=TIME_MODES,
        help="live: event_time = publication time (default); replay: keep the source's times",
    )
    start: datetime | None = option(
        None,
        text_type=str,
        parse=parse_start,
        help="first simulated time of generated events in replay mode (ISO)",
    )
    partitions: int = option(DEFAULT_PARTITIONS, help="partitions when creating the topic")
    progress_seconds: float = option(5.0, dagster=False)
