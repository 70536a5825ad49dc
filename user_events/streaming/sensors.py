"""Keep one run of each sink alive: a sensor starts a run whenever none is queued or in progress."""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

from user_events.config import settings

# Queued / not yet started runs count too: a second run must not be requested while one waits.
ACTIVE_RUN_STATUSES = list(
    dict.fromkeys([*IN_PROGRESS_RUN_STATUSES, dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED])
)
SINK_TAG = "user_events/sink"


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
