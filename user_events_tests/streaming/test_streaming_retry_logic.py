"""Pure tests of the sinks' retry policies: the delays, which errors are retried, when they give up. No
services: the store call is a function that fails as told, sleeping is recorded instead of done."""

from __future__ import annotations

import logging

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from user_events.streaming import mongo_sink
from user_events.streaming.mongo_sink import MAX_NON_CONNECTION_RETRIES, DashboardWriter
from user_events.streaming.sink_base import KafkaSink, StopDuringOutage, TransientError

pytestmark = pytest.mark.unit

# 0.2 s doubling per retry, at most 30 s: written out, not computed by the code under test
EXPECTED_DELAYS = [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]


class Failing:
    """Raises the given errors in turn, then returns "stored"."""

    def __init__(self, *errors: BaseException):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "stored"


@pytest.fixture
def slept(monkeypatch) -> list[float]:
    """Every time.sleep of the code under test, recorded instead of slept."""
    calls: list[float] = []
    monkeypatch.setattr("time.sleep", calls.append)
    return calls


def sink() -> KafkaSink:
    s = KafkaSink("t_retry_logic")
    s.log = logging.getLogger("test_streaming_retry_logic")
    return s


def test_transient_errors_are_retried_with_doubling_delays_up_to_30s(slept):
    s = sink()
    fn = Failing(*[TransientError(f"down {i}") for i in range(10)])
    assert s.retry("store", fn) == "stored"
    assert fn.calls == 11
    assert slept == EXPECTED_DELAYS
    assert s.stats.retries == 10


def test_a_non_transient_error_is_raised_at_once(slept):
    s = sink()
    fn = Failing(ValueError("bad"))
    with pytest.raises(ValueError, match="bad"):
        s.retry("store", fn)
    assert fn.calls == 1 and slept == [] and s.stats.retries == 0


def test_inside_a_rebalance_callback_it_gives_up_after_30s_of_waiting(slept):
    s = sink()
    s._in_callback = True
    fn = Failing(*[TransientError(f"down {i}") for i in range(20)])
    with pytest.raises(TransientError, match="down 8"):
        s.retry("flush", fn)
    # 0.2 + ... + 25.6 = 51.0 s > 30 after 8 sleeps: the 9th failure is raised (before 8 sleeps: 25.4 s)
    assert slept == EXPECTED_DELAYS[:8]
    assert fn.calls == 9


def test_asked_to_stop_during_an_outage_it_stops_once_it_waited_over_5s(slept):
    s = sink()
    s.stop.set("SIGTERM")
    fn = Failing(*[TransientError(f"down {i}") for i in range(20)])
    with pytest.raises(StopDuringOutage) as raised:
        s.retry("store", fn)
    # 0.2 + 0.4 + 0.8 + 1.6 + 3.2 = 6.2 s > 5 after 5 sleeps (4 sleeps: 3.0 s)
    assert slept == EXPECTED_DELAYS[:5]
    assert isinstance(raised.value.__cause__, TransientError) and str(raised.value.__cause__) == "down 5"


class Waits:
    """DashboardWriter._stopping: records the waits; `stop_after` waits in, it reports the stop."""

    def __init__(self, stop_after: int | None = None):
        self.waits: list[float] = []
        self.stop_after = stop_after

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return self.stop_after is not None and len(self.waits) >= self.stop_after


def writer(monkeypatch, fn: Failing, stopping: Waits) -> DashboardWriter:
    monkeypatch.setattr(mongo_sink, "apply_bucket_deltas", lambda coll, deltas, meta: fn())
    w = DashboardWriter(coll=None, interval=1.0, log=logging.getLogger("test_streaming_retry_logic"))
    w._stopping = stopping
    return w


def test_bucket_updates_retry_connection_errors_without_limit(monkeypatch):
    fn = Failing(*[AutoReconnect(f"gone {i}") for i in range(12)])
    stopping = Waits()
    assert writer(monkeypatch, fn, stopping)._apply_with_retry({}, {}) is True
    assert fn.calls == 13
    assert stopping.waits == EXPECTED_DELAYS + [30.0, 30.0]


def test_bucket_updates_give_up_after_five_other_store_errors(monkeypatch):
    fn = Failing(*[OperationFailure(f"refused {i}") for i in range(10)])
    stopping = Waits()
    with pytest.raises(OperationFailure, match=f"refused {MAX_NON_CONNECTION_RETRIES}"):
        writer(monkeypatch, fn, stopping)._apply_with_retry({}, {})
    assert fn.calls == MAX_NON_CONNECTION_RETRIES + 1
    assert stopping.waits == EXPECTED_DELAYS[:MAX_NON_CONNECTION_RETRIES]


def test_connection_errors_do_not_count_towards_the_other_errors_limit(monkeypatch):
    errors = [OperationFailure("refused")] * MAX_NON_CONNECTION_RETRIES + [AutoReconnect("gone")] * 3
    fn = Failing(*errors)
    assert writer(monkeypatch, fn, Waits())._apply_with_retry({}, {}) is True
    assert fn.calls == len(errors) + 1


def test_bucket_updates_stop_waiting_when_the_writer_stops(monkeypatch):
    fn = Failing(*[AutoReconnect(f"gone {i}") for i in range(10)])
    stopping = Waits(stop_after=3)
    assert writer(monkeypatch, fn, stopping)._apply_with_retry({}, {}) is False
    assert fn.calls == 3 and stopping.waits == EXPECTED_DELAYS[:3]
