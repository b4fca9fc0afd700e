"""Replace a file atomically: readers see the old content or the new one, never a half.

One helper for every small file gitarchive keeps beside or outside the repository (the saved
login, publish targets, follow state, the site manifest, installed hooks), so a kill or a full
disk mid-write never leaves a truncated file behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644, sync: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place.

    The temporary file is created with mode 0600 (mkstemp) and only then given ``mode``,
    so a secret is never readable by others, not even for a moment. ``sync`` flushes it
    to disk before the rename (for files that cannot be derived again, like a login).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def flush(path: Path) -> None:
    """fsync a file or a directory (a directory: the names in it are on disk), so what a
    rename or an unlink relies on is there after a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
