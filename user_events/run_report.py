"""What a finished Dagster run tells its user, read from its events and the instance's step stats: the one
failure message that matters, and how long each step took."""

from __future__ import annotations

from user_events.redaction import redact_text

FAILURE_CLASSES = ("Failure", "ConfigError", "InputError", "EmbeddedPostgresError")


def _error_chain(error):
    while error is not None:
        yield error
        error = error.cause or getattr(error, "context", None)


def _strip_class(message: str, cls_name: str) -> str:
    head, sep, rest = message.strip().partition(": ")
    return rest.strip() if sep and head.endswith(cls_name) else message.strip()


def _event_error(event):
    if event.is_step_failure:
        return event.step_failure_data.error
    return getattr(event.event_specific_data, "error", None)


def _failed_checks_message(result) -> str | None:
    failed = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed
    ]
    if not failed:
        return None
    names = ", ".join(f"{c.asset_key.to_user_string()}:{c.check_name}" for c in failed)
    return f"data quality check(s) failed, nothing more was written: {names} (see the run's check metadata)"


def failure_message(result) -> str:
    """The one message a user needs: our own Failure/ConfigError text if there is one, else the root cause."""
    candidates = []
    for event in result.all_events:
        error = _event_error(event)
        if error is None:
            continue
        chain = list(_error_chain(error))
        for e in chain:
            if e.cls_name in FAILURE_CLASSES:
                return redact_text(_strip_class(e.message, e.cls_name))
        if chain:
            last = chain[-1]
            candidates.append(_strip_class(last.message, last.cls_name).splitlines()[0] or last.cls_name)
    checks = _failed_checks_message(result)
    if checks:
        return checks
    return redact_text(candidates[0]) if candidates else "the run failed (see the Dagster log above)"


def step_durations(instance, run_id: str) -> str:
    """'step 1.2s, ...' in the order the steps started (checks are steps of their own)."""
    stats = sorted(
        (s for s in instance.get_run_step_stats(run_id) if s.start_time and s.end_time), key=lambda s: s.start_time
    )
    return ", ".join(f"{s.step_key} {s.end_time - s.start_time:.1f}s" for s in stats)
