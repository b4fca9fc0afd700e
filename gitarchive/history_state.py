"""The incremental state of the cumulative views, kept inside the git directory.

``<git dir>/gitarchive/history-state.json`` holds::

    {"format": "gitarchive-history/1",
     "head": "<last commit processed>",
     "gens": {"<commit>": <generation>, ...},
     "state": {"last_key": [time, gen, "<commit>"],
               "playlists": {"<id>": {...}}}}      # history_replay.state_to_dict

Everything in it is epoch seconds, so it does not depend on the display time zone.
It is a cache: when it is missing, unreadable, of another format, or written for a
history that HEAD no longer contains (rewritten, rebased, force-pushed), the caller
replays the whole history instead.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitarchive.history_replay import HistoryState, state_from_dict, state_to_dict
from gitarchive.store import Store

FORMAT = "gitarchive-history/1"


@dataclass
class SavedState:
    head: str
    gens: dict[str, int]
    state: HistoryState


def state_path(store: Store) -> Path:
    return store.git_dir / "gitarchive" / "history-state.json"


def load(store: Store) -> SavedState | None:
    """The saved state, or None when there is none usable (never raises for bad content)."""
    path = state_path(store)
    try:
        data = json.loads(path.read_bytes())
        if data.get("format") != FORMAT:
            return None
        gens = {str(k): int(v) for k, v in data["gens"].items()}
        return SavedState(str(data["head"]), gens, state_from_dict(data["state"]))
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


def save(store: Store, saved: SavedState) -> None:
    """Write atomically, so a killed run leaves the previous state (a cache) intact."""
    path = state_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "head": saved.head,
        "gens": saved.gens,
        "state": state_to_dict(saved.state),
    }
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".history-state.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def still_valid(store: Store, saved: SavedState, head: pygit2.Commit) -> bool:
    """Whether the saved state describes an ancestor of ``head`` (else: rewritten history)."""
    repo = store.repo
    try:
        old = pygit2.Oid(hex=saved.head)
        if old not in repo:
            return False
        if old == head.id:
            return True
        return bool(repo.descendant_of(head.id, old))
    except (ValueError, pygit2.GitError):
        return False
