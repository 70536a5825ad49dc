"""Pure test of waiting for Superset's /health: answers are faked, sleeping is recorded."""

from __future__ import annotations

import pytest
import requests

from user_events.dashboards import provision
from user_events.dashboards.provision import SupersetError, wait_until_up

pytestmark = pytest.mark.unit


class Answer:
    def __init__(self, text: str):
        self.text = text


def test_waits_through_errors_and_unhealthy_answers_until_ok(monkeypatch):
    answers = [requests.ConnectionError("refused"), Answer("starting"), Answer("OK\n")]
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)

    def get(url, timeout):
        assert url == "http://superset:8088/health"
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(provision.requests, "get", get)
    wait_until_up("http://superset:8088/", timeout=60)
    assert answers == [] and slept == [2, 2]


def test_gives_up_after_the_timeout_with_a_clear_error(monkeypatch):
    def get(url, timeout):
        raise requests.ConnectionError("refused")

    monkeypatch.setattr(provision.requests, "get", get)
    with pytest.raises(SupersetError, match=r"did not answer /health within 0s"):
        wait_until_up("http://superset:8088", timeout=0.1)
