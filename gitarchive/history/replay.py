"""Per-track dates from the history of the snapshots: the semantics of the cumulative views.

The history is replayed as a sequence of *events* (events.py): the commits
that themselves wrote a snapshot file (``playlists/plain/<id>``,
``playlists/pretty/<id>.json``, ``playlists/followers/<id>.json``), ordered by
committer time (then generation, then id). That is the equivalent linear history:
a merge of two archivers' branches replays each branch's own writes at their own
times, as if the later commits had been rebased on the earlier ones.

- A playlist's *snapshot* is the last content written to its JSON file (or, where
  there is none, its plain file — the pre-2022 layout): the last write wins.
- An event that writes (not only deletes) a snapshot file is a *run* of the
  archiver. Commits that write none (clean merges, ``rebuild``'s own commits,
  ``add``/``remove`` registry edits, README edits) are not runs: they move no date,
  so ``rebuild`` reaches a fixed point.
- A run *observes* every playlist that has a snapshot and is registered in the
  run's own tree (every playlist with a snapshot, when the tree has no
  ``registry/``) — unless its commit carries a run record (``archive/runrecord.py``):
  then it observes only the playlists it fetched (``Event.observed``), and each one
  it failed to fetch gets a *gap* (shown in the view) instead of a date.
  A playlist unregistered is not observed — its dates pause — and
  when registered again its history continues. A missing snapshot file means
  "not archived", never "empty".
- At each observation a track is present or absent. ``first_seen``/``last_seen``
  are the first/last observations where present, ``stints`` the number of maximal
  stretches of observations where present, ``date_removed`` the first observation
  after the last stretch (none while present); ``date_added_asterisk`` marks the
  tracks present at the playlist's first observation (``date_first_scraped``).

Track identity is the Spotify track ID from the JSON snapshot; for plain-only
history (and local files without an ID) it is the lower-cased plain line. When an
archive moves from plain to JSON, a track keeps the dates of its plain line and
takes its title, artists, album and length from the JSON.

What real archives hold besides (issue 9):

- An empty file is a placeholder ("no snapshot yet", how spotify-playlist-archive
  registered a playlist): events.py reads it as no file, so it is no run, no
  snapshot and no problem.
- A file renamed with identical content in one commit (a mistyped ID corrected):
  the new ID's history continues the old one's (the old ID's views are deleted).
- ``playlists/links`` (archive/links.py, ``gitarchive link OLD NEW``): where NEW's
  first snapshot is written, its history starts as a copy of OLD's. A commit that
  drops one playlist and adds another of the same name is recorded as a candidate
  (``HistoryState.candidates``), which ``rebuild`` suggests and never applies.
- A version that cannot be read is skipped (a Problem): the previous one goes on.

Each new version is applied as a difference to the playlist's previous one (delta.py),
so the work follows the tracks that came and went, not the length of every version.

Everything is kept as epoch seconds, so the state does not depend on the time zone
the dates are finally shown in.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitarchive.archive import layout
from gitarchive.archive.snapshots import ParseCache
from gitarchive.errors import SnapshotError
from gitarchive.history import delta
from gitarchive.history.digest import snapshot_digest
from gitarchive.history.events import KIND_JSON, KIND_PLAIN, Event
from gitarchive.history.state import HistoryState, PlaylistHistory

if TYPE_CHECKING:
    from gitarchive.history.timeline_record import Recorder


@dataclass(frozen=True)
class Problem:
    """A snapshot blob that could not be parsed and was skipped."""

    commit: str
    path: str
    reason: str

    def __str__(self) -> str:
        where = self.commit[:12] if self.commit else "the new snapshot"
        return f"{where}: {self.path}: {self.reason} (skipped)"


class Replayer:
    """Applies events in order to a HistoryState; reads blobs through ``read_blob``.

    A new version of a playlist is applied as a difference to its previous one
    (delta.py): the work follows the tracks that came and went. ``state.links``
    (NEW -> OLD, archive/links.py): where NEW's first snapshot is written, its history
    starts as a copy of OLD's. A file renamed with identical content in one commit (a
    mistyped name corrected) moves the old name's history to the new one.
    """

    def __init__(
        self,
        state: HistoryState,
        read_blob: Callable[[str], bytes],
        known: Mapping[str, bytes] | None = None,
        recorder: Recorder | None = None,
        chunker: delta.Chunker | None = None,
    ) -> None:
        self.state = state
        self.recorder = recorder  # timelines recorded from the same reads (timeline_record)
        self.read_blob = read_blob
        # JSON blob id -> content of the snapshots fetch holds in memory: left out of the
        # read-ahead plan (sync.replay_events) and not read from the object database.
        self.known = known or {}
        self.problems: list[Problem] = []
        # Shared by the versions of one group's playlists (grouped.group_chunker): a text
        # parsed once there.
        self.chunker = chunker or delta.Chunker(ParseCache())
        # Playlists whose snapshot went away / that first appeared: (commit, pid, name),
        # matched into state.candidates (a split replay merges both halves' first).
        self.vanished: list[tuple[str, str, str]] = []
        self.appeared: list[tuple[str, str, str]] = []
        self._fresh: list[str] = []
        # id of a history -> (it, the number of the version last applied to it, whatever
        # its pid was then): the recorder reuses a version's differences when its own last
        # version of the pid is that one.
        self._applied: dict[int, tuple[PlaylistHistory, int]] = {}
        self._applies = 0

    def apply_all(self, events: Iterable[Event]) -> None:
        """Apply ``events``; then ``add_candidates`` with ``vanished`` and ``appeared``."""
        for event in events:
            self.apply(event)
        if self.recorder is not None:
            self.recorder.finish()

    def apply(self, event: Event) -> None:
        """One event: its writes, then (if it is a run) one more entry in ``state.runs``."""
        state = self.state
        if state.last_key is not None and event.key <= state.last_key:
            raise ValueError("events must be applied in order")
        if self.recorder is not None:
            self.recorder.begin(event)
        renamed = self._move_renamed(event)
        self._fresh = []
        changed = apply_writes(event, state.playlists, self._new_playlist)
        for pid, playlist in changed.items():
            if playlist.source is None and playlist.loaded:
                self.vanished.append((event.oid, pid, playlist.name))
        for pid in renamed:  # read again: a plain snapshot's url names the ID
            changed.setdefault(pid, state.playlists[pid])
        for playlist in changed.values():
            self._load_snapshot(playlist, event)
        for pid in self._fresh:
            playlist = state.playlists[pid]
            if playlist.loaded:
                self.appeared.append((event.oid, pid, playlist.name))
        if event.is_run:
            for pid in event.record.failed if event.record is not None else ():
                state.note_failure(pid, event.time)
            state.add_run(event.time, event.observed)  # observes only what it fetched
        state.last_key = event.key
        if self.recorder is not None:
            self.recorder.end()

    def _move_renamed(self, event: Event) -> list[str]:
        """Move the histories of files renamed with identical content; their new pids."""
        playlists = self.state.playlists
        deleted: dict[tuple[str, str], str] = {}
        for write in event.writes:
            if write.blob is None and write.kind in (KIND_JSON, KIND_PLAIN):
                playlist = playlists.get(write.pid)
                if playlist is None:
                    continue
                blob = playlist.json_blob if write.kind == KIND_JSON else playlist.plain_blob
                if blob is not None:
                    deleted.setdefault((write.kind, blob), write.pid)
        if not deleted:
            return []
        state = self.state
        renamed = delta.renamed_from(deleted, event.writes, lambda pid: pid in playlists)
        for new_pid, old_pid in renamed.items():
            playlist = playlists.pop(old_pid)
            playlist.pid = new_pid
            playlist.changed = True
            playlists[new_pid] = playlist
            if old_pid in state.pending:
                state.pending.discard(old_pid)
                state.pending.add(new_pid)
            state.view_dirty.update((new_pid, old_pid))  # old_pid: its files are deleted
        return list(renamed)

    def _new_playlist(self, pid: str) -> PlaylistHistory:
        """A playlist's first write: a fresh history, or a copy of the one it continues."""
        state = self.state
        old = state.links.get(pid)
        if old is not None and old in state.playlists:
            return _continued(state.playlists[old], pid)
        self._fresh.append(pid)
        return PlaylistHistory(pid, settled=len(state.runs))

    def _load_snapshot(self, playlist: PlaylistHistory, event: Event) -> None:
        source = playlist.source
        if source is None:
            return  # no snapshot: not observed until one is written again
        kind, blob = source
        pid = playlist.pid
        chunker = self.chunker
        playlist.digest = None
        try:
            data = self.known.get(blob) or self.read_blob(blob)
            if kind == KIND_JSON:
                version, view_changed = chunker.json_applied(playlist, data)
            else:
                version = chunker.plain_version(pid, data)
                view_changed = delta.apply_version(playlist, version, chunker.parse, kind)
        except (SnapshotError, KeyError, ValueError) as exc:
            path = layout.pretty_json_path(pid) if kind == KIND_JSON else layout.plain_path(pid)
            self.problems.append(Problem(event.oid, path, str(exc)))
            return
        if self.recorder is not None:
            prior = self._applied.get(id(playlist))
            self._applies += 1
            self._applied[id(playlist)] = (playlist, self._applies)  # kept: the id stays its
            self.recorder.version(pid, kind, blob, version, chunker.parse,
                                  after=prior[1] if prior else None, number=self._applies)
        if kind == KIND_JSON and blob in self.known:  # fetch's: the next may move alone
            playlist.digest = snapshot_digest(data)
        self.state.pending.add(pid)  # settle drops it once observed
        playlist.loaded = True
        # A snapshot that differs only in its follower count — most days, for most
        # playlists — leaves the view alone (settle() marks it when tracks come or go).
        if view_changed:
            self.state.view_dirty.add(pid)


def _continued(old: PlaylistHistory, pid: str) -> PlaylistHistory:
    """A copy of ``old``'s history (settled) under ``pid``: a linked playlist's start."""
    tracks = {key: copy.copy(track) for key, track in old.tracks.items()}
    return PlaylistHistory(
        pid, None, None, old.name, old.url, old.description, old.first_run, old.last_run,
        tracks, set(old.dirty), old.loaded, old.settled, True, dict(old.chunks),
        dict(old.counts),
    )


def add_candidates(state: HistoryState, vanished: Iterable[tuple[str, str, str]],
                   appeared: Iterable[tuple[str, str, str]]) -> None:
    """Record (old, new, commit) where one commit dropped a playlist and added one of its name."""
    gone: dict[tuple[str, str], list[str]] = {}
    for commit, pid, name in vanished:
        gone.setdefault((commit, name), []).append(pid)
    known = set(state.candidates)
    for commit, pid, name in appeared:
        for old in sorted(gone.get((commit, name), ())):
            found = (old, pid, commit)
            if old != pid and found not in known:
                state.candidates.append(found)
                known.add(found)
    state.candidates.sort()


def apply_writes(
    event: Event,
    playlists: MutableMapping[str, PlaylistHistory],
    new: Callable[[str], PlaylistHistory],
) -> dict[str, PlaylistHistory]:
    """The rule for which snapshot a playlist has: the event's writes applied to the blobs.

    A playlist's snapshot is its JSON file's last content, else its plain file's
    (PlaylistHistory.source). Returns the playlists whose snapshot changed: those the
    replay reads. ``new`` makes the history of a playlist written the first time.
    """
    changed: dict[str, PlaylistHistory] = {}
    for write in event.writes:
        if write.kind not in (KIND_JSON, KIND_PLAIN):
            continue
        playlist = playlists.get(write.pid)
        if playlist is None:
            if write.blob is None:
                continue
            playlist = playlists[write.pid] = new(write.pid)
        before = playlist.source
        if write.kind == KIND_JSON:
            playlist.json_blob = write.blob
        else:
            playlist.plain_blob = write.blob
        playlist.changed = True
        if playlist.source != before:
            changed[write.pid] = playlist
    return changed


def planned_blobs(events: Sequence[Event]) -> list[tuple[str, str]]:
    """(blob, playlist) of the snapshots Replayer will read for ``events``, in order.

    The Replayer's own rule (apply_writes) on blob ids alone; the playlist lets the
    reader fetch one playlist's versions together (see blobstream).
    """
    return list(blobs_planned(events))


def blobs_planned(events: Iterable[Event]) -> Iterator[tuple[str, str]]:
    """``planned_blobs``, one at a time (for a count that can stop early)."""
    sources: dict[str, PlaylistHistory] = {}
    for event in events:
        for pid, playlist in apply_writes(event, sources, PlaylistHistory).items():
            source = playlist.source
            if source is not None:
                yield source[1], pid
