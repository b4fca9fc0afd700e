"""The cyclic garbage collector paused around work that makes many objects and no cycles.

A fetch of 1,000 playlists, a whole-history replay, a daily rebuild's views and
pictures, a question over a large index: each makes hundreds of thousands to millions
of objects that live until the work ends, nearly none of them in a reference cycle
(reference counting frees them). The collector would walk them again and again as they
pile up: a fetch ~1,000 collections (0.7-1.0 s of its CPU, holding the GIL its request
threads need), a replay 8-10 % of its time, a daily rebuild 4-8 %.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused(pause: bool = True) -> Iterator[None]:
    """Collector off inside (when ``pause``); back as it was after (a cycle made meanwhile
    waits for the next whole-heap collection, at the latest the one a process makes as it
    exits).

    What was made inside and lives on goes to the oldest generation unexamined
    (``_aged``): switched back on, the collector's first young collection examined all of
    it — a full rebuild's ~2M objects, 0.06-0.11 s as its two processes ended, and again
    in the next older generation while the questions' index was written (0.04 s).
    """
    enabled = gc.isenabled()
    if pause:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            if pause:
                _aged()
            gc.enable()


def _aged() -> None:
    """Every object the collector tracks moved to its oldest generation, none examined:
    ``freeze`` moves them all aside (counts reset), ``unfreeze`` puts them in the oldest
    (two list splices)."""
    gc.freeze()
    gc.unfreeze()
