"""When requests may go out again after a 429: one time for every thread of a client, and
for the copies of it in forked processes once it is shared.

Spotify's rate limit counts the app's requests, not a process's: when one thread is told
"Retry-After", every other request of the run waits too. A run whose requests are made by
two processes (ops/requesthalf.py) shares the time through a cell of shared memory made
before the fork; ``time.monotonic`` is the same clock in every process of the machine.
"""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any


class Pause:
    """The monotonic time before which no request is sent (0: none)."""

    def __init__(self) -> None:
        self._here = 0.0
        self._lock = threading.Lock()  # between this process's threads
        self._shared: Any = None  # a multiprocessing Value('d') once shared

    def share(self) -> None:
        """Keep the time in shared memory from now on: call it before a fork, so the
        forked copies and this process see each other's 429s."""
        if self._shared is None:
            self._shared = multiprocessing.get_context("fork").Value("d", self._here)

    @property
    def until(self) -> float:
        shared = self._shared
        return self._here if shared is None else float(shared.value)

    def extend(self, until: float) -> None:
        """No request before ``until`` (a later time already set stays)."""
        shared = self._shared
        if shared is None:
            with self._lock:
                self._here = max(self._here, until)
            return
        with shared.get_lock():  # a lock between processes: neither lowers the other's
            shared.value = max(shared.value, until)
