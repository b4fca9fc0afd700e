"""Forking this process: when it is safe, and with as little memory copied as can be.

A fork copies the calling thread only, but every lock of the process as it is at that
moment (Python's, libgit2's, the C allocator's): a lock another thread held then stays
held in the child forever, and the child hangs on it. So a fork is made only while no
other thread runs (``alone``); otherwise the work stays in this process or in a new
interpreter. And a forked child shares this process's pages until either writes to
one: ``prepared`` keeps the child's garbage collector off the parent's objects and
gives the C heap's free pages back first, so neither process counts them.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import os
import threading
from collections.abc import Callable, Iterator
from typing import cast


def alone() -> bool:
    """Whether this process may fork now: it can, and no other thread runs."""
    return hasattr(os, "fork") and threading.active_count() == 1


@contextlib.contextmanager
def prepared() -> Iterator[None]:
    """Fork inside: the objects made so far frozen (a collection in the child would write
    to every object's header and copy every page it shares with this process), the C
    heap's free pages released. A child that never leaves the block keeps them frozen."""
    gc.freeze()
    release_free_memory()
    try:
        yield
    finally:
        gc.unfreeze()


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim; elsewhere nothing).

    Walking a long history frees much (libgit2's diffs of every commit): kept, a forked
    child's resident memory counts those pages again (13 MB each on a real-shaped
    history). Milliseconds on this project's archives.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return cast(Callable[[int], int], ctypes.CDLL(None).malloc_trim)
    except (OSError, AttributeError):
        return None
