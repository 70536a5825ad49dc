"""Clean stops: SIGTERM/SIGINT set a flag that the simulator and the sinks check between batches.

Kept free of heavy imports so a command can install the handlers before it imports anything slow.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class StopFlag:
    """Set by SIGTERM/SIGINT (see `stop_on_signals`) or by code; the loop checks it between batches."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def set(self, reason: str = "stop requested") -> None:
        if not self._event.is_set():
            self.reason = reason
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()


@contextmanager
def stop_on_signals(flag: StopFlag) -> Iterator[StopFlag]:
    """Within the block, SIGTERM and SIGINT set `flag` instead of raising (main thread only).

    The loop then finishes its batch, flushes, commits and returns. A second signal while stopping is
    ignored on purpose: the flush is what makes the stop clean.
    """
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def handler(signo, _frame):
        flag.set(signal.Signals(signo).name)

    for s in previous:
        signal.signal(s, handler)
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
