"""Fetch health: when each playlist was last fetched, what is failing and why, what is stale.

The record of a run lives in its commit (``archive.runrecord``: git trailers). A run
that changes nothing makes no commit — that rule stays: a commit would be a run of
the archiver for the history walk, and an unchanged day must not rewrite anything —
so such a run (all fetched and unchanged, or failures and nothing else) is appended
to ``.git/gitarchive/fetch-runs.jsonl`` instead: one short JSON line, ``"fetched":
null`` meaning "all registered but the failed". That file is local (a clone does not
carry it), which is what it is for: it tells ``status`` on this machine that the
failing or unchanged runs happened. The history walk and the views never read it:
they only see committed runs.

``status`` merges both sources in time order. Commits without a record (older
archives, other tools) that wrote a snapshot count as runs that fetched every
registered playlist, as the history walk counts them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pygit2

from gitarchive.archive import layout, registry, runrecord
from gitarchive.archive.runrecord import RunRecord
from gitarchive.archive.snapshots import split_plain
from gitarchive.errors import SnapshotError
from gitarchive.git.store import Store, TreeReader
from gitarchive.history.events import EventReader, dated

LOG_NAME = "fetch-runs.jsonl"
DAY = 86_400


def log_path(store: Store) -> Path:
    return store.git_dir / "gitarchive" / LOG_NAME


def remember(store: Store, when: int, head: str | None, record: RunRecord) -> None:
    """Append a run that made no commit to the local run log (one line, flushed)."""
    line = json.dumps(
        {
            "time": when,
            "head": head,
            "fetched": None if record.fetched is None else sorted(record.fetched),
            "failed": {pid: runrecord.one_line(r) for pid, r in sorted(record.failed.items())},
            "emptied": dict(sorted(record.emptied.items())),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    path = log_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@dataclass(frozen=True)
class Run:
    """A run as status needs it: when, what it observed (None: every playlist), failures."""

    time: int
    observed: frozenset[str] | None
    record: RunRecord


def _logged_runs(store: Store, reader: EventReader) -> Iterator[Run]:
    path = log_path(store)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    for line in text.splitlines():
        try:
            raw = json.loads(line)
            fetched = raw["fetched"]
            record = RunRecord(
                None if fetched is None else frozenset(fetched),
                {str(k): str(v) for k, v in raw.get("failed", {}).items()},
                {str(k): int(v) for k, v in raw.get("emptied", {}).items()},
            )
            when = int(raw["time"])
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a torn last line from a killed run: the others still count
        reg = None
        head = raw.get("head")
        if head:
            try:
                reg = reader.registry(store.repo[head].peel(pygit2.Commit).tree)
            except (KeyError, ValueError, pygit2.GitError):
                reg = None
        if reg is None and record.fetched is None:
            continue  # its commit is gone (rewritten history): what "all" meant is unknown
        yield Run(when, record.observed(reg), record)


def _committed_runs(store: Store, reader: EventReader) -> Iterator[Run]:
    head = store.head()
    if head is None:
        return
    # Oldest first, parents before children: runs in the same second keep their order
    # through status's stable sort by time (newest first, a failure was undone by the
    # success before it).
    order = pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE
    for commit in store.repo.walk(head.id, order):
        record = runrecord.parse(commit.message)
        reg = reader.registry(commit.tree)
        if record is None:
            if len(commit.parents) > 1 or not _wrote_snapshots(reader, commit):
                continue
            record = RunRecord()  # an older archive's run: it saw every registered playlist
            yield Run(dated(commit), reg, record)
        else:  # dated as the history dates it: a run by a reset clock is not the oldest
            yield Run(dated(commit), record.observed(reg), record)


def _wrote_snapshots(reader: EventReader, commit: pygit2.Commit) -> bool:
    """Whether a commit changed a snapshot directory (compares subtree ids only)."""
    def ids(tree: pygit2.Tree | None) -> list[pygit2.Oid | None]:
        return [None if d is None else d.id for d in reader.snapshot_dirs(tree).values()]

    return ids(commit.tree) != ids(commit.parents[0].tree if commit.parents else None)


@dataclass
class PlaylistHealth:
    """One registered playlist's fetch health."""

    pid: str
    name: str
    last_ok: int | None = None
    failing_since: int | None = None
    last_error: str | None = None
    last_error_at: int | None = None
    emptied_at: int | None = None  # came back empty at this run, and is empty still
    emptied_from: int | None = None
    stale: bool = False

    @property
    def never_fetched(self) -> bool:
        return self.last_ok is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.pid,
            "name": self.name,
            "last_fetched": iso(self.last_ok),
            "failing_since": iso(self.failing_since),
            "last_error": self.last_error,
            "last_error_at": iso(self.last_error_at),
            "never_fetched": self.never_fetched,
            "stale": self.stale,
            "emptied": None if self.emptied_at is None else {
                "at": iso(self.emptied_at), "tracks_before": self.emptied_from,
            },
        }


def iso(when: int | None) -> str | None:
    if when is None:
        return None
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(store: Store, *, now: int, stale_days: float = 3) -> list[PlaylistHealth]:
    """Every registered playlist's health as of ``now`` (epoch seconds), in registry order.

    Stale: no successful fetch in the last ``stale_days`` days, or never one.
    """
    entries, bad = registry.load(store)
    head = store.reader()
    # An unusable registry file's playlist is still registered: fetch names it as failing.
    aliases = dict.fromkeys(registry.unusable(bad), None) | {
        pid: entry.alias for pid, entry in entries.items()}
    found = {pid: PlaylistHealth(pid, alias or _plain_name(head, pid) or pid)
             for pid, alias in sorted(aliases.items())}
    reader = EventReader(store.repo)
    runs = sorted([*_committed_runs(store, reader), *_logged_runs(store, reader)],
                  key=lambda run: run.time)
    for run in runs:
        record = run.record
        for pid, reason in record.failed.items():
            health = found.get(pid)
            if health is not None:
                if health.failing_since is None:
                    health.failing_since = run.time
                health.last_error, health.last_error_at = reason, run.time
        seen = found.keys() if run.observed is None else found.keys() & run.observed
        for pid in seen:
            health = found[pid]
            health.last_ok = run.time
            health.failing_since = None
        for pid, before in record.emptied.items():
            if pid in found:
                found[pid].emptied_at, found[pid].emptied_from = run.time, before
    for health in found.values():
        if health.emptied_at is not None and not _is_empty(head, health.pid):
            health.emptied_at = health.emptied_from = None
        health.stale = health.last_ok is None or now - health.last_ok > stale_days * DAY
    return list(found.values())


def _plain_name(head: TreeReader, pid: str) -> str | None:
    """The plain file's name line, read as the history reads it (a CRLF or BOM file's too)."""
    data = head.read(layout.plain_path(pid))
    if not data:
        return None
    try:
        return split_plain(pid, data)[0] or None
    except SnapshotError:  # no snapshot: its first line is still the best name there is
        return data.split(b"\n", 1)[0].decode("utf-8", "replace") or None


def _is_empty(head: TreeReader, pid: str) -> bool:
    data = head.read(layout.pretty_json_path(pid))
    try:
        return data is not None and json.loads(data).get("tracks") == []
    except (ValueError, AttributeError):
        return False
