"""Pausing Python's cyclic garbage collector around work that makes many lasting objects.

A whole-history replay and a question over a large index make millions / tens of
thousands of objects that live on and form no reference cycles: every full collection
would walk all of them again, for nothing (8-10% of a replay's time).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def uncollected() -> Iterator[None]:
    """No cyclic garbage collection inside (back as it was after: cycles made inside,
    if any, are collected then)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
