"""Pure tests: which failures retry a step, with what back-off, and the one line when the retries are spent."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import dagster as dg
import grpc
import psycopg
import pytest
from psycopg import errors

from user_events.retries import BACKOFF_SECONDS, MAX_RETRIES, is_transient, retry_transient

pytestmark = pytest.mark.unit


class RpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode):
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


def raised_from(outer: Exception, cause: BaseException) -> Exception:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise outer from inner
    except Exception as exc:
        return exc


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
        psycopg.OperationalError("the connection is lost"),  # no SQLSTATE: the socket failed
        errors.AdminShutdown("terminating connection due to administrator command"),  # 57P01
        errors.CannotConnectNow("the database system is starting up"),  # 57P03
        raised_from(RuntimeError("step failed"), ConnectionResetError(104, "reset by peer")),
        RpcError(grpc.StatusCode.UNAVAILABLE),  # the Spark Connect server went away
    ],
    ids=repr,
)
def test_lost_or_refused_connections_are_transient(exc):
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        errors.InvalidPassword("password authentication failed"),  # 28P01: a configuration problem
        errors.InvalidCatalogName('database "x" does not exist'),
        errors.UniqueViolation("duplicate key"),
        ValueError("bad input"),
        RpcError(grpc.StatusCode.INVALID_ARGUMENT),
        raised_from(dg.Failure("reject rate too high", allow_retries=False), ConnectionError("x")),
    ],
    ids=repr,
)
def test_other_errors_are_not(exc):
    assert not is_transient(exc)


def context(retry_number: int):
    return SimpleNamespace(retry_number=retry_number, log=logging.getLogger("test"))


def test_a_transient_error_asks_for_a_retry_with_growing_back_off():
    waits = []
    for attempt in range(MAX_RETRIES):
        with pytest.raises(dg.RetryRequested) as info, retry_transient(context(attempt), "PostgreSQL", "h:5432"):
            raise ConnectionRefusedError(111, "Connection refused")
        assert info.value.max_retries == MAX_RETRIES
        waits.append(info.value.seconds_to_wait)
    assert waits == list(BACKOFF_SECONDS) and waits == sorted(waits)


def test_spent_retries_fail_with_one_line_naming_the_service_without_secrets():
    cause = psycopg.OperationalError("connection to postgresql://u:hunter2@h:5432/db failed: refused")
    with pytest.raises(dg.Failure) as info, retry_transient(context(MAX_RETRIES), "PostgreSQL", "h:5432"):
        raise cause
    text = info.value.description
    assert text.startswith("PostgreSQL at h:5432 could not be reached after")
    assert "hunter2" not in text and "\n" not in text
    assert not info.value.allow_retries


def test_other_errors_pass_through_untouched():
    with pytest.raises(ValueError, match="bad"), retry_transient(context(0), "PostgreSQL", "h:5432"):
        raise ValueError("bad")
