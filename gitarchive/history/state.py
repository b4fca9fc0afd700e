"""The replay state: per playlist and track, the dates the cumulative views show.

What the dates mean is documented in replay.py, which builds this state; saved.py
keeps it in the git directory between runs.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field, fields
from typing import Any

from gitarchive.archive.snapshots import TrackMeta
from gitarchive.history.events import KIND_JSON, KIND_PLAIN, EventKey


@dataclass(slots=True)
class TrackHistory:
    """One track's dates in one playlist (epoch seconds); slots: 70k of them per year."""

    meta: TrackMeta
    first_seen: int | None = None
    last_seen: int | None = None  # while present, the playlist's last_run is authoritative
    removed: int | None = None
    stints: int = 0
    added_at: int | None = None  # earliest Spotify added_at seen
    asterisk: bool = False
    in_snapshot: bool = False  # in the playlist's current snapshot
    present: bool = False  # present at the playlist's latest observation

    def __reduce__(self) -> tuple[type[TrackHistory], tuple[Any, ...]]:
        """Pickled as its fields in order: a split replay's forked half sends ~35,000 of
        them, and the default form of a slotted object names every field in each."""
        return TrackHistory, _track_fields(self)


# Every field of a TrackHistory in order, read in C (one place: a field added is sent too).
_track_fields = operator.attrgetter(*(f.name for f in fields(TrackHistory)))


@dataclass
class PlaylistHistory:
    """One playlist's replay state.

    ``last_run`` is the playlist's latest observation as of the first ``settled``
    runs of the HistoryState; the state brings it (and any pending presence change
    in ``dirty``) up to date lazily, so a run costs nothing for the playlists it
    does not touch — see HistoryState.settle.
    """

    pid: str
    json_blob: str | None = None
    plain_blob: str | None = None
    name: str = ""
    url: str = ""
    description: str = ""
    first_run: int | None = None
    last_run: int | None = None
    tracks: dict[str, TrackHistory] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)  # in_snapshot != present since last run
    loaded: bool = False  # a snapshot was parsed at least once (only then is it observed)
    settled: int = 0  # how many of the state's runs have been applied
    changed: bool = True  # differs from its saved copy (saved.py writes only these)
    chunks: dict[Any, str] = field(default_factory=dict)  # the snapshot's raw chunks -> key
    counts: dict[str, int] = field(default_factory=dict)  # key -> chunks naming it (delta.py)
    # Stretches of runs that recorded failing to fetch it: [first, last, still open].
    gaps: list[list[int]] = field(default_factory=list)
    # digest.snapshot_digest of its JSON snapshot when fetch applied it (None: not known):
    # a next version with the same digest moved only its follower count (move_alone).
    digest: bytes | None = None

    @property
    def source(self) -> tuple[str, str] | None:
        """(kind, blob) of the file the snapshot is read from: JSON, else plain."""
        if self.json_blob is not None:
            return KIND_JSON, self.json_blob
        if self.plain_blob is not None:
            return KIND_PLAIN, self.plain_blob
        return None

    def last_seen(self, track: TrackHistory) -> int | None:
        """The live last_seen: the latest run for a present track (queries show it)."""
        return self.last_run if track.present else track.last_seen


Registry = frozenset[str] | None
Loader = Callable[[str], PlaylistHistory]
# What the saved state keeps of a playlist apart from its file (saved.py): its snapshot's
# blobs (JSON, plain), that snapshot's digest, and whether it is quiet (``_quiet``).
Source = tuple[str | None, str | None, bytes | None, bool]
def quiet(playlist: PlaylistHistory) -> bool:
    """Nothing left for its next runs to do but move ``last_run`` (settle's fast path)."""
    return (playlist.loaded and not playlist.dirty and playlist.first_run is not None
            and not (playlist.gaps and playlist.gaps[-1][2]))


class Playlists(MutableMapping[str, PlaylistHistory]):
    """pid -> PlaylistHistory, loaded from the saved state on first access, settled on access.

    An incremental run touches a few playlists; the others stay on disk (saved.py
    reads them through ``loader`` only if something asks for them).
    """

    def __init__(self, state: HistoryState, loader: Loader | None = None,
                 unloaded: Iterable[str] = ()) -> None:
        self._state = state
        self._loader = loader
        self._loaded: dict[str, PlaylistHistory] = {}
        self._unloaded: set[str] = set(unloaded)

    def __getitem__(self, pid: str) -> PlaylistHistory:
        playlist = self._loaded.get(pid)
        if playlist is None:
            if pid not in self._unloaded or self._loader is None:
                raise KeyError(pid)
            playlist = self._loaded[pid] = self._loader(pid)
            self._unloaded.discard(pid)
        if playlist.settled < len(self._state.runs):
            self._state.settle(playlist)
            if playlist.gaps and playlist.gaps[-1][2]:
                self._state.close_gap(playlist)
        return playlist

    def __setitem__(self, pid: str, playlist: PlaylistHistory) -> None:
        self._unloaded.discard(pid)
        self._loaded[pid] = playlist

    def __delitem__(self, pid: str) -> None:
        if pid in self._unloaded:
            self._unloaded.discard(pid)
        else:
            del self._loaded[pid]

    def __contains__(self, pid: object) -> bool:
        return pid in self._loaded or pid in self._unloaded

    def __iter__(self) -> Iterator[str]:
        yield from list(self._loaded)
        yield from sorted(self._unloaded)

    def __len__(self) -> int:
        return len(self._loaded) + len(self._unloaded)

    def defer(self, pids: Iterable[str], loader: Loader) -> None:
        """``pids`` read by ``loader`` when first asked for (a fresh state's: a split
        replay's forked half wrote them to the saved state's files)."""
        assert self._loader is None or self._loader is loader
        self._loader = loader
        self._unloaded.update(pids)

    def loaded(self) -> dict[str, PlaylistHistory]:
        """The playlists in memory (unsettled: for saving)."""
        return self._loaded

    def on_disk(self, pid: str) -> bool:
        """Saved and not read yet."""
        return pid in self._unloaded


class HistoryState:
    """The replay of every event up to ``last_key``.

    ``runs`` lists every run (time, index into ``registries``); a playlist applies
    the runs it has not seen yet when it is next accessed (``settle``), which gives
    exactly what observing every playlist at every run would, at a cost that grows
    with the snapshots that change rather than with runs x playlists.
    ``view_dirty``: playlists whose cumulative files may differ from the ones last
    rendered (``views``: (target, settings, cumulative tree id) of that rendering).
    ``pending``: playlists with a presence change or first observation still to
    apply (settled at the end of a sync, since no write may touch them again).
    """

    def __init__(self) -> None:
        self.playlists = Playlists(self)
        self.last_key: EventKey | None = None
        self.runs: list[tuple[int, int]] = []
        self.registries: list[Registry] = []
        self._registry_index: dict[Registry, int] = {}
        # id -> (registry, its index): an event's registry is one object shared by many
        # events, but a split walk's halves each make their own (walk.py), and a lookup by
        # value that meets the other's equal object compares every ID (registry_index).
        self._by_object: dict[int, tuple[Registry, int]] = {}
        # The first registries as saved.py last wrote them (sorted ids joined by NUL):
        # registries are only ever appended, so a save writes only the new ones again.
        self.saved_registries: list[str | None] = []
        self.view_dirty: set[str] = set()
        self.pending: set[str] = set()
        self.views: tuple[str, str, str] | None = None
        self.files: dict[str, str] = {}  # pid -> its saved file (saved.py)
        # pid -> Source as saved (saved.py), authoritative over its file's blobs: a version
        # that moved only the follower count changes this, not the file (move_alone).
        self.sources: dict[str, Source] = {}
        self.sizes: dict[str, int] = {}  # saved file -> its size (saved.py)
        self.links: dict[str, str] = {}  # NEW -> OLD (archive/links.py) the replay applied
        # (old, new, commit): a file deleted and another with the same name added in one
        # commit, not linked: what ``rebuild`` suggests linking (it never links itself).
        self.candidates: list[tuple[str, str, str]] = []
        # pid -> raw blob id of its followers file, seen to be as the archive writes it
        # (followers_chart.layouts_own): the next day's file is checked against it by its
        # last line, not scanned whole again (pictures.followers_written). Content-keyed,
        # so an entry for an older file is harmless; none: the whole check (saved.py).
        self.followers: dict[str, bytes] = {}

    def registry_index(self, registry: Registry) -> int:
        """The index of a registry in ``registries`` (added when new)."""
        known = self._by_object.get(id(registry))
        if known is not None and known[0] is registry:
            return known[1]
        index = self._registry_index.get(registry)
        if index is None:
            index = self._registry_index[registry] = len(self.registries)
            self.registries.append(registry)
        self._by_object[id(registry)] = (registry, index)  # kept: the id stays its own
        return index

    def add_run(self, time: int, registry: Registry) -> None:
        self.runs.append((time, self.registry_index(registry)))

    def settle(self, playlist: PlaylistHistory) -> None:
        """Apply the runs ``playlist`` has not seen (observes it where it was registered).

        It counts as settled only once they are applied: saved.write_ahead, in a thread,
        takes a playlist settled up to every run as one nothing changes any more."""
        start, end = playlist.settled, len(self.runs)
        if start >= end:
            return
        try:
            self._apply_runs(playlist, start, end)
        finally:
            playlist.settled = end

    def _apply_runs(self, playlist: PlaylistHistory, start: int, end: int) -> None:
        runs = self.runs
        pid = playlist.pid
        if not playlist.loaded or playlist.source is None:
            self.pending.discard(pid)
            return
        registries = self.registries
        if playlist.dirty or playlist.first_run is None:
            for i in range(start, end):
                when, reg = runs[i]
                registry = registries[reg]
                if registry is None or pid in registry:
                    _observe(playlist, when)
                    playlist.changed = True
                    self.view_dirty.add(pid)
                    start = i + 1
                    break
            else:
                return
        if not (playlist.gaps and playlist.gaps[-1][2]):
            # Nothing left to observe: not pending, or every later sync would load it again
            # (settle_pending). An open gap waits for a run after its last failed one
            # (close_gap), even once observed: a run at that same time does not close it.
            self.pending.discard(pid)
        # Only last_run moves now (not saved on its own: the saved copy records how
        # many runs its last_run reflects, and the next load settles again).
        for i in range(end - 1, start - 1, -1):
            when, reg = runs[i]
            registry = registries[reg]
            if registry is None or pid in registry:
                playlist.last_run = when
                return

    def close_gap(self, playlist: PlaylistHistory) -> None:
        """A playlist observed after a failed stretch: the stretch is over (its view says so)."""
        gap = playlist.gaps[-1]
        if playlist.last_run is not None and playlist.last_run > gap[1]:
            gap[2] = 0
            playlist.changed = True
            self.view_dirty.add(playlist.pid)
            self.pending.discard(playlist.pid)

    def note_failure(self, pid: str, when: int) -> None:
        """A run at ``when`` recorded failing to fetch ``pid``: open its gap, or extend it.

        The run does not observe the playlist (``events.Event.observed``), so no date
        moves. Opening a gap marks the view; extending it does not (an open gap is shown
        as "since", so a failing playlist's files do not change every day); ``close_gap``
        marks it when the stretch ends.
        """
        playlist = self.playlists.get(pid)  # settled up to the previous run
        if playlist is None or playlist.first_run is None:
            return  # never observed: nothing is missing from its history yet
        gaps = playlist.gaps
        if gaps and gaps[-1][2]:
            gaps[-1][1] = when
        else:
            gaps.append([when, when, 1])
            self.view_dirty.add(pid)
        playlist.changed = True
        self.pending.add(pid)  # settled at the end of a sync: closes the gap once seen

    def quiet_source(self, pid: str, digest: bytes) -> str | None:
        """The JSON blob of a saved, not loaded, quiet playlist whose snapshot has
        ``digest`` (a new version would change nothing but its blob), else None."""
        source = self.sources.get(pid)
        if (source is None or source[2] != digest or not source[3] or source[0] is None
                or pid in self.pending or not self.playlists.on_disk(pid)):
            return None
        return source[0]

    def move_alone(self, pid: str, blob: str) -> None:
        """A new JSON version of a ``quiet_source`` playlist, equal to its snapshot but for
        the follower count: what applying it would do (its blob moves; its dates settle
        lazily as ever), without reading or rewriting the playlist's saved file."""
        _, plain, digest, _ = self.sources[pid]
        self.sources[pid] = (blob, plain, digest, True)

    def settle_pending(self) -> None:
        """Settle the playlists that may still change without a write of their own."""
        for pid in sorted(self.pending):
            if pid in self.playlists:
                _ = self.playlists[pid]
            else:
                self.pending.discard(pid)


def _observe(playlist: PlaylistHistory, when: int) -> None:
    """One observation of a playlist by a run at ``when``."""
    first = playlist.first_run is None
    tracks = playlist.tracks
    for key in playlist.dirty:
        track = tracks[key]
        if track.in_snapshot and not track.present:
            track.present = True
            track.stints += 1
            track.removed = None
            if track.first_seen is None:
                track.first_seen = when
            if first:
                track.asterisk = True
        elif track.present and not track.in_snapshot:
            track.present = False
            track.last_seen = playlist.last_run
            track.removed = when
    playlist.dirty.clear()
    if first:
        playlist.first_run = when
    playlist.last_run = when


def state_to_dict(state: HistoryState) -> dict[str, Any]:
    """A canonical JSON-able form of the replay state, every playlist settled.

    Used to compare states (incremental == full); saved.py has the file.
    """
    playlists = {}
    for pid in sorted(state.playlists):
        p = state.playlists[pid]
        playlists[pid] = {
            "json": p.json_blob,
            "plain": p.plain_blob,
            "name": p.name,
            "url": p.url,
            "description": p.description,
            "first_run": p.first_run,
            "last_run": p.last_run,
            "dirty": sorted(p.dirty),
            "loaded": p.loaded,
            "gaps": p.gaps,
            "chunks": sorted(repr(item) for item in p.chunks.items()),
            "tracks": {
                key: [
                    t.meta.url,
                    t.meta.name,
                    list(t.meta.album),
                    [list(a) for a in t.meta.artists],
                    t.meta.duration_ms,
                    t.meta.added_by,
                    t.first_seen,
                    t.last_seen,
                    t.removed,
                    t.stints,
                    t.added_at,
                    t.asterisk,
                    t.in_snapshot,
                    t.present,
                ]
                for key, t in sorted(p.tracks.items())
            },
        }
    return {
        "links": dict(sorted(state.links.items())),
        "candidates": [list(c) for c in state.candidates],
        "last_key": list(state.last_key) if state.last_key else None,
        "runs": [
            [when, None if (registry := state.registries[r]) is None else sorted(registry)]
            for when, r in state.runs
        ],
        "playlists": playlists,
    }
