"""A small code location for the daemon test: the real alert sensor beside a job that fails on demand."""

import dagster as dg

from user_events.operations.sensors import alert_sensor


@dg.op
def breaks(context: dg.OpExecutionContext):
    raise RuntimeError(f"broken on purpose ({context.run.tags.get('why', 'no reason')})")


@dg.job
def nightly_job():
    breaks()


defs = dg.Definitions(jobs=[nightly_job], sensors=[alert_sensor])
