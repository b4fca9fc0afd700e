"""Whether a repository holds its whole history: shallow and partial clones do not.

A shallow clone (``git clone --depth``, GitHub Actions' default checkout) stops at
its cut; a partial clone (``git clone --filter``) lacks old file contents, which
libgit2 cannot fetch on demand. Questions can still be answered from what is there,
but cumulative views replayed from it would date every track from the cut and drop
those removed before it, and a commit would spread that (the commands check this).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pygit2

from gitarchive.git.identity import config_get

UNSHALLOW = ("run 'git fetch --unshallow' (GitHub Actions: actions/checkout with "
             "fetch-depth: 0)")
UNFILTER = "clone it again without --filter"
CUT_MARKER = "cut-history"  # in .git/gitarchive/: caches may have been made from a cut history
# Why the views are not written from such a clone (the message's end, for every command).
WHY = ("replayed from a cut history, they would date every track from the cut and drop the "
       "tracks removed before it")


def history_cut(repo: pygit2.Repository) -> str | None:
    """What this repository's history lacks and what brings it, or None when it is whole."""
    if repo.is_shallow:
        return f"a shallow clone (git clone --depth): its history stops at a cut; {UNSHALLOW}"
    if config_get(repo.config, "extensions.partialClone") is not None or any(
            entry.name.startswith("remote.") and entry.name.endswith(".promisor")
            and repo.config.get_bool(entry.name) for entry in repo.config):
        return ("a partial clone (git clone --filter): old snapshots are not in it; "
                f"{UNFILTER}")
    return None


def whole_again(git_dir: Path, repo: pygit2.Repository) -> bool:
    """Whether caches in the git directory (the replay's saved state, the timelines, the
    questions' index) may come from a cut history that is whole now: after 'git fetch
    --unshallow' HEAD has not moved, so they would look current. A cut history leaves
    a marker for this (its caller drops them, then calls ``forget_cut``)."""
    marker = git_dir / "gitarchive" / CUT_MARKER
    if history_cut(repo) is None:
        return marker.exists()
    with contextlib.suppress(OSError):  # a repository we cannot write to makes no caches
        marker.parent.mkdir(exist_ok=True)
        marker.touch()
    return False


def forget_cut(git_dir: Path) -> None:
    """The caches of a cut history are gone: no marker until the history is cut again."""
    (git_dir / "gitarchive" / CUT_MARKER).unlink(missing_ok=True)
