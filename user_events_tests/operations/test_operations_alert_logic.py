"""Pure tests of what the alert sensor tells (one message per breach, one when it passes again) and of the
webhook delivery's order and back-off."""

from __future__ import annotations

import pytest

from user_events.operations.alerts import MAX_OUTBOX, AlertState, CheckOutcome, Links, RunOutcome
from user_events.operations.webhook import WebhookError, deliver

pytestmark = pytest.mark.unit
LINKS = Links("http://dagster.example:3000/")


def check(passed: bool, partition: str | None = "2019-11-02-05:00", episode: str | None = None) -> CheckOutcome:
    return CheckOutcome(
        asset="hourly_kpis",
        check="hourly_kpis_anomalies",
        partition=partition,
        passed=passed,
        severity="WARN",
        description="conversion_rate 2019-11-02 05:00: 0.01 against 0.02 the day before (-50%)",
        values={"largest_change": -0.5},
        run_id="r1",
        episode=episode,
    )


def run(run_id: str, succeeded: bool, sink: str | None = None, retries_left: bool = False) -> RunOutcome:
    return RunOutcome(
        run_id=run_id,
        job="mongo_sink_job" if sink else "hourly_load_job",
        partition=None if sink else "2019-11-01-03:00",
        succeeded=succeeded,
        message="step hourly_typed_events failed: no lake objects",
        sink=sink,
        retries_left=retries_left,
    )


def test_a_breach_is_told_once_and_its_recovery_once():
    state = AlertState()
    told = [state.observe_check(o, LINKS) for o in (check(False), check(False), check(True), check(True))]
    assert [a.what if a else None for a in told] == ["check_failed", None, "check_recovered", None]
    assert len(state.outbox) == 2 and state.failing == {}


def test_a_passing_check_that_never_failed_says_nothing():
    state = AlertState()
    assert state.observe_check(check(True), LINKS) is None and state.outbox == []


def test_each_partition_is_its_own_breach():
    state = AlertState()
    assert state.observe_check(check(False, "2019-11-02-05:00"), LINKS) is not None
    assert state.observe_check(check(False, "2019-11-02-06:00"), LINKS) is not None
    assert len(state.failing) == 2


def test_a_new_episode_of_a_failing_check_is_a_new_breach():
    """A freshness check failing past a later deadline: another hour is late."""
    state = AlertState()
    assert state.observe_check(check(False, None, episode="1000"), LINKS) is not None
    assert state.observe_check(check(False, None, episode="1000"), LINKS) is None
    assert state.observe_check(check(False, None, episode="4600"), LINKS) is not None


def test_every_failed_run_is_told_and_a_later_success_recovers_the_job_and_partition():
    state = AlertState()
    first, second = state.observe_run(run("a", False), LINKS), state.observe_run(run("b", False), LINKS)
    assert first.what == second.what == "run_failed"
    assert first.url == "http://dagster.example:3000/runs/a" and first.run_id == "a"
    assert state.observe_run(run("c", True), LINKS).what == "run_recovered"
    assert state.observe_run(run("d", True), LINKS) is None


def test_a_sink_run_failing_without_retries_left_is_a_sink_not_restarted():
    state = AlertState()
    assert state.observe_run(run("a", False, sink="mongo", retries_left=True), LINKS).what == "run_failed"
    gave_up = state.observe_run(run("b", False, sink="mongo", retries_left=False), LINKS)
    assert gave_up.what == "sink_not_restarted" and "mongo sink could not be restarted" in gave_up.title


def test_the_payload_is_slack_format_with_structured_fields():
    state = AlertState()
    alert = state.observe_check(check(False), LINKS)
    payload = state.outbox[0]
    assert payload == alert.payload()
    assert "hourly_kpis_anomalies" in payload["text"] and "2019-11-02-05:00" in payload["text"]
    assert "http://dagster.example:3000/assets/hourly_kpis?view=checks" in payload["text"]
    fields = {f["title"]: f["value"] for f in payload["attachments"][0]["fields"]}
    assert fields["partition"] == "2019-11-02-05:00" and fields["severity"] == "WARN"
    assert fields["largest_change"] == "-0.5"
    assert payload["user_events"]["what"] == "check_failed" and payload["user_events"]["run_id"] == "r1"


def test_the_state_survives_its_cursor_form():
    state = AlertState()
    state.observe_check(check(False), LINKS)
    again = AlertState.from_dict(state.to_dict())
    assert again.observe_check(check(False), LINKS) is None  # still failing: nothing new
    assert again.observe_check(check(True), LINKS).what == "check_recovered"


def test_a_full_outbox_drops_the_oldest_and_counts_them():
    state = AlertState()
    for i in range(MAX_OUTBOX + 3):
        state.observe_check(check(False, f"p{i}"), LINKS)
    assert len(state.outbox) == MAX_OUTBOX and state.dropped == 3
    assert "p3" in state.outbox[0]["text"]


def test_delivery_keeps_order_and_what_the_webhook_refused():
    outbox = [{"n": 1}, {"n": 2}, {"n": 3}]
    got, calls = [], []

    def flaky(url, payload):
        calls.append(payload["n"])
        if payload["n"] == 2:
            raise WebhookError("webhook at example answered HTTP 503")
        got.append(payload["n"])

    result = deliver(outbox, "http://example/hook", flaky, max_wait=0.01)
    assert got == [1] and outbox == [{"n": 2}, {"n": 3}]
    assert result.sent == 1 and result.waiting == 2 and "503" in result.error
    assert calls == [1, 2, 2, 2]  # three attempts at the refused message, then it waits; 3 is not sent before 2
    result = deliver(outbox, "http://example/hook", lambda url, p: got.append(p["n"]), max_wait=0.01)
    assert got == [1, 2, 3] and outbox == [] and result.error is None
