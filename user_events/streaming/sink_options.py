"""The sinks' options, declared once: `user-events sink`'s flags and the Dagster configs of mongo_sink_job
and s3_sink_job are derived from `SinkOptions` (see `user_events.options`), and the sinks' own defaults are
these. Light: the command parses flags with it before it imports the sinks."""

from __future__ import annotations

from dataclasses import dataclass

from user_events.options import option
from user_events.streaming.kafka_io import DEFAULT_PARTITIONS

DEFAULT_ASSIGNMENT_TIMEOUT = 90.0  # > the session timeout: a dead member's partitions have moved by then
DEFAULT_PROGRESS_SECONDS = 10.0
ROTATE_SECONDS = 60.0
FLUSH_RECORDS = 1000  # docs/reference.md: an S3 object per 1000 records per (Kafka partition, hour)
S3_ONLY = frozenset({"rotate_seconds", "flush_records", "grace_seconds"})  # in the Dagster config of s3_sink only


@dataclass
class SinkOptions:
    topic: str | None = option(None, help="topic (default $USER_EVENTS_TOPIC or user_activity)")
    # None: run until stopped (SIGTERM, run termination); else stop once drained
    until_idle_seconds: float | None = option(
        None,
        flag="--until-idle",
        metavar="SECONDS",
        help="exit 0 once drained: every assigned partition at its end and no message for this long",
    )
    assignment_timeout_seconds: float = option(
        DEFAULT_ASSIGNMENT_TIMEOUT,
        flag="--assignment-timeout",
        metavar="SECONDS",
        help="with --until-idle: exit 3 when no partition was assigned within this long (default 90)",
    )
    max_seconds: float | None = option(None, help="exit after this long (tests, benchmarks)")
    progress_seconds: float = option(
        DEFAULT_PROGRESS_SECONDS, help="progress line (lag, last store) and sink_status every so often"
    )
    batch_size: int | None = option(None, help="max messages per batch")
    rotate_seconds: float = option(ROTATE_SECONDS, help="s3: write a (partition, hour) file at least this often")
    flush_records: int = option(FLUSH_RECORDS, help="s3: records per file")
    partitions: int = option(DEFAULT_PARTITIONS, help="partitions when creating the topic")
    log_level: str = option("INFO", dagster=False)
    # asset materializations while running (mongo: collections; s3: hours)
    report_interval_seconds: float = option(60.0, cli=False)
    grace_seconds: float = option(300.0, cli=False)  # s3: how long after an hour's end late events still come
