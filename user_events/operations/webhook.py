"""Posting alert messages to an incoming webhook, with back-off, never raising.

The URL is a secret (a Slack webhook URL is its own credential): it is never logged, and an error names the
webhook's host at most.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

TIMEOUT_SECONDS = 10.0
ATTEMPTS_PER_TICK = 3  # then the message waits in the outbox for the next tick


class WebhookError(RuntimeError):
    pass


def post_json(url: str, payload: dict, timeout: float = TIMEOUT_SECONDS) -> None:
    """One POST; WebhookError (naming the host, not the URL) on anything but a 2xx answer."""
    host = urlsplit(url).hostname or "?"
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            if not 200 <= resp.status < 300:
                raise WebhookError(f"webhook at {host} answered HTTP {resp.status}")
    except urllib.error.HTTPError as exc:
        raise WebhookError(f"webhook at {host} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WebhookError(f"webhook at {host} unreachable ({type(reason).__name__}: {reason})") from None


Poster = Callable[[str, dict], None]


@dataclass
class Delivery:
    sent: int
    waiting: int
    error: str | None


def deliver(outbox: list[dict], url: str, post: Poster = post_json, max_wait: float = 4.0) -> Delivery:
    """Send the outbox in order; stop at the first message the webhook still refuses after a few attempts with
    exponential back-off (it and the rest wait for the next tick). Removes what was sent from `outbox`."""
    sent = 0
    while outbox:
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(WebhookError),
                stop=stop_after_attempt(ATTEMPTS_PER_TICK),
                wait=wait_exponential(multiplier=0.5, max=max_wait),
                reraise=True,
            ):
                with attempt:
                    post(url, outbox[0])
        except WebhookError as exc:
            return Delivery(sent, len(outbox), str(exc))
        outbox.pop(0)
        sent += 1
    return Delivery(sent, 0, None)
