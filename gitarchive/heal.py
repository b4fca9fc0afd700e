"""Derived caches heal themselves: any damage means "rebuild it", never a crash or a wrong answer.

The query index (SQLite) and the saved history state (pickles) in ``<git dir>/gitarchive/``
are derived from the commits. A truncated or overwritten file, a directory replaced
by a file, two first questions racing to build the index: each is detected here,
the damaged cache is thrown away with a one-line note (on stderr and in the run log),
and the caller rebuilds it from history.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import sqlite3
import sys
from _blake2 import blake2b as blake2b  # hashlib's own, without loading OpenSSL (a few ms)
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
_SIDECARS = ("-wal", "-shm", "-journal")


def notice(message: str) -> None:
    """Say once, on stderr and in the log, that a cache was damaged and is being rebuilt."""
    import logging  # loaded when something is damaged, not by every question

    # The run log's logger (ops.runlog), by name: this module sits below every subpackage.
    logging.getLogger("gitarchive.run").warning(message)
    print(f"note: {message}", file=sys.stderr)


def digest(data: bytes) -> str:
    """The checksum a cache file is stored with (and checked against on load)."""
    return blake2b(data, digest_size=16).hexdigest()


# --------------------------------------------------------------- query index


def remove(path: Path, *, only_if_dir: bool = False) -> None:
    """Remove a cache file, or whatever took its name (a directory too); gone already is fine."""
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            import shutil

            shutil.rmtree(path)
        elif not only_if_dir:
            path.unlink()


def discard_database(path: Path, reason: object = None) -> None:
    """Remove an SQLite cache with its WAL and journal files (a stale WAL corrupts the next)."""
    if reason is not None and path.exists():
        notice(f"the query index {path.name} is damaged ({reason}); rebuilding it from history")
    remove(path)
    remove_sidecars(path)


def remove_sidecars(path: Path) -> None:
    """The journal files SQLite keeps beside a database (WAL, shared memory, rollback)."""
    for suffix in _SIDECARS:
        remove(path.with_name(path.name + suffix))


def unjournaled(new: Path, setup: Iterable[str] = ()) -> sqlite3.Connection:
    """A new SQLite file written whole, a transaction begun (after the ``setup`` scripts):
    no journal and no syncs, as no one reads it until ``put_in_place`` renames it."""
    db = sqlite3.connect(new, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        for script in setup:
            db.executescript(script)
        db.execute("BEGIN")
    except BaseException:
        db.close()
        raise
    return db


def written_whole(new: Path, setup: Iterable[str], fill: Callable[[sqlite3.Connection], None]
                  ) -> None:
    """A new SQLite file at ``new`` (``unjournaled``, after the ``setup`` scripts) holding
    what ``fill`` writes, committed and closed; on any failure, no file (and the error)."""
    discard_database(new)  # what a killed write left
    db = unjournaled(new, setup)
    try:
        fill(db)
        db.execute("COMMIT")
    except BaseException:
        db.close()
        discard_database(new)
        raise
    db.close()


def put_in_place(new: Path, path: Path) -> None:
    """A whole new SQLite file (``unjournaled``, closed) on disk and renamed over
    ``path``, whose journal files go first (never applied to the new one)."""
    from gitarchive.atomicfile import flush

    flush(new)
    remove_sidecars(path)
    os.replace(new, path)
    flush(path.parent)


def truncated(path: Path) -> bool:
    """Whether an SQLite file is shorter than its header says (cheap: 100 bytes and a stat).

    A truncated index may still answer some queries, from the pages that survived:
    a wrong answer, not an error. The header's page count is valid when its
    version-valid-for number equals the change counter (offsets 92 and 24).
    """
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return False
    if len(header) < 100:
        return size > 0
    if header[92:96] != header[24:28]:
        return False
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    return size < page_size * int.from_bytes(header[28:32], "big")


@contextlib.contextmanager
def building(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` while the cache at ``path`` is checked, built or updated.

    Parallel first questions used to build the same new index at once ("table meta
    already exists", "disk I/O error"); now the second waits and finds it built.
    """
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)  # as the umask allows
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def forget_database(path: Path) -> None:
    """Remove an SQLite cache under its building lock (``rebuild --full``: rebuilt when asked)."""
    if path.parent.is_dir():
        with building(path):
            discard_database(path)


def healing_index(
    index_path: Callable[[str], Path],
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a question: an SQLite error from a damaged index discards it and asks again.

    ``index_path`` maps the command's ``repo_path`` keyword to its index file.
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except sqlite3.DatabaseError as exc:
                discard_database(index_path(str(kwargs["repo_path"])), exc)
                return func(*args, **kwargs)

        return wrapper

    return decorate


# ------------------------------------------------------------ history state


def cache_dir(folder: Path) -> Path:
    """``folder`` as a directory, replacing whatever non-directory took its name."""
    if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
        notice(f"{folder.name} in the git directory is not a directory; replacing it")
        folder.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    return folder
