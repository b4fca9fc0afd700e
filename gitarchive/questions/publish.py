"""Publishing history back to Spotify: a past version, or the cumulative list, as a playlist.

Two halves, so `--dry-run` can show the first without touching the network:

* The plan (`plan_at`, `plan_cumulative`): which tracks, in which order, under which
  name, and the publication key that identifies "this publish" across runs.
  Plain-only history has no track IDs: its lines are matched against the tracks
  of the archive's JSON snapshots (`Linker`); what does not match is listed.
* The executor (`execute`): finds or creates the target and makes its items equal
  to the plan, idempotently. The target is remembered per key in
  ``.git/gitarchive/publish.json`` (written atomically) and by a marker
  ``[gitarchive:KEY]`` in its description, so a lost file still finds it. A run
  interrupted anywhere (429, 5xx, a dropped connection, a kill) leaves a state the
  next run finishes: it reads the items back first and appends what is missing or
  replaces them, never duplicating a track or creating a second playlist.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from gitarchive.archive.model import Playlist
from gitarchive.errors import AmbiguousWrite, PublishError, QueryError, WriteError
from gitarchive.git.store import Store
from gitarchive.history import views
from gitarchive.history.sync import sync
from gitarchive.questions.index import fold
from gitarchive.questions.query import Point, Snapshot
from gitarchive.spotify.writes import (
    MAX_URIS,
    MODIFY_PRIVATE,
    MODIFY_PUBLIC,
    READ_PRIVATE,
    PlaylistWriter,
    RemotePlaylist,
    track_uri,
)

STATE_FILE = "publish.json"
STATE_FORMAT = 1
MARKER = "[gitarchive:{key}]"
MAX_DESCRIPTION = 300  # Spotify's limit on a playlist description
MAX_NAME = 100
MAX_TRACKS = 10_000  # Spotify's limit on a playlist's length
SEARCH_INTERVAL = 0.25  # seconds between two searches: --search-missing must not flood
AMBIGUOUS_RETRIES = 3  # how often one run looks and tries again after an unsure write

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


# ------------------------------------------------------------- saved targets


def state_path(store: Store) -> Path:
    return store.git_dir / "gitarchive" / STATE_FILE


def load_targets(store: Store) -> dict[str, dict[str, Any]]:
    """The remembered targets by publication key ({} when none, or the file is unreadable)."""
    try:
        data = json.loads(state_path(store).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    targets = data.get("targets") if isinstance(data, dict) else None
    return {k: v for k, v in (targets or {}).items() if isinstance(v, dict)}


def remember(store: Store, plan: Plan, playlist_id: str, **extra: Any) -> None:
    """Record the target of ``plan`` (atomically: a kill leaves the old file or the new)."""
    targets = load_targets(store)
    targets[plan.key] = {
        "playlist": playlist_id, "source": plan.source, **plan.options, "name": plan.name,
        "updated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **extra,
    }
    path = state_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": STATE_FORMAT, "targets": targets}, indent=2, sort_keys=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{STATE_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------ execute


@dataclass
class Outcome:
    """What a publish did."""

    playlist_id: str
    how: str  # "created", "remembered", "found by its marker", "--into"
    requests: list[str] = field(default_factory=list)  # the writes sent, in order
    unchanged: bool = False

    @property
    def url(self) -> str:
        return f"https://open.spotify.com/playlist/{self.playlist_id}"


def needed_scopes(plan: Plan) -> dict[str, str]:
    """Scope -> why, for the target this plan writes."""
    if plan.into is not None:
        return {}  # its visibility is the playlist's own: Spotify says if a scope lacks
    if plan.public:
        return {MODIFY_PUBLIC: "to create and fill a public playlist"}
    return {
        MODIFY_PRIVATE: "to create and fill a private playlist",
        READ_PRIVATE: "to find a private playlist published before",
    }


def execute(
    store: Store, plan: Plan, writer: PlaylistWriter, report: Report = lambda _: None
) -> Outcome:
    """Make the target's items equal to the plan's URIs; safe to run again at any point."""
    writer.require_scopes(needed_scopes(plan))
    outcome = _target(store, plan, writer, report)
    _fill(writer, outcome, plan.uris, report)
    remember(store, plan, outcome.playlist_id, tracks=len(plan.uris), complete=True)
    return outcome


def _target(store: Store, plan: Plan, writer: PlaylistWriter, report: Report) -> Outcome:
    me = writer.me()
    if plan.into is not None:
        found = writer.playlist(plan.into)
        if found is None:
            raise PublishError(f"--into: Spotify has no playlist {plan.into}")
        if found.owner != me:
            raise PublishError(
                f"--into: playlist {plan.into} ('{found.name}') belongs to "
                f"{found.owner or 'someone else'}, not to you; give one of your own playlists"
            )
        remember(store, plan, found.pid, complete=False)
        return Outcome(found.pid, "--into")
    saved = load_targets(store).get(plan.key, {}).get("playlist")
    marker = MARKER.format(key=plan.key)
    for attempt in range(AMBIGUOUS_RETRIES + 1):
        found, how = _in_library(writer, me, saved, marker)
        if found is not None:
            remember(store, plan, found.pid, complete=False)
            if attempt:  # our own creation, whose answer was lost
                return Outcome(found.pid, "created", [f"POST /me/playlists '{plan.name}'"])
            return Outcome(found.pid, how)
        if saved and not attempt:
            report(f"the playlist published before ({saved}) is no longer in your library")
        try:
            created = writer.create(plan.name, plan.description, plan.public)
        except AmbiguousWrite as exc:
            report(f"{exc}; checking whether the playlist was created")
            continue
        remember(store, plan, created.pid, complete=False)  # before any item is sent
        return Outcome(created.pid, "created", [f"POST /me/playlists '{plan.name}'"])
    raise PublishError("could not create the playlist (Spotify kept failing); run again later")


def _in_library(
    writer: PlaylistWriter, me: str, saved: Any, marker: str
) -> tuple[RemotePlaylist | None, str]:
    """The remembered target if it is still in the user's library, else one with the marker.

    The library, not GET /playlists/{id}: a playlist the user deleted (unfollowed)
    still answers there, and should not be filled again.
    """
    by_marker = None
    for playlist in writer.my_playlists():
        if playlist.owner != me:
            continue
        if playlist.pid == saved:
            return playlist, "remembered"
        if by_marker is None and marker in playlist.description:
            by_marker = playlist
    return by_marker, "found by its marker"


def _fill(writer: PlaylistWriter, outcome: Outcome, uris: list[str], report: Report) -> None:
    """Items := uris. Resumes after an interruption by appending to a correct prefix."""
    pid = outcome.playlist_id
    current = writer.item_uris(pid)
    if current == uris:
        outcome.unchanged = True
        report(f"already up to date: {len(uris)} tracks")
        return
    for _ in range(AMBIGUOUS_RETRIES + 1):
        done = len(current) if _is_prefix(current, uris) and current else 0
        if done == 0:
            first = uris[:MAX_URIS]
            writer.replace(pid, first)
            outcome.requests.append(f"PUT /playlists/{pid}/items ({len(first)} URIs)")
            report(f"sent {len(first)} of {len(uris)} tracks")
            done = len(first)
        else:
            report(f"{done} of {len(uris)} tracks were already there; adding the rest")
        try:
            for start in range(done, len(uris), MAX_URIS):
                batch = uris[start:start + MAX_URIS]
                writer.append(pid, batch)
                outcome.requests.append(f"POST /playlists/{pid}/items ({len(batch)} URIs)")
                report(f"sent {start + len(batch)} of {len(uris)} tracks")
        except AmbiguousWrite as exc:
            report(f"{exc}; reading the playlist back before going on")
            current = writer.item_uris(pid)
            continue
        break
    else:
        raise PublishError(f"could not fill playlist {pid} (Spotify kept failing); run again")
    final = writer.item_uris(pid)
    if final != uris:
        raise WriteError(
            f"playlist {pid} holds {len(final)} items after writing, not the {len(uris)} "
            "sent (was it edited meanwhile?); run the same publish again to fix it"
        )


def _is_prefix(current: Sequence[str | None], uris: Sequence[str]) -> bool:
    return len(current) <= len(uris) and list(current) == list(uris[: len(current)])


# ------------------------------------------------------------------- dry run


def dry_run(store: Store, plan: Plan) -> Iterator[str]:
    """What `publish` would send, line by line; nothing is sent, no token is asked for."""
    saved = load_targets(store).get(plan.key, {}).get("playlist")
    visibility = "public" if plan.public else "private"
    yield f"Would publish {len(plan.uris)} tracks of {plan.title}"
    if plan.into:
        yield f"  into your playlist {plan.into} (its items are replaced)"
    elif saved:
        yield f"  into playlist {saved}, published before by this command (publish.json)"
    else:
        yield (f"  into your playlist marked {MARKER.format(key=plan.key)} if there is one, "
               f"else a new {visibility} playlist:")
        yield f"  POST /me/playlists name={plan.name!r} public={str(plan.public).lower()}"
        yield f"       description={plan.description!r}"
    target = plan.into or saved or "{new}"
    for i, batch in enumerate(plan.batches()):
        verb = "PUT " if i == 0 else "POST"
        yield f"  {verb} /playlists/{target}/items ({len(batch)} URIs)"
    yield "  then read the items back to check them"
    for track in plan.tracks:
        if track.uri is not None:
            note = "  (matched by title, artists, album)" if track.how == "matched" else ""
            yield f"{track.uri}  {track.line}{note}"
