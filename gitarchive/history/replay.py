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
  ``registry/``). A playlist unregistered is not observed — its dates pause — and
  when registered again its history continues. A missing snapshot file means
  "not archived", never "empty".
- At each observation a track is present or absent. ``first_seen``/``last_seen``
  are the first/last observations where present, ``stints`` the number of maximal
  stretches of observations where present, ``date_removed`` the first observation
  after the last stretch (none while present); ``date_added_asterisk`` marks the
  tracks present at the playlist's first observation (``date_first_scraped``).

Track identity is the Spotify track ID from the JSON snapshot; for plain-only
history (and local files without an ID) it is the lower-cased plain line. When an
archive moves from plain to JSON, a track keeps the dates of its plain line.

Everything is kept as epoch seconds, so the state does not depend on the time zone
the dates are finally shown in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass

from gitarchive.archive import layout
from gitarchive.archive.model import PLAIN_KEY_PREFIX, Playlist, track_key
from gitarchive.archive.snapshots import (
    ParseCache,
    TrackMeta,
    parse_json_snapshot,
    parse_plain_snapshot,
    parsed_from_playlist,
)
from gitarchive.errors import SnapshotError
from gitarchive.history.events import KIND_JSON, KIND_PLAIN, Event
from gitarchive.history.state import HistoryState, PlaylistHistory, TrackHistory


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
    """Applies events in order to a HistoryState; reads blobs through ``read_blob``."""

    def __init__(
        self,
        state: HistoryState,
        read_blob: Callable[[str], bytes],
        known: Mapping[str, Playlist] | None = None,
    ) -> None:
        self.state = state
        self.read_blob = read_blob
        self.known = known or {}  # JSON blob id -> the snapshot it holds, already in memory
        self.problems: list[Problem] = []
        self.cache = ParseCache()

    def apply_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, event: Event) -> None:
        """One event: its writes, then (if it is a run) one more entry in ``state.runs``."""
        state = self.state
        if state.last_key is not None and event.key <= state.last_key:
            raise ValueError("events must be applied in order")
        runs = len(state.runs)  # playlists.get settles each up to the previous run
        changed = apply_writes(
            event, state.playlists, lambda pid: PlaylistHistory(pid, settled=runs)
        )
        for playlist in changed.values():
            self._load_snapshot(playlist, event)
        if event.is_run:
            state.add_run(event.time, event.registry)
        state.last_key = event.key

    def _load_snapshot(self, playlist: PlaylistHistory, event: Event) -> None:
        source = playlist.source
        if source is None:
            return  # no snapshot: not observed until one is written again
        kind, blob = source
        pid = playlist.pid
        try:
            if kind == KIND_JSON and blob in self.known:
                parsed = parsed_from_playlist(self.known[blob], self.cache)
            elif kind == KIND_JSON:
                parsed = parse_json_snapshot(pid, self.read_blob(blob), self.cache)
            else:
                parsed = parse_plain_snapshot(pid, self.read_blob(blob))
        except (SnapshotError, KeyError, ValueError) as exc:
            path = layout.pretty_json_path(pid) if kind == KIND_JSON else layout.plain_path(pid)
            self.problems.append(Problem(event.oid, path, str(exc)))
            return
        self.state.pending.add(pid)  # settle drops it once observed
        playlist.loaded = True
        # Whether the cumulative view can differ for reasons settle() does not see
        # (it marks the view when tracks come or go). A snapshot that differs only in
        # its follower count — most days, for most playlists — leaves the view alone.
        view_changed = (playlist.name, playlist.url, playlist.description) != (
            parsed.name,
            parsed.url,
            parsed.description,
        )
        playlist.name, playlist.url, playlist.description = (
            parsed.name,
            parsed.url,
            parsed.description,
        )
        tracks = playlist.tracks
        dirty = playlist.dirty
        new_keys: set[str] = set()
        adopt = kind == KIND_JSON
        for key, meta, added_at in parsed.tracks:
            track = tracks.get(key)
            if track is None:
                if adopt and not key.startswith(PLAIN_KEY_PREFIX):
                    self._adopt_plain_entry(playlist, key, meta)
                    track = tracks.get(key)
                if track is None:
                    track = tracks[key] = TrackHistory(meta)
                    view_changed = True
            if track.meta is not meta and track.meta != meta:
                track.meta = meta
                view_changed = True
            if added_at is not None and (track.added_at is None or added_at < track.added_at):
                track.added_at = added_at
                view_changed = True
            new_keys.add(key)
            if not track.in_snapshot:
                track.in_snapshot = True
                dirty.add(key)
                view_changed = True
        for key, track in tracks.items():
            if track.in_snapshot and key not in new_keys:
                track.in_snapshot = False
                dirty.add(key)
                view_changed = True
        if view_changed:
            self.state.view_dirty.add(pid)

    @staticmethod
    def _adopt_plain_entry(playlist: PlaylistHistory, key: str, meta: TrackMeta) -> None:
        """A track first seen by ID continues the history of its plain line, if any."""
        old_key = track_key("", meta.name, (name for name, _ in meta.artists), meta.album[0])
        old = playlist.tracks.pop(old_key, None)
        if old is None:
            return
        playlist.tracks[key] = old
        if old_key in playlist.dirty:
            playlist.dirty.discard(old_key)
            playlist.dirty.add(key)


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
    sources: dict[str, PlaylistHistory] = {}
    plan = []
    for event in events:
        for pid, playlist in apply_writes(event, sources, PlaylistHistory).items():
            source = playlist.source
            if source is not None:
                plan.append((source[1], pid))
    return plan
