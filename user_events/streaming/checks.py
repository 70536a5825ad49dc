"""Lag and liveness of the sinks as asset checks: `mongo_sink_lag` on `mongo/events`, `s3_sink_lag` on
`lake_events_hourly` (the lake domain's asset; only its key is shared, from `asset_keys`).

Each check reads its sink's consumer group on the events topic (`lag.read_group_offsets`) and fails, severity
ERROR, when the group has no live member, more than USER_EVENTS_SINK_LAG_MAX_MESSAGES unconsumed messages, or
an oldest unconsumed message older than USER_EVENTS_SINK_LAG_MAX_SECONDS — or when Kafka cannot be read (the
sinks cannot read it either). `sensors.sink_lag_sensor` evaluates them every minute (runless evaluations of
these same checks); a check executed from the UI computes the same thing in a run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import dagster as dg

from user_events.asset_keys import LAKE_EVENTS_HOURLY, mongo_collection
from user_events.config import settings
from user_events.redaction import redact_text
from user_events.streaming.clients import KafkaClientsMixin
from user_events.streaming.collections import EVENTS
from user_events.streaming.kafka_io import sink_group
from user_events.streaming.lag import GroupReading, group_lag, judge_lag, read_group_offsets
from user_events.streaming.resources import KafkaResource

# the asset each sink's check is on: what the sink writes
SINK_ASSETS = {"mongo": mongo_collection(EVENTS), "s3": LAKE_EVENTS_HOURLY}
SINK_TITLES = {"mongo": "MongoDB", "s3": "S3"}


def lag_check_name(sink: str) -> str:
    return f"{sink}_sink_lag"


def lag_sensor_name(sink: str) -> str:
    return f"{sink}_sink_lag_sensor"


@dataclass(frozen=True)
class LagCheckOutcome:
    """One evaluation of a sink's lag check, before it becomes an AssetCheckEvaluation or AssetCheckResult.
    Severity is always ERROR: every failure of this check is one that should wake someone."""

    passed: bool
    description: str
    metadata: dict


def evaluate_sink_lag(kafka: KafkaClientsMixin, sink: str) -> LagCheckOutcome:
    """Read the sink's group on the events topic now and judge it against the configured thresholds."""
    topic = kafka.topic_name()
    group = sink_group(sink, topic)
    try:
        reading = read_group_offsets(kafka, group, topic)
    except Exception as exc:
        error = redact_text(str(exc))[:500]
        return LagCheckOutcome(
            passed=False,
            description=f"cannot read consumer group {group} on {topic} from Kafka: {error}",
            metadata={"group": group, "topic": topic, "error": error},
        )
    return judge_reading(reading)


def judge_reading(reading: GroupReading) -> LagCheckOutcome:
    config = settings()
    lag = group_lag(reading.partitions, reading.read_at_ms)
    verdict = judge_lag(
        lag,
        members=len(reading.members),
        ever_committed=reading.ever_committed,
        group=reading.group,
        max_messages=config.sink_lag_max_messages,
        max_seconds=config.sink_lag_max_seconds,
    )
    metadata = {
        "lag_messages": int(lag.messages),
        "oldest_age_seconds": float(lag.oldest_age_seconds),
        "members": len(reading.members),
        "max_messages": int(config.sink_lag_max_messages),
        "max_seconds": float(config.sink_lag_max_seconds),
        "group": reading.group,
        "topic": reading.topic,
        "group_state": reading.state,
        "problems": dg.MetadataValue.json(list(verdict.problems)),
        "partitions": dg.MetadataValue.json({str(d["partition"]): d for d in lag.partitions}),
        "member_detail": dg.MetadataValue.json([asdict(m) for m in reading.members]),
    }
    if lag.ages_unknown:
        metadata["age_unknown_partitions"] = dg.MetadataValue.json(list(lag.ages_unknown))
    return LagCheckOutcome(verdict.passed, verdict.summary, metadata)


def sink_lag_evaluation(kafka: KafkaClientsMixin, sink: str) -> dg.AssetCheckEvaluation:
    """The sink's lag check, evaluated now, as a runless evaluation (what the lag sensor reports)."""
    outcome = evaluate_sink_lag(kafka, sink)
    return dg.AssetCheckEvaluation(
        asset_key=SINK_ASSETS[sink],
        check_name=lag_check_name(sink),
        passed=outcome.passed,
        metadata=outcome.metadata,
        severity=dg.AssetCheckSeverity.ERROR,
        description=outcome.description,
    )


def build_sink_lag_check(sink: str) -> dg.AssetChecksDefinition:
    """The check as a definition: listed on the sink's asset, executable on demand (the sensor reports
    evaluations of this same check every minute)."""
    title = SINK_TITLES[sink]

    @dg.asset_check(
        asset=SINK_ASSETS[sink],
        name=lag_check_name(sink),
        description=f"Lag and liveness of the {title} sink's consumer group (ERROR on failure): fails when the "
        "group has no live member, more than USER_EVENTS_SINK_LAG_MAX_MESSAGES unconsumed messages, or an oldest "
        f"unconsumed message older than USER_EVENTS_SINK_LAG_MAX_SECONDS. Evaluated every minute by "
        f"{lag_sensor_name(sink)}; stop that sensor where the {title} sink is not meant to run.",
    )
    def _check(kafka: KafkaResource) -> dg.AssetCheckResult:
        outcome = evaluate_sink_lag(kafka, sink)
        return dg.AssetCheckResult(
            passed=outcome.passed,
            metadata=outcome.metadata,
            severity=dg.AssetCheckSeverity.ERROR,
            description=outcome.description,
        )

    return _check


SINK_LAG_CHECKS = [build_sink_lag_check(sink) for sink in SINK_ASSETS]
