"""A repository and its index opened as git would, where libgit2 does not do it alone.

What libgit2 refuses (a repository owned by another user, a SHA-256 repository, a split
or locked index) is a StoreError a person can act on: it was a traceback that called
itself a bug. And ``core.sharedRepository`` is honoured as git honours it: libgit2
writes with the process's umask, so a nightly run with umask 077 made objects and refs
its group could not read.
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
        repo = pygit2.Repository(str(path))
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
    if not repo.is_bare and not (Path(repo.workdir) / ".git").exists() and (
            "core.worktree" not in repo.config):
        # A bare repository whose core.bare is false, or a separate git directory: libgit2
        # takes the directory above for the checkout (git: "must be run in a work tree").
        raise StoreError(
            f"{path} is a git directory without a checkout of its own (core.bare is false, "
            f"core.worktree unset), so its files would go to {repo.workdir}; for a bare "
            f"repository run 'git -C {path} config core.bare true', else give --repo the "
            "checkout")
    share(repo)
    return repo


# core.sharedRepository's words, as git reads them -> the permission bits they add.
_SHARED = {"group": 0o070, "true": 0o070, "1": 0o070,
           "all": 0o075, "world": 0o075, "everybody": 0o075, "2": 0o075}


def share(repo: pygit2.Repository) -> None:
    """Let the group (or everyone) read and write what this process writes, when
    ``core.sharedRepository`` asks: the umask only ever loosens, as git's files are
    loosened (objects 0440 and directories 2770 under ``group`` with umask 077)."""
    try:
        value = str(repo.config["core.sharedRepository"]).strip().lower()
    except (KeyError, ValueError, pygit2.GitError):
        return
    allow = _SHARED.get(value, 0)
    if not allow and value.startswith("0") and len(value) > 1:
        try:
            mode = int(value, 8) & 0o777  # an exact mode; directories also get x where r
        except ValueError:
            return
        allow = mode | (mode & 0o444) >> 2
    if allow:
        current = os.umask(0)
        os.umask(current & ~allow)


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
