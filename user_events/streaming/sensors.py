"""The sinks' sensors: keep one run of each sink alive (a run whenever none is queued or in progress), and
evaluate each sink's lag check every minute."""

from __future__ import annotations

import dagster as dg

from user_events.config import settings
from user_events.run_tags import SINK_TAG
from user_events.streaming.checks import SINK_TITLES, lag_check_name, lag_sensor_name, sink_lag_evaluation
from user_events.streaming.resources import KafkaResource

# Every status of a run that has not finished: queued / not yet started runs count too, so a second run is not
# requested while one waits, and a suspended run still holds the sink's place.
ACTIVE_RUN_STATUSES = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
    dg.DagsterRunStatus.SUSPENDED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
]


def sensors_default_status() -> dg.DefaultSensorStatus:
    """RUNNING unless USER_EVENTS_SINK_SENSORS=stopped (sinks start with `make dev` / the daemon)."""
    if settings().sink_sensors.strip().lower() in ("stopped", "off", "0", "false"):
        return dg.DefaultSensorStatus.STOPPED
    return dg.DefaultSensorStatus.RUNNING


def keep_running_sensor(job: dg.JobDefinition, sink: str) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{job.name}_keepalive",
        job=job,
        minimum_interval_seconds=30,
        default_status=sensors_default_status(),
        description=f"Starts a {job.name} run when none is queued or running, so the {sink} sink always runs.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        active = context.instance.get_run_records(
            dg.RunsFilter(job_name=job.name, statuses=ACTIVE_RUN_STATUSES), limit=1
        )
        if active:
            run = active[0].dagster_run
            return dg.SkipReason(f"{job.name} run {run.run_id} is {run.status.value}")
        return dg.RunRequest(tags={SINK_TAG: sink})

    return _sensor


def sink_lag_sensor(sink: str) -> dg.SensorDefinition:
    """Every minute, the sink's lag check evaluated from the Kafka admin API and reported as a runless
    AssetCheckEvaluation (no run). RUNNING by default whatever USER_EVENTS_SINK_SENSORS says: a sink may run
    outside Dagster (a plain process) and still be expected to run. Stop it where the sink is not deployed."""

    @dg.sensor(
        name=lag_sensor_name(sink),
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Evaluates {lag_check_name(sink)} (the {SINK_TITLES[sink]} sink's consumer-group lag and "
        "liveness) every minute.",
    )
    def _sensor(kafka: KafkaResource) -> dg.SensorResult:
        evaluation = sink_lag_evaluation(kafka, sink)
        verdict = "passed" if evaluation.passed else "FAILED"
        return dg.SensorResult(
            asset_events=[evaluation], skip_reason=f"{lag_check_name(sink)} {verdict}: {evaluation.description}"
        )

    return _sensor
