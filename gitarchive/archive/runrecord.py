"""What a fetch run fetched, and what failed and why: git trailers in the run's commit.

Why trailers and not a status file in the tree: the record belongs to exactly one run,
and a commit *is* one run, so the history walk reads it from the commit it is already
looking at (no extra blob, no file every run rewrites, nothing for a merge to
conflict on). It stays compact for 1,000 playlists because the common case is one
word: ``*`` means "every playlist registered in this commit's tree except the failed
ones". Only ``--only``/``--shard`` runs list their IDs (23 bytes each)::

    Gitarchive-Fetched: *
    Gitarchive-Failed: 37i9dQZF1DX5LEXW9eXA0n not found (404): Spotify ...
    Gitarchive-Emptied: 3xQmR8vDemoSmallMix002 80

``Gitarchive-Fetched`` is what marks a commit as carrying a record; a commit without
one (older archives, other tools, hand edits) has no record, and keeps the old
meaning: a run that observes every registered playlist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gitarchive.redact import redact

FETCHED = "Gitarchive-Fetched"
FAILED = "Gitarchive-Failed"
EMPTIED = "Gitarchive-Emptied"
ALL = "*"
_REASON_MAX = 300


@dataclass(frozen=True)
class RunRecord:
    """One run: the playlists fetched (``None``: all registered but the failed), the
    failures with a one-line reason, and the playlists that came back empty (with how
    many tracks their previous snapshot had)."""

    fetched: frozenset[str] | None = None
    failed: Mapping[str, str] = field(default_factory=dict)
    emptied: Mapping[str, int] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.fetched, tuple(sorted(self.failed)), tuple(sorted(self.emptied))))

    def observed(self, registry: frozenset[str] | None) -> frozenset[str] | None:
        """The playlists this run observed, given its tree's registry (None: every one)."""
        if self.fetched is not None:
            return self.fetched
        if registry is None:
            return None  # no registry/ to subtract from: cannot happen for a fetch commit
        return registry.difference(self.failed) if self.failed else registry

    def trailers(self) -> str:
        """The trailer block for the end of a commit message."""
        fetched = ALL if self.fetched is None else " ".join(sorted(self.fetched))
        lines = [f"{FETCHED}: {fetched or '-'}"]
        lines += [f"{FAILED}: {pid} {one_line(self.failed[pid])}" for pid in sorted(self.failed)]
        lines += [f"{EMPTIED}: {pid} {self.emptied[pid]}" for pid in sorted(self.emptied)]
        return "\n".join(lines)


def one_line(reason: str) -> str:
    """A reason as one short line, without secrets (it goes into a commit message)."""
    text = " ".join(redact(reason).split())
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 1] + "…"


def make(
    asked: Iterable[str], everything: bool, failed: Mapping[str, str],
    emptied: Mapping[str, int],
) -> RunRecord:
    """The record of a run that asked for ``asked`` (``everything``: the whole registry)."""
    fetched = None if everything else frozenset(asked).difference(failed)
    return RunRecord(fetched, {pid: one_line(r) for pid, r in failed.items()}, dict(emptied))


def parse(message: str) -> RunRecord | None:
    """The record in a commit message, or None when it carries none."""
    start = message.rfind(FETCHED + ":")
    if start < 0:
        return None
    message = message[start:]  # the trailer block ends the message: skip the per-playlist lines
    fetched: frozenset[str] | None = frozenset()
    seen = False
    failed: dict[str, str] = {}
    emptied: dict[str, int] = {}
    for line in message.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        value = value.strip()
        if key == FETCHED:
            seen = True
            words = [w for w in value.split() if w != "-"]
            fetched = None if words == [ALL] else frozenset(words)
        elif key == FAILED:
            pid, _, reason = value.partition(" ")
            if pid:
                failed[pid] = reason
        elif key == EMPTIED:
            pid, _, count = value.partition(" ")
            if pid:
                emptied[pid] = int(count) if count.isdigit() else 0
    if not seen:
        return None
    return RunRecord(fetched, failed, emptied)


def observes(pid: str, record: RunRecord | None, registry: frozenset[str] | None) -> bool:
    """Does a run observe playlist ``pid``? Without a record: when registered (or no
    registry/ at all); with one: only when it was fetched in that run."""
    seen = registry if record is None else record.observed(registry)
    return seen is None or pid in seen
