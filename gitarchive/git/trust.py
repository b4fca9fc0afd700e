"""Reading objects without hashing each one again, as git itself reads them.

libgit2 re-hashes every object it reads (strict hash verification). A whole-history
walk reads hundreds of 50-100 KB snapshot directory trees per day of history, and
that hashing costs as much as the reading. git does not verify objects on read
either (``git fsck`` does); the objects here were hashed when they were written or
fetched. The option is process-wide in libgit2: it is switched off only inside
``unverified_reads()`` (nested uses share one switch) and back on (the default) after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pygit2

_depth = 0


@contextmanager
def unverified_reads() -> Iterator[None]:
    """Objects read inside are not hashed again; verification is back on after."""
    global _depth
    if _depth == 0:
        pygit2.settings.enable_strict_hash_verification(False)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            pygit2.settings.enable_strict_hash_verification(True)
