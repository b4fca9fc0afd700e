"""The checkout's files: what is in the way of writing them, and updating only what differs."""

from __future__ import annotations

import contextlib
import functools
import os
import stat
from collections.abc import Iterable
from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy

from gitarchive.git.opening import on_index
from gitarchive.git.packwriter import blob_id
from gitarchive.git.trust import unverified_reads


def update(repo: pygit2.Repository, head: pygit2.Commit | None, new: pygit2.Commit) -> None:
    """Make the checkout, now at ``head``, show ``new``; only the paths that differ are touched.

    A checkout of the whole tree compares every file of the checkout (a full rebuild
    that writes 6,000 views spent a third of its checkout on that). The objects are
    read without hashing them again (trust.py): they were just written, or fetched.
    A checkout that fails half-way (the index locked by a git command the user runs)
    puts back the files it wrote: left untracked, they would block every later run
    once the user's commit moves HEAD past the marker that recover() reads.
    """
    deltas = list((head.tree.diff_to_tree(new.tree) if head is not None
                   else new.tree.diff_to_tree(swap=True)).deltas)
    paths = sorted({p for d in deltas for p in (d.old_file.path, d.new_file.path)})
    if not paths:
        return
    try:
        with unverified_reads(), on_index(Path(repo.path)):
            repo.checkout_tree(
                new.tree,
                strategy=CheckoutStrategy.SAFE | CheckoutStrategy.DISABLE_PATHSPEC_MATCH,
                paths=paths,
            )
    except BaseException:
        with contextlib.suppress(OSError, pygit2.GitError):
            _put_back(repo, deltas)
            repo.index.read(True)  # as on disk: the checkout had changed it in memory only
        raise


def _put_back(repo: pygit2.Repository, deltas: Iterable[pygit2.DiffDelta]) -> None:
    """Undo, file by file and without the index (it may be locked), what a checkout along
    ``deltas`` wrote: a file holding the new content (or the start of it) gets its old
    content back, or goes if it is new; a file it deleted comes back. Files holding
    anything else are not ours."""
    root = Path(repo.workdir)
    for delta in deltas:
        where = root / delta.new_file.path
        if delta.status == pygit2.enums.DeltaStatus.DELETED:
            if not os.path.lexists(where):
                where.parent.mkdir(parents=True, exist_ok=True)
                where.write_bytes(repo[delta.old_file.id].read_raw())
            continue
        data = regular_file(where)
        new = delta.new_file.id
        if data is None or (blob_id(data) != new.raw
                            and not repo[new].read_raw().startswith(data)):
            continue  # nothing there, or not what the checkout wrote
        if delta.status == pygit2.enums.DeltaStatus.ADDED:
            where.unlink()
        else:
            where.write_bytes(repo[delta.old_file.id].read_raw())


def roll_back(repo: pygit2.Repository, head: pygit2.Commit, written: pygit2.Commit) -> None:
    """Put the checkout, which a dead run was moving from ``head`` to ``written``, back.

    A file ``written`` added is removed too when it holds that commit's content or the
    start of it: killed while writing files, before the index, the checkout left such
    files untracked, and a checkout back to ``head`` leaves untracked files alone. (The
    run had checked that nothing stood at those paths, so nothing else is lost.)
    """
    deltas = list(head.tree.diff_to_tree(written.tree).deltas)
    paths = [d.new_file.path for d in deltas]
    if paths:
        with on_index(Path(repo.path)):
            repo.checkout_tree(head.tree, strategy=CheckoutStrategy.FORCE, paths=paths)
    root = Path(repo.workdir)
    for delta in deltas:
        if delta.status == pygit2.enums.DeltaStatus.ADDED:
            try:
                data = (root / delta.new_file.path).read_bytes()
            except OSError:
                continue  # not there (the checkout got no further), or not a file
            if repo[delta.new_file.id].read_raw().startswith(data):
                (root / delta.new_file.path).unlink()


def blocked_paths(root: Path, paths: list[str]) -> list[str]:
    """Paths a checkout cannot write: a directory in the way, or a file where one of
    their folders goes (one lstat per path and per folder)."""

    @functools.cache
    def not_a_folder(folder: str) -> bool:
        place = root / folder
        return bool(folder) and (
            place.is_symlink() or (place.exists() and not place.is_dir())
            or not_a_folder(folder.rpartition("/")[0])
        )

    return [p for p in paths if ((root / p).is_dir() and not (root / p).is_symlink())
            or not_a_folder(p.rpartition("/")[0])]


def checked_read(root: Path, path: str, oid: pygit2.Oid) -> bytes | None:
    """The checkout's copy of ``path`` if it holds blob ``oid`` (hashed to know), else None.

    Ten times faster than libgit2's read of a packed blob (a run reads 1,000 snapshots
    of its HEAD, which its checkout holds); a file edited, missing or in the middle of
    a checkout has another hash and is read from the object database instead.
    """
    data = regular_file(root / path)
    return data if data is not None and blob_id(data) == oid.raw else None


def regular_file(where: Path, limit: int = 1 << 26) -> bytes | None:
    """A regular file's bytes, never through a link nor from a pipe (None otherwise).
    Read by ``os.read`` to its end, without a file object (a run reads 2,000 of them)."""
    try:
        fd = os.open(where, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        parts = [os.read(fd, info.st_size + 1)]
        while chunk := os.read(fd, 1 << 20):  # to its end, as a file object's read() goes
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)
    except OSError:
        return None
    finally:
        os.close(fd)
