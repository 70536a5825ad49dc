"""The alert sensor: failed runs of any job, failed checks of any severity, sinks that could not be restarted,
and their recoveries, posted to USER_EVENTS_ALERT_WEBHOOK_URL (docs/operations.md).

Dagster's open-source edition has no alert policies, and a failed check does not fail its run, so a
run-failure sensor never sees it: this sensor reads the instance itself — every check's executions (whichever
run or sensor reported them) and the runs that failed or succeeded — after the ids its cursor holds. The
cursor also holds what is failing and the messages the webhook has not taken yet, so nothing is told twice or
lost across ticks, a daemon restart or a webhook outage.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import dagster as dg

from user_events.config import settings
from user_events.operations.alerts import AlertState, CheckOutcome, Links, RunOutcome
from user_events.operations.webhook import Poster, deliver, post_json
from user_events.run_tags import SINK_TAG

BATCH = 500  # event records read per kind and tick
FIRST_TICK_HISTORY_SECONDS = 3600  # the first tick tells of the last hour, not of an instance's whole past
FRESHNESS_DEADLINE_KEY = "dagster/latest_cron_tick"
PENDING_SECONDS = 6 * 3600  # a check still PLANNED after this (its run died) is not waited for any more


@dataclass
class AlertCursor:
    checks: dict = field(default_factory=dict)  # check key -> {"seen": last execution id read, "pending": [ids]}
    failures: str | None = None  # fetch_run_status_changes cursors
    successes: str | None = None
    started: float | None = None  # when the first tick ran, less an hour (older events are history)
    off_said: bool = False
    state: AlertState = field(default_factory=AlertState)

    @classmethod
    def parse(cls, raw: str | None) -> AlertCursor:
        data = json.loads(raw) if raw else {}
        return cls(
            checks=dict(data.get("checks", {})),
            failures=data.get("failures"),
            successes=data.get("successes"),
            started=data.get("started"),
            off_said=bool(data.get("off_said")),
            state=AlertState.from_dict(data.get("state", {})),
        )

    def dump(self) -> str:
        data = {k: v for k, v in self.__dict__.items() if k != "state"}
        return json.dumps({**data, "state": self.state.to_dict()}, sort_keys=True)


def numeric_values(metadata) -> dict:
    """The int/float metadata of an evaluation (the figures a message shows), not Dagster's own keys."""
    out = {}
    for key, value in metadata.items():
        raw = getattr(value, "value", value)
        if not key.startswith("dagster/") and isinstance(raw, int | float) and not isinstance(raw, bool):
            out[key] = round(raw, 6) if isinstance(raw, float) else raw
    return out


def check_outcome(record) -> CheckOutcome | None:
    """A completed check execution record as what the alerts need (None without an evaluation event)."""
    entry = record.event
    evaluation = entry.asset_check_evaluation if entry is not None else None
    if evaluation is None:
        return None
    deadline = evaluation.metadata.get(FRESHNESS_DEADLINE_KEY)
    return CheckOutcome(
        asset=evaluation.asset_key.to_user_string(),
        check=evaluation.check_name,
        partition=evaluation.partition,
        passed=evaluation.passed,
        severity=evaluation.severity.value,
        description=evaluation.description or "",
        values=numeric_values(evaluation.metadata),
        run_id=record.run_id or None,
        episode=str(deadline.value) if deadline is not None else None,
    )


def new_executions(instance, check_key, seen: int | None, pending: list[int], since: float) -> list:
    """The check's executions not read yet, oldest first: those after `seen`, and the earlier ones that were
    still running (PLANNED) when last read. Paged from the newest back (the storage's order)."""
    wanted, before = [], None
    floor = min([seen or 0, *pending])
    while True:
        page = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=BATCH, cursor=before)
        for record in page:
            if (record.id <= floor and record.id not in pending) or record.create_timestamp < since:
                return sorted(wanted, key=lambda r: r.id)
            if seen is None or record.id > seen or record.id in pending:
                wanted.append(record)
        if len(page) < BATCH:
            return sorted(wanted, key=lambda r: r.id)
        before = page[-1].id


def read_checks(instance, check_keys, cursor: AlertCursor) -> list[tuple[float, CheckOutcome]]:
    """(time, outcome) of every check evaluation completed since the cursor; the cursor moves past them."""
    found = []
    for key in check_keys:
        name = key.to_user_string()
        mark = cursor.checks.get(name, {"seen": None, "pending": []})
        records = new_executions(instance, key, mark["seen"], mark["pending"], cursor.started or 0.0)
        pending = []
        for record in records:
            if record.status.value == "PLANNED":
                if record.create_timestamp >= time.time() - PENDING_SECONDS:
                    pending.append(record.id)
                continue
            outcome = check_outcome(record)
            if outcome is not None:
                found.append((record.create_timestamp, outcome))
        newest = max([r.id for r in records], default=mark["seen"])
        cursor.checks[name] = {"seen": newest, "pending": pending}
    return found


def run_failure_message(instance, run_id: str, fallback: str) -> str:
    """The first failed step's error (what a person needs), else the run failure's own message."""
    failures = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=1).records
    if failures:
        event = failures[0].event_log_entry.dagster_event
        error = getattr(event.event_specific_data, "error", None)
        while error is not None and error.cause is not None:  # the user's error, not Dagster's wrapper of it
            error = error.cause
        if error is not None:
            return f"step {event.step_key} failed: {error.message.strip()[:500]}"
    return fallback


def run_outcome(instance, record, succeeded: bool) -> RunOutcome | None:
    entry = record.event_log_entry
    run = instance.get_run_by_id(entry.run_id)
    if run is None:
        return None
    tags = run.tags
    retries_left = int(tags.get("dagster/retry_number", "0")) < int(tags.get("dagster/max_retries", "0"))
    message = "succeeded" if succeeded else run_failure_message(instance, run.run_id, entry.message or "failed")
    return RunOutcome(
        run_id=run.run_id,
        job=run.job_name,
        partition=tags.get("dagster/partition"),
        succeeded=succeeded,
        message=message,
        sink=tags.get(SINK_TAG),
        retries_left=retries_left,
    )


def read_run_outcomes(instance, cursor: AlertCursor) -> list[tuple[float, RunOutcome]]:
    """(time, outcome) of the runs that failed or succeeded since the cursors."""
    found = []
    for kind, attr, succeeded in (
        (dg.DagsterEventType.RUN_FAILURE, "failures", False),
        (dg.DagsterEventType.RUN_SUCCESS, "successes", True),
    ):
        result = instance.fetch_run_status_changes(kind, limit=BATCH, cursor=getattr(cursor, attr), ascending=True)
        for record in result.records:
            if _is_history(record, cursor):
                continue
            outcome = run_outcome(instance, record, succeeded)
            if outcome is not None:
                found.append((record.event_log_entry.timestamp, outcome))
        if result.records:
            setattr(cursor, attr, result.cursor)
    return found


def _is_history(record, cursor: AlertCursor) -> bool:
    return cursor.started is not None and record.event_log_entry.timestamp < cursor.started


def evaluate(instance, check_keys, cursor: AlertCursor, log, url: str | None, post: Poster = post_json):
    """One tick without Dagster's sensor context: read what happened, queue the messages, deliver them."""
    if cursor.started is None:
        cursor.started = time.time() - FIRST_TICK_HISTORY_SECONDS
    links = Links(settings().dagster_url)
    events = [*read_checks(instance, check_keys, cursor), *read_run_outcomes(instance, cursor)]
    events.sort(key=lambda pair: pair[0])
    told = []
    for _, outcome in events:
        if isinstance(outcome, CheckOutcome):
            alert = cursor.state.observe_check(outcome, links)
        else:
            alert = cursor.state.observe_run(outcome, links)
        if alert is not None:
            told.append(alert.title)
    if url is None:
        if not cursor.off_said:
            log.info("alerts are off: USER_EVENTS_ALERT_WEBHOOK_URL is unset (docs/operations.md)")
            cursor.off_said = True
        cursor.state.outbox.clear()
        return told, None
    cursor.off_said = False
    delivery = deliver(cursor.state.outbox, url, post)
    for title in told:
        log.info(f"alert: {title}")
    if delivery.error:
        log.warning(f"{delivery.error}; {delivery.waiting} message(s) wait for the next tick")
    return told, delivery


@dg.sensor(
    name="alert_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts failed runs, failed checks (any severity), sinks that could not be restarted, and their "
    "recoveries to USER_EVENTS_ALERT_WEBHOOK_URL (Slack format), once each; undelivered messages wait in "
    "its cursor.",
)
def alert_sensor(context: dg.SensorEvaluationContext):
    cursor = AlertCursor.parse(context.cursor)
    secret = settings().alert_webhook_url
    check_keys = sorted(context.repository_def.asset_graph.asset_check_keys, key=lambda k: k.to_user_string())
    url = secret.get_secret_value() if secret else None
    told, delivery = evaluate(context.instance, check_keys, cursor, context.log, url)
    context.update_cursor(cursor.dump())
    if delivery is None:
        return dg.SkipReason(f"alerts off; {len(told)} change(s) seen")
    return dg.SkipReason(f"{len(told)} new, {delivery.sent} sent, {delivery.waiting} waiting")
