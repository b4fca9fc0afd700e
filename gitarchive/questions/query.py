"""Questions to the archive: a playlist as of a date, what changed, where a song was.

Everything here reads the query index (index.py) for dates and the object
database for snapshot blobs; nothing walks history. Times are epoch seconds; the
CLI formats them as YYYY-MM-DD in the chosen time zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from gitarchive.archive import layout, registry
from gitarchive.archive.model import Link, Playlist, Track
from gitarchive.archive.snapshots import ParsedSnapshot, parse_plain_snapshot
from gitarchive.errors import (
    PlaylistNotFound,
    PlaylistRefError,
    QueryError,
    SnapshotError,
    StoreError,
)
from gitarchive.git.store import Store, blob_at
from gitarchive.history.events import EMPTY_BLOB, KIND_JSON, KIND_PLAIN
from gitarchive.questions.changes import (
    LATEST,
    Versions,
    change_dates,
    changes,
    unreadable,
    versions,
)
from gitarchive.questions.formats import by_key, plain_keys, track_line_key, when_of
from gitarchive.questions.index import QueryIndex
from gitarchive.questions.resolve import (
    Former,
    Known,
    former_names,
    formerly,
    known_playlists,
    resolve_playlist,
)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# ------------------------------------------------------------------ points


@dataclass(frozen=True)
class Point:
    """A moment of history: the end of a day, a commit, or now."""

    label: str
    time: int  # snapshots written at or before this time count
    commit: str | None = None  # a revision: read its tree instead of the date index
    zone: tzinfo = UTC  # how dates in messages about this point are shown

    def day(self, epoch: int) -> str:
        return day_in(self.zone)(epoch)


def day_in(zone: tzinfo) -> Callable[[int], str]:
    """Epoch seconds -> the YYYY-MM-DD they fall on in ``zone`` (messages' dates)."""
    return lambda epoch: datetime.fromtimestamp(epoch, zone).date().isoformat()


def parse_point(store: Store, text: str | None, zone: tzinfo) -> Point:
    """``YYYY-MM-DD`` (the end of that day in ``zone``) or any git revision; None: now."""
    if text is None:
        return Point("latest", LATEST, zone=zone)
    if _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise QueryError(f"'{text}' is not a valid date (YYYY-MM-DD)") from exc
        if day == date.max:  # its end is past what datetime holds, and past every commit
            return Point(text, LATEST - 1, zone=zone)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        return Point(text, int(end.timestamp()) - 1, zone=zone)
    try:
        commit = store.resolve(text)
    except StoreError as exc:
        raise QueryError(
            f"'{text}' is neither a date (YYYY-MM-DD) nor a revision of this archive"
        ) from exc
    return Point(text, commit.commit_time, str(commit.id), zone)


# --------------------------------------------------------------- playlists


def known(store: Store, index: QueryIndex) -> list[Known]:
    """Every playlist the archive knows: registered now, or with a snapshot in history."""
    entries, _ = registry.load(store)
    names = {pid: row.name for pid, row in index.playlists().items()}
    return known_playlists(
        names, {pid: e.alias for pid, e in entries.items()}, index.write_pids()
    )


def find_playlist(store: Store, index: QueryIndex, text: str, zone: tzinfo = UTC) -> str:
    """The ID of the playlist ``text`` names (ID, URL, URI, name or alias); an earlier
    name is said to be one, with its day in ``zone``."""
    try:
        pid = layout.parse_playlist_ref(text)
    except PlaylistRefError:
        pass
    else:
        # An ID needs no name list, which keeps `show ID` fast on big archives.
        if index.first_write_time(pid) is not None:
            return pid
    try:  # a name no playlist has now may be one from before a rename
        return resolve_playlist(text, known(store, index),
                                lambda name: formerly(name, _former(store), day_in(zone)))
    except PlaylistNotFound as exc:
        raise QueryError(str(exc)) from exc


def _former(store: Store) -> list[Former]:
    """Earlier names from the recorded timelines (kept by fetch and rebuild), as of the
    commit they were last brought to; none when there are none."""
    from gitarchive.history.timeline import load_meta

    head = store.head()
    timelines = load_meta(store, head) if head is not None else None
    if timelines is None:
        return []
    return former_names((t.pid, t.name, ((c.time, c.name) for c in t.changes))
                        for t in timelines)


# --------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class Snapshot:
    """One archived version of a playlist."""

    pid: str
    time: int  # commit time of the write (or of the revision asked for)
    commit: str
    playlist: Playlist
    keys: tuple[str, ...]  # track identities (model.track_key's), aligned with tracks
    raw_json: bytes | None  # the pretty JSON file, when the snapshot is one
    changed: tuple[int, str] | None = None  # (time, commit) of the write that made this version


def _from_parsed(pid: str, parsed: ParsedSnapshot) -> Playlist:
    """A model playlist from a plain-only snapshot (durations unknown: 0)."""
    tracks = tuple(
        Track(
            url=meta.url,
            name=meta.name,
            album=Link(*meta.album),
            artists=tuple(Link(*a) for a in meta.artists),
            duration_ms=meta.duration_ms or 0,
        )
        for _, meta, _ in parsed.tracks
    )
    return Playlist(
        url=parsed.url, original_name=parsed.name, description=parsed.description,
        owner=Link(""), tracks=tracks,
    )


def load_snapshot(
    store: Store, pid: str, kind: str, blob: str, when: int, commit: str
) -> Snapshot:
    """Parse one snapshot blob (JSON or plain) into a Snapshot; QueryError if unreadable.

    A blob this clone lacks (``git clone --filter``) or a submodule entry at the path is
    unreadable too, as the replay counts it: skipped, never a traceback."""
    try:
        data = store.blob(blob)
    except (KeyError, StoreError) as exc:
        raise unreadable(pid, commit, blob, exc) from None
    try:
        if kind == KIND_JSON:
            playlist = Playlist.from_json(data)
            keys = tuple(t.key for t in playlist.tracks)
            return Snapshot(pid, when, commit, playlist, keys, data)
        parsed = parse_plain_snapshot(pid, data)
    except SnapshotError as exc:
        raise unreadable(pid, commit, blob, exc) from exc
    keys = tuple(key for key, _, _ in parsed.tracks)
    return Snapshot(pid, when, commit, _from_parsed(pid, parsed), keys, None)


def snapshot_at(store: Store, index: QueryIndex, pid: str, point: Point) -> Snapshot:
    """The playlist as archived at ``point``: the last snapshot written at or before it."""
    if point.commit is not None:
        commit = store.resolve(point.commit)
        for kind, path in ((KIND_JSON, layout.pretty_json_path(pid)),
                           (KIND_PLAIN, layout.plain_path(pid))):
            entry = blob_at(commit.tree, path)
            if entry is not None and str(entry) != EMPTY_BLOB:  # empty: a placeholder
                found = load_snapshot(store, pid, kind, str(entry), point.time, point.commit)
                write = index.latest_writes(pid, point.time).get(kind)
                if write is None or write.blob != str(entry):
                    return found  # not on the indexed history: when it changed is unknown
                return replace(found, changed=(write.time, write.oid))
        raise QueryError(f"{pid} has no snapshot at revision {point.label}")
    latest = index.latest_writes(pid, point.time)
    for kind in (KIND_JSON, KIND_PLAIN):
        write = latest.get(kind)
        if write is not None and write.blob is not None:
            try:
                found = load_snapshot(store, pid, kind, write.blob, write.time, write.oid)
                return replace(found, changed=(write.time, write.oid))
            except QueryError:  # skipped, as the replay skips it: the newest readable one
                newest_first = reversed(list(versions(index.writes(pid, point.time))))
                for version, snap in Versions(store, pid).readable(newest_first):
                    if snap is None or version.kind is None or version.blob is None:
                        raise  # deleted after its last readable version
                    found = load_snapshot(store, pid, version.kind, version.blob,
                                          version.time, version.oid)
                    return replace(found, changed=(version.time, version.oid))
                raise
    first = index.first_write_time(pid)
    if first is None or first > point.time:
        raise QueryError(_before_first(pid, point, first))
    *_, gone = versions(index.writes(pid, point.time))  # the last version: the deletion
    now = point.time >= LATEST  # said "was not archived on latest", not when nor what to ask
    raise QueryError(f"{pid} {'is no longer' if now else 'was not'} archived"
                     f"{'' if now else ' on ' + point.label}: its snapshot was deleted on "
                     f"{point.day(gone.time)}; ask for a day before that")


def as_of(store: Store, point: Point) -> tuple[str, int | None]:
    """What ``show`` answers for, to say in its header: (label, time to show or None).

    Latest: the archive as of its latest run (HEAD), which is not the day the playlist
    last changed: both are said, or a header reads as a stale archive."""
    if point.time >= LATEST:
        head = store.head()
        return "the latest run", head.commit_time if head is not None else None
    return point.label, point.time if point.commit is not None else None


def _before_first(pid: str, point: Point, first: int | None) -> str:
    when = "on or before " + point.label if point.time < LATEST else "yet"
    return f"{pid} has no snapshot {when}" + (
        f"; the first is from {point.day(first)}" if first is not None else "")


# ----------------------------------------------------------------- history


@dataclass(frozen=True)
class DiffEntry:
    """A track added or removed between two points, with when that happened (if known)."""

    track: Track
    when: int | None


@dataclass(frozen=True)
class Diff:
    before: Snapshot | None  # None: compared with nothing (the first snapshot)
    after: Snapshot
    added: list[DiffEntry]
    removed: list[DiffEntry]


def diff(
    store: Store, index: QueryIndex, pid: str, start: Point | None, end: Point
) -> Diff:
    """Tracks added and removed from ``start`` to ``end``; start None: the last change."""
    after = snapshot_at(store, index, pid, end)
    if start is None:
        start = _previous_change(store, index, pid, end)
    elif start.time > end.time:
        raise QueryError(f"--from {start.label} is after --to {end.label}")
    before = snapshot_at(store, index, pid, start) if start is not None else None
    added, removed = _added_removed(before, after)
    added_at, removed_at = change_dates(
        store, index, pid, start.time if start else -1, end.time
    )
    return Diff(
        before,
        after,
        [DiffEntry(t, when_of(added_at, k, t)) for k, t in added],
        [DiffEntry(t, when_of(removed_at, k, t)) for k, t in removed],
    )


def _added_removed(
    before: Snapshot | None, after: Snapshot
) -> tuple[list[tuple[str, Track]], list[tuple[str, Track]]]:
    """(key, track) pairs in ``after`` but not ``before``, and the other way round."""
    plain = plain_keys(after.keys) | (plain_keys(before.keys) if before else set())
    old = (by_key(zip(before.keys, before.playlist.tracks, strict=True), plain, track_line_key)
           if before else {})
    new = by_key(zip(after.keys, after.playlist.tracks, strict=True), plain, track_line_key)
    return ([(k, t) for k, t in new.items() if k not in old],
            [(k, t) for k, t in old.items() if k not in new])


def _previous_change(store: Store, index: QueryIndex, pid: str, end: Point) -> Point | None:
    """Just before the last change of tracks up to ``end`` (None: only the first snapshot)."""
    found = [c for c in changes(store, index, pid, end.time) if c.added or c.removed or c.first]
    if len(found) < 2:
        return None
    last = found[-1].time - 1
    return Point(end.day(last), last, zone=end.zone)
