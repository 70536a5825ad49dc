"""Progress lines of the pipelines: to Dagster's log and to the `user-events batch` console (which listens
on the `user_events.progress` logger)."""

from __future__ import annotations

import logging

PROGRESS_LOGGER = "user_events.progress"
log = logging.getLogger(PROGRESS_LOGGER)


def progress(context, message: str) -> None:
    """A progress line: Dagster's log, and the `user-events batch` console."""
    context.log.info(message)
    log.info(message)
