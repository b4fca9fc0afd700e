"""The cyclic garbage collector paused around work that makes many objects and no cycles.

A fetch of 1,000 playlists or a query of a common word makes hundreds of thousands
of objects (answers, tracks, rows) that live until the work ends, none of them in a
reference cycle: reference counting frees them all. The collector would walk them
again and again as they pile up (a fetch: ~1,000 collections, 6 of them over
everything, 0.7 s of its CPU, holding the GIL its request threads need).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Collector off inside; back as it was after (a cycle made meanwhile waits till then)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
