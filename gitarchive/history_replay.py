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

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from gitarchive import layout
from gitarchive.history_events import KIND_JSON, KIND_PLAIN, Event, EventKey
from gitarchive.model import Playlist, SnapshotError

PLAIN_KEY_PREFIX = "plain:"

# (name, url) of an album or artist.
LinkTuple = tuple[str, str]


class TrackMeta(NamedTuple):
    """What is shown of a track: the latest version seen (a tuple: cheap to make, compare)."""

    url: str
    name: str
    album: LinkTuple
    artists: tuple[LinkTuple, ...]
    duration_ms: int | None  # unknown for plain-only history


@dataclass
class TrackHistory:
    """One track's dates in one playlist (epoch seconds)."""

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
    """One playlist's replay state."""

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

    @property
    def source(self) -> tuple[str, str] | None:
        """(kind, blob) of the file the snapshot is read from: JSON, else plain."""
        if self.json_blob is not None:
            return KIND_JSON, self.json_blob
        if self.plain_blob is not None:
            return KIND_PLAIN, self.plain_blob
        return None

    def last_seen(self, track: TrackHistory) -> int | None:
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


@dataclass
class HistoryState:
    """The replay of every event up to ``last_key``."""

    playlists: dict[str, PlaylistHistory] = field(default_factory=dict)
    last_key: EventKey | None = None


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


def plain_key(line: str) -> str:
    return PLAIN_KEY_PREFIX + line.lower()


def parse_json_snapshot(pid: str, data: bytes) -> ParsedSnapshot:
    """A pretty JSON snapshot (raises SnapshotError).

    Replaying a year reads tens of thousands of snapshots, so well-formed ones are
    read by a direct walk over ``json.loads``'s result; anything that walk does not
    accept as exactly well-typed goes through ``Playlist.from_json`` — the schema's
    one authority — which either reads it or says precisely what is wrong.
    """
    try:
        fast = _parse_json_fast(json.loads(data))
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


def _link_fast(data: Any) -> LinkTuple | None:
    if type(data) is not dict:
        return None
    name, url = data.get("name"), data.get("url") or ""
    if type(name) is not str or type(url) is not str:
        return None
    return (name, url)


def _parse_json_fast(obj: Any) -> ParsedSnapshot | None:
    """The common case of parse_json_snapshot; None when anything is unusual."""
    if type(obj) is not dict:
        return None
    url, original = obj.get("url"), obj.get("original_name")
    unique, description = obj.get("unique_name") or "", obj.get("description") or ""
    raw_tracks, owner = obj.get("tracks"), obj.get("owner")
    if not (
        type(url) is str and type(original) is str and type(unique) is str
        and type(description) is str and type(raw_tracks) is list and _link_fast(owner)
    ):
        return None
    tracks = []
    for t in raw_tracks:
        if type(t) is not dict:
            return None
        turl, name, duration = t.get("url") or "", t.get("name"), t.get("duration_ms")
        album, raw_artists, added = _link_fast(t.get("album")), t.get("artists"), t.get("added_at")
        if not (
            type(turl) is str and type(name) is str and type(duration) is int and album
            and type(raw_artists) is list and (added is None or type(added) is str)
        ):
            return None
        artists = tuple(_link_fast(a) for a in raw_artists)
        if None in artists:
            return None
        meta = TrackMeta(turl, name, album, artists, duration)  # type: ignore[arg-type]
        key = turl.rstrip("/").rsplit("/", 1)[-1] if turl else ""
        if not key:
            names = ", ".join(a[0] for a in artists)  # type: ignore[index]
            key = plain_key(f"{name} -- {names} -- {album[0]}")
        tracks.append((key, meta, parse_added_at(added)))
    return ParsedSnapshot(unique or original, url, description, tracks)


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


# -------------------------------------------------------------------- replay


class Replayer:
    """Applies events in order to a HistoryState; reads blobs through ``read_blob``."""

    def __init__(self, state: HistoryState, read_blob: Any) -> None:
        self.state = state
        self.read_blob = read_blob
        self.problems: list[Problem] = []
        self.touched: set[str] = set()  # playlists observed or changed by these events

    def apply_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, event: Event) -> None:
        state = self.state
        if state.last_key is not None and event.key <= state.last_key:
            raise ValueError("events must be applied in order")
        changed: dict[str, PlaylistHistory] = {}
        for write in event.writes:
            if write.kind not in (KIND_JSON, KIND_PLAIN):
                continue
            playlist = state.playlists.get(write.pid)
            if playlist is None:
                if write.blob is None:
                    continue
                playlist = state.playlists[write.pid] = PlaylistHistory(write.pid)
            before = playlist.source
            if write.kind == KIND_JSON:
                playlist.json_blob = write.blob
            else:
                playlist.plain_blob = write.blob
            if playlist.source != before:
                changed[write.pid] = playlist
        for playlist in changed.values():
            self._load_snapshot(playlist, event)
        if event.is_run:
            registry = event.registry
            for pid, playlist in state.playlists.items():
                if (
                    playlist.loaded
                    and playlist.source is not None
                    and (registry is None or pid in registry)
                ):
                    self._observe(playlist, event.time)
        state.last_key = event.key

    def _load_snapshot(self, playlist: PlaylistHistory, event: Event) -> None:
        source = playlist.source
        if source is None:
            return  # no snapshot: not observed until one is written again
        kind, blob = source
        pid = playlist.pid
        path = layout.pretty_json_path(pid) if kind == KIND_JSON else layout.plain_path(pid)
        try:
            data = self.read_blob(blob)
            parse = parse_json_snapshot if kind == KIND_JSON else parse_plain_snapshot
            parsed = parse(pid, data)
        except (SnapshotError, KeyError, ValueError) as exc:
            self.problems.append(Problem(event.oid, path, str(exc)))
            return
        self.touched.add(pid)
        playlist.loaded = True
        playlist.name, playlist.url, playlist.description = (
            parsed.name,
            parsed.url,
            parsed.description,
        )
        tracks = playlist.tracks
        new_keys: set[str] = set()
        for key, meta, added_at in parsed.tracks:
            if key not in tracks and kind == KIND_JSON and not key.startswith(PLAIN_KEY_PREFIX):
                self._adopt_plain_entry(playlist, key, meta)
            track = tracks.get(key)
            if track is None:
                track = tracks[key] = TrackHistory(meta)
            elif track.meta != meta:
                track.meta = meta
            if added_at is not None and (track.added_at is None or added_at < track.added_at):
                track.added_at = added_at
            new_keys.add(key)
            if not track.in_snapshot:
                track.in_snapshot = True
                playlist.dirty.add(key)
        for key, track in tracks.items():
            if track.in_snapshot and key not in new_keys:
                track.in_snapshot = False
                playlist.dirty.add(key)

    @staticmethod
    def _adopt_plain_entry(playlist: PlaylistHistory, key: str, meta: TrackMeta) -> None:
        """A track first seen by ID continues the history of its plain line, if any."""
        artists = ", ".join(name for name, _ in meta.artists)
        old_key = plain_key(f"{meta.name} -- {artists} -- {meta.album[0]}")
        old = playlist.tracks.pop(old_key, None)
        if old is None:
            return
        playlist.tracks[key] = old
        if old_key in playlist.dirty:
            playlist.dirty.discard(old_key)
            playlist.dirty.add(key)

    def _observe(self, playlist: PlaylistHistory, when: int) -> None:
        self.touched.add(playlist.pid)
        first = playlist.first_run is None
        for key in playlist.dirty:
            track = playlist.tracks[key]
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


# ------------------------------------------------------------ serialisation


def state_to_dict(state: HistoryState) -> dict[str, Any]:
    """A JSON-able form of the replay state (see history_state.py for the file)."""
    playlists = {}
    for pid, p in state.playlists.items():
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
                for key, t in p.tracks.items()
            },
        }
    return {"last_key": list(state.last_key) if state.last_key else None, "playlists": playlists}


def state_from_dict(data: dict[str, Any]) -> HistoryState:
    """Inverse of state_to_dict; raises KeyError/TypeError/ValueError on a bad shape."""
    playlists = {}
    for pid, p in data["playlists"].items():
        tracks = {}
        for key, row in p["tracks"].items():
            (url, name, album, artists, duration, first, last, removed, stints, added,
             asterisk, in_snapshot, present) = row
            tracks[key] = TrackHistory(
                TrackMeta(url, name, (album[0], album[1]), tuple((a[0], a[1]) for a in artists),
                          duration),
                first, last, removed, stints, added, asterisk, in_snapshot, present,
            )
        playlists[pid] = PlaylistHistory(
            pid=pid,
            json_blob=p["json"],
            plain_blob=p["plain"],
            name=p["name"],
            url=p["url"],
            description=p["description"],
            first_run=p["first_run"],
            last_run=p["last_run"],
            tracks=tracks,
            dirty=set(p["dirty"]),
            loaded=bool(p["loaded"]),
        )
    key = data["last_key"]
    return HistoryState(playlists, (int(key[0]), int(key[1]), str(key[2])) if key else None)


def copy_state(state: HistoryState) -> HistoryState:
    """A deep copy (through the serialised form, which is tested to round-trip)."""
    return state_from_dict(json.loads(json.dumps(state_to_dict(state))))
