"""What a sink raises (and the test hook that kills it): shared by the consume loop, the retries and the sinks."""

from __future__ import annotations

import os

from user_events.config import settings


class TransientError(Exception):
    """A store is unreachable or overloaded: wait and retry the same write (never skip it)."""


class StopDuringOutage(Exception):
    """Asked to stop while a store was unreachable: exit without committing what was not stored."""


def fault_point(name: str) -> None:
    """Test hook: USER_EVENTS_FAULT=<name> makes the process die here at once (exit 137, no cleanup), like a
    SIGKILL at exactly this point. Unset in production."""
    if settings().fault == name:
        os._exit(137)


class NoAssignment(RuntimeError):
    """`until_idle` was asked for, but the group gave this process no partition within the bound."""
