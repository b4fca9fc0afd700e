"""Per-track dates from the history of the snapshots: the semantics of the cumulative views.

The history is replayed as a sequence of *events* (history_events.py): the commits
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
  then it observes only the playlists it fetched (``Event.observed``), and each
  playlist it failed to fetch gets a *gap* (shown in the view) instead of a date.
  A playlist unregistered is not observed — its dates pause — and when registered
  again its history continues. A missing snapshot file means
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

import copy
import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from gitarchive.archive import layout
from gitarchive.archive.model import (
    Link,
    Playlist,
    SnapshotError,
    plain_key,
    track_key,
)
from gitarchive.history import delta
from gitarchive.history.events import KIND_JSON, KIND_PLAIN, Event, EventKey

# (name, url) of an album or artist.
LinkTuple = tuple[str, str]


class TrackMeta(NamedTuple):
    """What is shown of a track: the latest version seen (a tuple: cheap to make, compare)."""

    url: str
    name: str
    album: LinkTuple
    artists: tuple[LinkTuple, ...]
    duration_ms: int | None  # unknown for plain-only history


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
    changed: bool = True  # differs from its saved copy (history_state writes only these)
    chunks: dict[Any, str] = field(default_factory=dict)  # the snapshot's raw chunks -> key
    counts: dict[str, int] = field(default_factory=dict)  # key -> chunks naming it (delta.py)
    # Stretches of runs that recorded failing to fetch it: [first, last, still open].
    gaps: list[list[int]] = field(default_factory=list)

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


@dataclass(frozen=True)
class Problem:
    """A snapshot blob that could not be parsed and was skipped."""

    commit: str
    path: str
    reason: str

    def __str__(self) -> str:
        where = self.commit[:12] if self.commit else "the new snapshot"
        return f"{where}: {self.path}: {self.reason} (skipped)"


Registry = frozenset[str] | None
Loader = Callable[[str], PlaylistHistory]


class Playlists(MutableMapping[str, PlaylistHistory]):
    """pid -> PlaylistHistory, loaded from the saved state on first access, settled on access.

    An incremental run touches a few playlists; the others stay on disk (history_state
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

    def loaded(self) -> dict[str, PlaylistHistory]:
        """The playlists in memory (unsettled: for saving)."""
        return self._loaded


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
        self.view_dirty: set[str] = set()
        self.pending: set[str] = set()
        self.views: tuple[str, str, str] | None = None
        self.files: dict[str, str] = {}  # pid -> its saved file (history_state)
        self.links: dict[str, str] = {}  # NEW -> OLD (archive/links.py) the replay applied
        # (old, new, commit): a file deleted and another with the same name added in one
        # commit, not linked: what ``rebuild`` suggests linking (it never links itself).
        self.candidates: list[tuple[str, str, str]] = []

    def registry_index(self, registry: Registry) -> int:
        """The index of a registry in ``registries`` (added when new)."""
        index = self._registry_index.get(registry)
        if index is None:
            index = self._registry_index[registry] = len(self.registries)
            self.registries.append(registry)
        return index

    def add_run(self, time: int, registry: Registry) -> None:
        self.runs.append((time, self.registry_index(registry)))

    def settle(self, playlist: PlaylistHistory) -> None:
        """Apply the runs ``playlist`` has not seen (observes it where it was registered)."""
        runs = self.runs
        start, end = playlist.settled, len(runs)
        playlist.settled = end
        if start >= end:
            return
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
                    self.pending.discard(pid)
                    start = i + 1
                    break
            else:
                return
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


@dataclass(frozen=True)
class ParsedSnapshot:
    name: str
    url: str
    description: str
    tracks: list[tuple[str, TrackMeta, int | None]]  # (identity, meta, added_at)


# ------------------------------------------------------------------- parsing


@functools.lru_cache(maxsize=65_536)
def parse_added_at(text: str | None) -> int | None:
    """Spotify's added_at ("YYYY-MM-DD HH:MM:SS" UTC, or ISO 8601) as epoch seconds."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


class ParseCache:
    """What parsing snapshot after snapshot can share (a replay reads tens of thousands).

    Consecutive snapshots of a playlist repeat most tracks byte for byte, so a track
    is parsed once per distinct text (``tracks``); album/artist tuples are shared
    (``links``), which keeps a year's state small.
    """

    def __init__(self) -> None:
        self.tracks: dict[bytes, tuple[str, TrackMeta] | None] = {}
        self.added: dict[bytes, tuple[bool, int | None]] = {}
        self.links: dict[LinkTuple, LinkTuple] = {}


def parse_json_snapshot(pid: str, data: bytes, cache: ParseCache | None = None) -> ParsedSnapshot:
    """A pretty JSON snapshot (raises SnapshotError).

    Well-formed snapshots in the archive's own layout are cut into their tracks'
    texts, each parsed once per distinct text (``_parse_json_chunked``); others are
    read by a direct walk over ``json.loads``'s result; anything that walk does not
    accept as exactly well-typed goes through ``Playlist.from_json`` — the schema's
    one authority — which either reads it or says precisely what is wrong.
    """
    cache = cache if cache is not None else ParseCache()
    try:
        fast = _parse_json_chunked(data, cache)
    except (ValueError, UnicodeDecodeError):
        fast = None  # a piece is no JSON on its own: the whole may still be
    if fast is None:
        try:
            fast = _parse_json_fast(json.loads(data), cache)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SnapshotError(f"not valid JSON: {exc}") from exc
    if fast is not None:
        return fast
    return _parse_json_model(data)


def _parse_json_model(data: bytes) -> ParsedSnapshot:
    playlist = Playlist.from_json(data)
    tracks = []
    for t in playlist.tracks:
        meta = TrackMeta(
            url=t.url,
            name=t.name,
            album=(t.album.name, t.album.url),
            artists=tuple((a.name, a.url) for a in t.artists),
            duration_ms=t.duration_ms,
        )
        key = t.id or plain_key(t.plain_line)
        tracks.append((key, meta, parse_added_at(t.added_at)))
    return ParsedSnapshot(playlist.name, playlist.url, playlist.description, tracks)


def _link_fast(data: Any, links: dict[LinkTuple, LinkTuple]) -> LinkTuple | None:
    if type(data) is not dict:
        return None
    name, url = data.get("name"), data.get("url") or ""
    if type(name) is not str or type(url) is not str:
        return None
    link = (name, url)
    return links.setdefault(link, link)


def parsed_from_playlist(playlist: Playlist, cache: ParseCache) -> ParsedSnapshot:
    """What parse_json_snapshot gives for ``playlist.to_json()``, without the round trip.

    ``fetch`` has every new snapshot in memory; parsing its JSON again for the
    cumulative views doubled the cost of a run (a property test checks equality).
    """
    links = cache.links

    def link(source: Link) -> LinkTuple:
        pair = (source.name, source.url)
        return links.setdefault(pair, pair)

    tracks = []
    for t in playlist.tracks:
        album, artists = link(t.album), tuple(link(a) for a in t.artists)
        key = track_key(t.url, t.name, (a[0] for a in artists), album[0])
        meta = TrackMeta(t.url, t.name, album, artists, t.duration_ms)
        tracks.append((key, meta, parse_added_at(t.added_at)))
    return ParsedSnapshot(playlist.name, playlist.url, playlist.description, tracks)


def _head_fast(obj: Any, cache: ParseCache) -> tuple[str, str, str, Any] | None:
    """(name, url, description, raw tracks) of a well-typed snapshot document, else None."""
    if type(obj) is not dict:
        return None
    url, original = obj.get("url"), obj.get("original_name")
    unique, description = obj.get("unique_name") or "", obj.get("description") or ""
    raw_tracks, owner = obj.get("tracks"), obj.get("owner")
    if not (
        type(url) is str and type(original) is str and type(unique) is str
        and type(description) is str and type(raw_tracks) is list
        and _link_fast(owner, cache.links)
    ):
        return None
    return unique or original, url, description, raw_tracks


def _track_fast(t: Any, cache: ParseCache) -> tuple[str, TrackMeta] | None:
    """(identity, meta) of a well-typed track object (added_at aside), else None."""
    if type(t) is not dict:
        return None
    links = cache.links
    turl, name, duration = t.get("url") or "", t.get("name"), t.get("duration_ms")
    album, raw_artists = _link_fast(t.get("album"), links), t.get("artists")
    if not (
        type(turl) is str and type(name) is str and type(duration) is int and album
        and type(raw_artists) is list
    ):
        return None
    artists = tuple(_link_fast(a, links) for a in raw_artists)
    if None in artists:
        return None
    meta = TrackMeta(turl, name, album, artists, duration)  # type: ignore[arg-type]
    return track_key(turl, name, (a[0] for a in artists), album[0]), meta  # type: ignore[index]


def _parse_json_fast(obj: Any, cache: ParseCache) -> ParsedSnapshot | None:
    """The common case of parse_json_snapshot; None when anything is unusual."""
    head = _head_fast(obj, cache)
    if head is None:
        return None
    tracks = []
    for t in head[3]:
        parsed = _track_fast(t, cache)
        added = t.get("added_at") if parsed is not None else None
        if parsed is None or not (added is None or type(added) is str):
            return None
        tracks.append((parsed[0], parsed[1], parse_added_at(added)))
    return ParsedSnapshot(head[0], head[1], head[2], tracks)


# The archive's own layout (model.Playlist.to_json): tracks one level down, each
# opening with its added_at line. Strings hold no raw newline, so these byte
# patterns cannot occur inside a value.
_TRACKS_OPEN = b'\n  "tracks": [\n    {'
_TRACKS_CLOSE = b"}\n  ]"
_ADDED_LINE = b'\n      "added_at": '
_TRACK_SEP_ADDED = b"},\n    {" + _ADDED_LINE
_MISSING = object()
_NONCE = "\x00gitarchive-tracks"
_NONCE_JSON = b'\n  "tracks": ["\\u0000gitarchive-tracks"]'


def _parse_json_chunked(data: bytes, cache: ParseCache) -> ParsedSnapshot | None:
    """parse_json_snapshot's fast path: None unless ``data`` is in the archive's layout.

    Why it is exact: the document with the tracks array replaced by a nonce parses
    (so the text before and after is valid and the array is the top-level
    ``tracks`` value), and each cut-out track is a valid object (so the ``[`` ...
    ``]`` between is a valid array of exactly those objects — a JSON text has one
    parse). Each track is ``{"added_at": V,`` + rest; rest (the members after
    added_at, which must not repeat it) is parsed once per distinct text. Raises
    ValueError when a piece is no JSON on its own (the caller then parses the whole).
    """
    start = data.find(_TRACKS_OPEN)
    if start < 0:
        return None
    body_start = start + len(_TRACKS_OPEN)
    end = data.find(_TRACKS_CLOSE, body_start)
    if end < 0 or not data.startswith(_ADDED_LINE, body_start):
        return None
    outer = json.loads(data[:start] + _NONCE_JSON + data[end + len(_TRACKS_CLOSE):])
    head = _head_fast(outer, cache)
    if head is None or head[3] != [_NONCE]:
        return None
    rests, addeds = cache.tracks, cache.added
    tracks = []
    append = tracks.append
    missing = _MISSING
    for piece in data[body_start + len(_ADDED_LINE):end].split(_TRACK_SEP_ADDED):
        value, comma, rest = piece.partition(b",\n")  # V holds no newline
        if not comma:
            return None
        added = addeds.get(value)
        if added is None:
            raw = json.loads(value)
            added = addeds[value] = (
                raw is None or type(raw) is str,
                parse_added_at(raw) if type(raw) is str else None,
            )
        parsed = rests.get(rest, missing)
        if parsed is missing:
            obj = json.loads(b"{" + rest + b"}")
            ok = type(obj) is dict and obj and "added_at" not in obj
            parsed = rests[rest] = _track_fast(obj, cache) if ok else None
        if parsed is None or not added[0]:
            return None
        append((parsed[0], parsed[1], added[1]))  # type: ignore[index]
    return ParsedSnapshot(head[0], head[1], head[2], tracks)


def parse_plain_line(line: str) -> TrackMeta:
    """``Title -- Artist, Artist -- Album``; extra `` -- `` are kept in the artists."""
    parts = line.split(" -- ")
    if len(parts) < 3:
        return TrackMeta("", line, ("", ""), (), None)
    artists = " -- ".join(parts[1:-1])
    return TrackMeta(
        url="",
        name=parts[0],
        album=(parts[-1], ""),
        artists=tuple((a, "") for a in artists.split(", ") if a),
        duration_ms=None,
    )


def parse_plain_snapshot(pid: str, data: bytes) -> ParsedSnapshot:
    """A plain file: name line, description line, blank line, one track per line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SnapshotError("plain file is not UTF-8 text") from exc
    lines = text.split("\n")
    if len(lines) < 3 or lines[2] != "":
        raise SnapshotError("plain file must start with a name line, a description line, a blank")
    tracks = [(plain_key(line), parse_plain_line(line), None) for line in lines[3:] if line]
    url = f"https://open.spotify.com/playlist/{pid}" if layout.is_playlist_id(pid) else ""
    return ParsedSnapshot(lines[0], url, lines[1], tracks)


PARSERS = delta.Parsers(parse_json_snapshot, _head_fast, _track_fast, parse_added_at,
                        parse_plain_line)


# -------------------------------------------------------------------- replay


class Replayer:
    """Applies events in order to a HistoryState; reads blobs through ``read_blob``.

    A new version of a playlist is applied as a difference to its previous one
    (history/delta.py): the work follows the tracks that came and went. ``links``
    (NEW -> OLD, archive/links.py): where NEW's first snapshot is written, its history
    starts as a copy of OLD's. A file renamed with identical content in one commit (a
    mistyped name corrected) moves the old name's history to the new one.
    """

    def __init__(
        self,
        state: HistoryState,
        read_blob: Callable[[str], bytes],
        known: Mapping[str, Playlist] | None = None,
        links: Mapping[str, str] | None = None,
    ) -> None:
        self.state = state
        self.read_blob = read_blob
        self.known = known or {}  # kept for callers; blobs are read (cheaper than re-encoding)
        self.links = dict(links if links is not None else state.links)
        state.links = self.links
        self.problems: list[Problem] = []
        self.cache = ParseCache()
        self.chunker = delta.Chunker(self.cache, PARSERS)
        # Per commit: playlists whose snapshot went away / that first appeared, with
        # their names (matched into state.candidates; a split replay merges both halves').
        self.vanished: list[tuple[str, str, str]] = []  # (commit, pid, name)
        self.appeared: list[tuple[str, str, str]] = []

    def apply_all(self, events: Iterable[Event]) -> None:
        """Apply ``events`` (then ``add_candidates`` with the swaps seen, see history.rebuild)."""
        for event in events:
            self.apply(event)

    def apply(self, event: Event) -> None:
        """One event: its writes, then (if it is a run) one more entry in ``state.runs``."""
        state = self.state
        if state.last_key is not None and event.key <= state.last_key:
            raise ValueError("events must be applied in order")
        playlists = state.playlists
        renamed = self._renames(event)
        changed: dict[str, PlaylistHistory] = {}
        fresh: list[str] = []
        for new_pid, old_pid in renamed.items():
            playlist = playlists.pop(old_pid)
            playlist.pid = new_pid
            playlist.changed = True
            playlists[new_pid] = playlist
            for marks in (state.view_dirty, state.pending):
                if old_pid in marks:
                    marks.discard(old_pid)
                    marks.add(new_pid)
            state.view_dirty.update((new_pid, old_pid))  # old_pid: its files are deleted
            changed[new_pid] = playlist  # the url may name the new ID: read it again
        for write in event.writes:
            if write.kind not in (KIND_JSON, KIND_PLAIN):
                continue
            playlist = playlists.get(write.pid)  # settled up to the previous run
            if playlist is None:
                if write.blob is None:
                    continue
                playlist = playlists[write.pid] = self._new_playlist(write.pid)
                if not playlist.loaded:
                    fresh.append(write.pid)
            before = playlist.source
            if write.kind == KIND_JSON:
                playlist.json_blob = write.blob
            else:
                playlist.plain_blob = write.blob
            playlist.changed = True
            if playlist.source != before:
                changed[write.pid] = playlist
                if playlist.source is None and playlist.loaded:
                    self.vanished.append((event.oid, write.pid, playlist.name))
        for playlist in changed.values():
            self._load_snapshot(playlist, event)
        for pid in fresh:
            playlist = playlists[pid]
            if playlist.loaded:
                self.appeared.append((event.oid, pid, playlist.name))
        if event.is_run:
            if event.record is not None and event.record.failed:
                self._note_failures(event)
            state.add_run(event.time, event.observed)  # observes only what it fetched
        state.last_key = event.key

    def _note_failures(self, event: Event) -> None:
        """A run that failed to fetch a playlist opens its gap, or extends the open one.

        Only the view's gap changes here; the run does not observe the playlist (see
        ``Event.observed``), so none of its dates move. A gap that opens marks the view;
        extending it does not (an open gap is shown as "since", so a failing playlist's
        files do not change every day); ``close_gap`` marks it when the stretch ends.
        """
        state = self.state
        assert event.record is not None
        for pid in event.record.failed:
            playlist = state.playlists.get(pid)  # settled up to the previous run
            if playlist is None or playlist.first_run is None:
                continue  # never observed: nothing is missing from its history yet
            gaps = playlist.gaps
            if gaps and gaps[-1][2]:
                gaps[-1][1] = event.time
            else:
                gaps.append([event.time, event.time, 1])
                state.view_dirty.add(pid)
            playlist.changed = True
            state.pending.add(pid)  # settled at the end of a sync: closes the gap if seen

    def _renames(self, event: Event) -> dict[str, str]:
        """New pid -> old pid for this commit's renames with identical content."""
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
            return {}
        return delta.renamed_from(deleted, event.writes, lambda pid: pid in playlists)

    def _new_playlist(self, pid: str) -> PlaylistHistory:
        """A playlist's first write: a fresh history, or a copy of the one it continues."""
        state = self.state
        old = self.links.get(pid)
        if old is not None and old in state.playlists:
            return _continued(state.playlists[old], pid)
        return PlaylistHistory(pid, settled=len(state.runs))

    def _load_snapshot(self, playlist: PlaylistHistory, event: Event) -> None:
        source = playlist.source
        if source is None:
            return  # no snapshot: not observed until one is written again
        kind, blob = source
        pid = playlist.pid
        chunker = self.chunker
        try:
            data = self.read_blob(blob)
            version = (chunker.json_version(data) if kind == KIND_JSON
                       else chunker.plain_version(pid, data))
            try:
                view_changed = delta.apply_version(playlist, version, chunker.parse, kind,
                                                   TrackHistory)
            except (delta.NotChunked, ValueError):
                if kind != KIND_JSON or version.parsed:
                    raise
                view_changed = delta.apply_version(playlist, chunker.json_whole(data),
                                                   chunker.parse, kind, TrackHistory)
        except (SnapshotError, KeyError, ValueError, UnicodeDecodeError) as exc:
            path = layout.pretty_json_path(pid) if kind == KIND_JSON else layout.plain_path(pid)
            self.problems.append(Problem(event.oid, path, str(exc)))
            return
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


# ------------------------------------------------------------ serialisation


def state_to_dict(state: HistoryState) -> dict[str, Any]:
    """A canonical JSON-able form of the replay state, every playlist settled.

    Used to compare states (incremental == full); history_state.py has the file.
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
            [when, None if state.registries[r] is None else sorted(state.registries[r])]
            for when, r in state.runs
        ],
        "playlists": playlists,
    }
