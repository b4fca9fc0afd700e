"""What libgit2 refuses (a repository, an index), said as a StoreError a person can act on.

Without this a repository owned by another user, a SHA-256 repository or a split index
ended every command in a traceback that called itself a bug.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pygit2

from gitarchive.errors import StoreError


def open_repository(path: str | os.PathLike[str]) -> pygit2.Repository:
    """The repository at ``path``; what libgit2 refuses to open, a StoreError that says why
    and what to do (else every command would end in a traceback)."""
    try:
        return pygit2.Repository(str(path))
    except pygit2.GitError as exc:
        text = str(exc)
        if "not owned by current user" in text:
            raise StoreError(
                f"{path} belongs to another user, and git (libgit2) refuses such a repository: "
                f"run gitarchive as its owner, or trust it with 'git config --global --add "
                f"safe.directory {Path(path).resolve()}'") from exc
        if "object format" in text:
            raise StoreError(
                f"{path} names its objects by SHA-256 (extensions.objectFormat), which pygit2 "
                "cannot read; gitarchive needs a SHA-1 repository") from exc
        raise StoreError(f"cannot open the repository {path}: {text}") from exc


@contextlib.contextmanager
def on_index(git_dir: Path) -> Iterator[None]:
    """Reading or locking the index: a split index or a lock left by a git command becomes a
    StoreError saying what to do (any other libgit2 error goes on as it was)."""
    try:
        yield
    except pygit2.GitError as exc:
        text = str(exc)
        if "'link'" in text:
            raise StoreError(
                f"the index of {git_dir} is a split index (core.splitIndex), which libgit2 "
                "cannot read; run 'git config core.splitIndex false && git update-index "
                "--no-split-index' there, then run gitarchive again. Nothing was "
                "committed") from exc
        if "index is locked" in text:
            raise StoreError(
                f"{git_dir / 'index.lock'} exists: a git command is running, or one was killed "
                "and left it; once no git command runs there, remove it. Nothing was "
                "committed") from exc
        raise
