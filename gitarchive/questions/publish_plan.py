"""What ``publish`` sends: which tracks, in which order, under which name and key.

The first half of publishing (``--dry-run`` shows it without touching the network):
a past version (``plan_at``) or the cumulative list (``plan_cumulative``). Plain-only
history has no track IDs: its lines are matched against the tracks of the archive's
JSON snapshots (``Linker``); what does not match is listed, and ``search_missing``
can look it up on Spotify. publish.py carries the plan out.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from gitarchive.archive.model import Playlist
from gitarchive.errors import PublishError, QueryError
from gitarchive.git.store import Store
from gitarchive.history import views
from gitarchive.history.sync import sync
from gitarchive.questions.index import fold
from gitarchive.questions.query import Point, Snapshot
from gitarchive.spotify.writes import (
    MAX_URIS,
    PlaylistWriter,
    track_uri,
)

MARKER = "[gitarchive:{key}]"
MAX_DESCRIPTION = 300  # Spotify's limit on a playlist description
MAX_NAME = 100
MAX_TRACKS = 10_000  # Spotify's limit on a playlist's length
SEARCH_INTERVAL = 0.25  # seconds between two searches: --search-missing must not flood

Report = Callable[[str], None]


# ------------------------------------------------------------------ matching


def plain_line(name: str, artists: Iterable[str], album: str) -> str:
    """``Title -- Artist, Artist -- Album``, folded (case and accents ignored)."""
    return fold(f"{name} -- {', '.join(artists)} -- {album}")


class Linker:
    """Track URIs for lines of plain-only history, from the archive's JSON snapshots.

    Candidates come from the replay state (every track of every playlist, as last
    seen in a JSON snapshot). A track of the same playlist wins over other
    playlists', then the most recently seen.
    """

    def __init__(self, store: Store, pid: str) -> None:
        self.store = store
        self.pid = pid
        self._by_line: dict[str, str] | None = None

    def uri(self, name: str, artists: Sequence[str], album: str) -> str | None:
        if self._by_line is None:
            self._by_line = self._build()
        return self._by_line.get(plain_line(name, artists, album))

    def _build(self) -> dict[str, str]:
        state = sync(self.store).state
        best: dict[str, tuple[tuple[bool, int], str]] = {}
        for pid in state.playlists:
            playlist = state.playlists[pid]
            for track in playlist.tracks.values():
                meta = track.meta
                uri = track_uri(meta.url) if meta.url else None
                if uri is None:
                    continue
                line = plain_line(meta.name, (a for a, _ in meta.artists), meta.album[0])
                rank = (pid == self.pid, playlist.last_seen(track) or 0)
                if line not in best or (rank, uri) > (best[line][0], best[line][1]):
                    best[line] = (rank, uri)
        return {line: uri for line, (_, uri) in best.items()}


# ---------------------------------------------------------------------- plan


@dataclass(frozen=True)
class PlanTrack:
    """One track to send, or one that could not be (uri None)."""

    name: str
    artists: tuple[str, ...]
    album: str
    uri: str | None
    how: str  # "id": from a JSON snapshot; "matched": plain line matched; "search"; "missing"

    @property
    def line(self) -> str:
        return f"{self.name} -- {', '.join(self.artists)} -- {self.album}"


@dataclass
class Plan:
    """What a publish sends: the target's name and description, and the tracks in order."""

    key: str
    source: str  # the archived playlist's ID
    label: str  # "as of 2024-01-15", "every song ever" ... for messages
    options: dict[str, Any]
    name: str
    description: str
    public: bool
    tracks: list[PlanTrack]
    into: str | None = None
    duplicates: list[PlanTrack] = field(default_factory=list)
    source_name: str = ""

    @property
    def title(self) -> str:
        """``'Road Trip' (as of 2024-01-15)``: what is published, for messages."""
        return f"'{self.source_name or self.source}' ({self.label})"

    @property
    def uris(self) -> list[str]:
        return [t.uri for t in self.tracks if t.uri is not None]

    @property
    def missing(self) -> list[PlanTrack]:
        return [t for t in self.tracks if t.uri is None]

    def batches(self) -> list[list[str]]:
        uris = self.uris
        return [uris[i:i + MAX_URIS] for i in range(0, len(uris), MAX_URIS)] or [[]]


def publication_key(source: str, kind: str, options: dict[str, Any]) -> str:
    """A short stable ID of (source playlist, kind, options): the same publish, the same key."""
    text = json.dumps({"source": source, "kind": kind, **options}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _description(text: str, key: str) -> str:
    marker = MARKER.format(key=key)
    room = MAX_DESCRIPTION - len(marker) - 1
    text = " ".join(text.split())
    if len(text) > room:
        text = text[: room - 1].rstrip() + "…"
    return f"{text} {marker}"


def _name(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1].rstrip() + "…"


def _finish(
    plan: Plan, name: str | None, public: bool, into: str | None,
) -> Plan:
    plan.public, plan.into = public, into
    if name is not None:
        if not name.strip():
            raise PublishError("--name must not be empty")
        plan.name = _name(name)
    seen: set[str] = set()
    kept = []
    for track in plan.tracks:
        if plan.options.get("kind") == "cumulative" and track.uri is not None:
            if track.uri in seen:  # two identities of one track (plain line and ID)
                plan.duplicates.append(track)
                continue
            seen.add(track.uri)
        kept.append(track)
    plan.tracks = kept
    if len(plan.uris) > MAX_TRACKS:
        raise PublishError(
            f"{len(plan.uris):,} tracks are more than a Spotify playlist holds "
            f"({MAX_TRACKS:,}); narrow them down (--since, --removed-only)"
        )
    return plan


def plan_at(
    store: Store, snapshot: Snapshot, point: Point, *, name: str | None = None,
    public: bool = False, into: str | None = None,
) -> Plan:
    """The playlist as archived at ``point``, in its archived order (duplicates kept)."""
    playlist = snapshot.playlist
    source = playlist.name
    when = point.label if point.commit is None else _day(snapshot.time, point.zone)
    at = point.commit or point.label
    options = {"kind": "at", "at": at}
    key = publication_key(snapshot.pid, "at", options)
    linker = Linker(store, snapshot.pid)
    tracks = [
        _plan_track(t.url, t.name, tuple(a.name for a in t.artists), t.album.name, linker)
        for t in playlist.tracks
    ]
    revision = f" (commit {snapshot.commit[:12]})" if snapshot.commit else ""
    plan = Plan(
        key=key, source=snapshot.pid, label=f"as of {when}", options=options,
        name=_name(f"{playlist.name} as of {when}"),
        description=_description(
            f"{_source_name(playlist)} as archived on {when}{revision}, by gitarchive.", key),
        public=public, tracks=tracks, source_name=source,
    )
    return _finish(plan, name, public, into)


def _none_of(source: str, removed_only: bool, since: str | None) -> str:
    if since is None:
        return f"no track was ever removed from {source}" if removed_only else f"{source} is empty"
    which = "removed from" if removed_only else "of"
    return f"no track {which} {source} was added on or after {since}"


def plan_cumulative(
    store: Store, pid: str, zone: tzinfo, *, removed_only: bool = False,
    since: str | None = None, name: str | None = None, public: bool = False,
    into: str | None = None,
) -> Plan:
    """Every track ever in the playlist (or only the removed ones), by date added."""
    state = sync(store).state
    if pid not in state.playlists:
        raise QueryError(f"{pid} has no snapshot in this archive's history")
    fmt = views.DateFormatter(zone)
    view = views.cumulative_view(state.playlists[pid], fmt, live=True)
    if view is None:
        raise QueryError(f"{pid} has no snapshot in this archive's history")
    rows = [t for t in view.tracks
            if (not removed_only or t.date_removed is not None)
            and (since is None or t.date_added >= since)]
    if not rows:  # else a real run said "no track of it has a Spotify ID", a dry run 0
        raise QueryError("nothing to publish: " + _none_of(view.name or pid, removed_only, since))
    options: dict[str, Any] = {"kind": "cumulative", "removed_only": removed_only,
                               "since": since}
    key = publication_key(pid, "cumulative", options)
    what = "every song removed from" if removed_only else "every song ever in"
    title = "every song removed" if removed_only else "every song ever"
    if since:
        what = f"{what} (added since {since})"
        title = f"{title} since {since}"
    linker = Linker(store, pid)
    tracks = [
        _plan_track(t.url, t.name, tuple(a for a, _ in t.artists), t.album[0], linker)
        for t in rows
    ]
    source = view.name or pid
    plan = Plan(
        key=key, source=pid, label=title, options=options,
        name=_name(f"{source} — {title}"),
        description=_description(
            f"{what.capitalize()} {source}, by date added; from its history, by gitarchive.",
            key),
        public=public, tracks=tracks, source_name=source,
    )
    return _finish(plan, name, public, into)


def _plan_track(
    url: str, name: str, artists: tuple[str, ...], album: str, linker: Linker
) -> PlanTrack:
    if url:
        uri = track_uri(url)
        return PlanTrack(name, artists, album, uri, "id" if uri else "missing")
    uri = linker.uri(name, artists, album)
    return PlanTrack(name, artists, album, uri, "matched" if uri else "missing")


def _source_name(playlist: Playlist) -> str:
    return f"'{playlist.name}'" if playlist.name else playlist.id


def _day(epoch: int, zone: tzinfo) -> str:
    return datetime.fromtimestamp(epoch, zone).strftime("%Y-%m-%d")


def link_lines(store: Store, snapshot: Snapshot, fmt: str) -> tuple[str, list[str]]:
    """``show --format uris|urls``: one link a line, and the tracks that have none."""
    linker = Linker(store, snapshot.pid)
    lines, missing = [], []
    for t in snapshot.playlist.tracks:
        track = _plan_track(t.url, t.name, tuple(a.name for a in t.artists), t.album.name,
                            linker)
        if track.uri is None:
            missing.append(track.line)
        elif fmt == "uris":
            lines.append(track.uri)
        else:
            lines.append(f"https://open.spotify.com/track/{track.uri.rsplit(':', 1)[-1]}")
    return "".join(f"{line}\n" for line in lines), missing


# ----------------------------------------------------------- --search-missing


def search_missing(
    plan: Plan, writer: PlaylistWriter, limit: int,
    pause: Callable[[float], None] = time.sleep,
) -> int:
    """Look up at most ``limit`` missing tracks with GET /search; how many were found.

    A result counts only if its title, first artist and album equal the line's
    (case and accents ignored): a wrong song is worse than a missing one.
    """
    found = 0
    limit_given = limit
    for i, track in enumerate(plan.tracks):
        if limit <= 0:
            break
        if track.uri is not None:
            continue
        if limit < limit_given:  # not before the first
            pause(SEARCH_INTERVAL)
        limit -= 1
        terms = [f'track:"{track.name}"']
        if track.artists:
            terms.append(f'artist:"{track.artists[0]}"')
        if track.album:
            terms.append(f'album:"{track.album}"')
        for item in writer.search_track(" ".join(terms)):
            artists = [a.get("name") or "" for a in item.get("artists") or []
                       if isinstance(a, dict)]
            album = (item.get("album") or {}).get("name") or ""
            uri = track_uri(item.get("uri") or "")
            if uri and plain_line(item.get("name") or "", artists[:1], album) == plain_line(
                track.name, track.artists[:1], track.album
            ):
                plan.tracks[i] = PlanTrack(track.name, track.artists, track.album, uri,
                                           "search")
                found += 1
                break
    return found
