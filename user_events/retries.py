"""Transient failures of the services under a run, and the retry of the step they hit.

A step that loses its server mid-work (a restart, a crash, a hang longer than a timeout) is retried with
back-off, so a run outlives an outage of about a minute; any other error fails the step at once. When the
retries are spent the step fails with one line naming the service and the address it could not reach. The
steps this guards write in one transaction each, so a retry starts from the state before the failed attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from user_events.progress import PROGRESS_LOGGER

if TYPE_CHECKING:  # Dagster is imported when a step runs: the sink processes and Spark's setup do without it
    import dagster as dg

# seconds before retry 1, 2, ...: about a minute in all, enough for a service to be brought back
BACKOFF_SECONDS = (2, 4, 8, 16, 30)
MAX_RETRIES = len(BACKOFF_SECONDS)
# SQLSTATE classes of a lost or refused connection: 08 connection exception, 57 operator intervention
# (admin shutdown, crash shutdown, cannot connect now); no SQLSTATE at all: the socket itself failed
_TRANSIENT_SQLSTATE_CLASSES = ("08", "57")
# Spark Connect: the server is gone, or it restarted and no longer knows the client's session
_TRANSIENT_SPARK_MARKERS = ("UNAVAILABLE", "SESSION_CHANGED", "SESSION_NOT_FOUND", "SESSION_CLOSED")
_TRANSIENT_GRPC_CODES = ("UNAVAILABLE", "DEADLINE_EXCEEDED")


class ServiceUnavailable(ConnectionError):
    """A service could not be reached: transient by definition (the caller decides how long to wait)."""


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _is_rpc_error(exc: BaseException) -> bool:
    try:
        import grpc
    except ImportError:
        return False
    return isinstance(exc, grpc.RpcError)


def _is_transient_one(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError):  # ServiceUnavailable, refused, reset, broken pipe
        return True
    module = type(exc).__module__
    if module.startswith("psycopg"):
        import psycopg

        if isinstance(exc, psycopg.OperationalError):
            state = getattr(exc, "sqlstate", None)
            return state is None or state[:2] in _TRANSIENT_SQLSTATE_CLASSES
        return False
    if module.startswith(("botocore", "urllib3")):
        name = type(exc).__name__
        return name.endswith(("ConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"))
    if _is_rpc_error(exc) or module.startswith("pyspark.errors"):  # Spark Connect, or its gRPC transport
        code = getattr(exc, "code", None)
        if callable(code) and getattr(code(), "name", "") in _TRANSIENT_GRPC_CODES:
            return True
        text = str(exc)
        return any(marker in text for marker in _TRANSIENT_SPARK_MARKERS)
    return False


def is_transient(exc: BaseException) -> bool:
    """Whether the error, or one it was raised from, is a lost or refused connection to a service."""
    import dagster as dg

    if isinstance(exc, dg.Failure) and not exc.allow_retries:
        return False
    return any(_is_transient_one(e) for e in _causes(exc))


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The error's text on one line, passwords in URLs and known secrets removed."""
    from user_events.redaction import redact_text

    return redact_text(" ".join(str(exc).split()) or type(exc).__name__)[:limit]


@contextmanager
def retry_transient(context: dg.OpExecutionContext, service: str, address: str) -> Iterator[None]:
    """Retry the step with back-off when `service` at `address` fails transiently; fail plainly when spent.

    `address` must be free of secrets (a redacted URL or host:port).
    """
    import dagster as dg

    try:
        yield
    except Exception as exc:
        if not is_transient(exc):
            raise
        attempt = context.retry_number
        if attempt >= MAX_RETRIES:
            raise dg.Failure(
                description=f"{service} at {address} could not be reached after {attempt + 1} attempts: "
                f"{one_line(exc)}",
                allow_retries=False,
            ) from exc
        wait = BACKOFF_SECONDS[attempt]
        message = (
            f"{service} at {address} failed ({one_line(exc)}); retrying the step in {wait}s "
            f"({attempt + 1} of {MAX_RETRIES})"
        )
        context.log.warning(message)
        logging.getLogger(PROGRESS_LOGGER).warning(message)
        raise dg.RetryRequested(max_retries=MAX_RETRIES, seconds_to_wait=wait) from exc
