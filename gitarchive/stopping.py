"""Stopping a run from outside: Ctrl-C (SIGINT), systemd (SIGTERM), a closed terminal (SIGHUP).

Python turns SIGINT into KeyboardInterrupt; SIGTERM and SIGHUP would end the process
where it stands, with no cleanup and no word. ``on_stop_raise`` makes them raise too (as
``Stopped``, a KeyboardInterrupt), so every stop unwinds the same way: the half-written
files are removed by the handlers already there, the lock released, the branch left as
it was or as committed, and the command line says so in one line and exits 128 + the
signal's number, as a shell reports a killed program. A second signal ends the process
at once (the lock is the kernel's to release). Forked helpers take the default actions
back (``in_child``): when the group is signalled they simply end, and the parent, which
was signalled too, does what is left of the cleanup.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


STOP = threading.Event()  # set by the first stop: the waits of other threads end early


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the main thread was, as Ctrl-C's KeyboardInterrupt is."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def on_stop_raise() -> None:
    """In the command's process: each of STOPPING raises (once; a second one kills). A
    signal the caller ignores stays ignored, as Python leaves an ignored SIGINT: ``nohup``
    ignores SIGHUP so that a run outlives its terminal, and a shell ignores SIGINT for a
    job it starts in the background."""
    for signum in STOPPING:
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue
        signal.signal(signum, _raise)


def _raise(signum: int, frame: FrameType | None) -> None:
    _defaults()  # what is left is cleanup: a second signal need not wait for it
    STOP.set()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Stopped(signum)


def sleep(seconds: float) -> None:
    """``time.sleep`` that a stop ends at once (raising Stopped), in any thread: a request
    waiting out Spotify's Retry-After (a minute) would hold the stopped run that long, as
    its pool waits for every thread before the run can end."""
    if STOP.wait(seconds):
        raise KeyboardInterrupt


def in_child() -> None:
    """In a forked helper: the signals' default actions (it ends; no traceback); those
    its parent ignores stay ignored here too."""
    _defaults()


def _defaults() -> None:
    """Each of STOPPING back to its default action, unless it is ignored."""
    for signum in STOPPING:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)


def signal_of(stop: KeyboardInterrupt) -> int:
    """The number of the signal that raised ``stop``."""
    return stop.signum if isinstance(stop, Stopped) else signal.SIGINT


def hold() -> None:
    """From now on the stopping signals wait (the command is done; only its exit is left)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)


def describe(stop: KeyboardInterrupt) -> str:
    """How the run was stopped, in the words of whoever stopped it."""
    signum = signal_of(stop)
    if signum == signal.SIGINT:
        return "interrupted (Ctrl-C)"
    if signum == signal.SIGHUP:
        return "stopped: the terminal was closed (SIGHUP)"
    return f"stopped by {signal.Signals(signum).name}"
