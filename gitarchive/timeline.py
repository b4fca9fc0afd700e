"""Per-playlist change timelines: every run that changed a playlist, for charts, feeds, the site.

The replay state behind the cumulative views keeps, per track, only its first and
last dates and a stint count. A tenure chart needs every stint, a feed every change
with its added and removed tracks and name/description edits. Both follow from the
successive versions of a playlist's snapshot (JSON, else plain — the replay's rule),
so a timeline is a list of changes between consecutive versions:

- a change is dated by the commit that wrote the new version (a run of the
  archiver), so a stint runs from the run that added a track to the run that
  removed it — the replay's ``first_seen`` and ``date_removed``;
- a deleted snapshot file means "not archived", never "empty": the next version is
  compared with the last one that existed;
- a track first seen by Spotify ID continues the history of its plain line (an
  archive that moved from plain files to JSON), as in the replay.

Timelines are kept in ``<git dir>/gitarchive/timelines/`` (one JSON file per
playlist and a ``meta.json`` with the commit they describe), so a run reads only
the new commits and parses only the new versions of the playlists they touch;
``Timelines.touched`` names those, which is what charts, feeds and the site
re-render. After a rewritten history the whole history is read again.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from gitarchive.history_events import (
    KIND_FOLLOWERS,
    KIND_JSON,
    KIND_PLAIN,
    Event,
    EventKey,
    sorted_events,
    walk_events,
)
from gitarchive.history_replay import (
    ParseCache,
    ParsedSnapshot,
    TrackMeta,
    parse_json_snapshot,
    parse_plain_snapshot,
)
from gitarchive.model import PLAIN_KEY_PREFIX, SnapshotError, track_key
from gitarchive.store import Store

FORMAT = "gitarchive-timelines/1"
RECENT = 100  # changes kept for the archive-wide feed


@dataclass
class Change:
    """One new version of a playlist's snapshot that changed its tracks, name or description."""

    time: int
    commit: str  # "" while the commit is not made yet (fetch renders before committing)
    blob: str  # the new snapshot's blob: with the time, a stable identity of the change
    added: list[str] = field(default_factory=list)  # track keys
    removed: list[str] = field(default_factory=list)
    name: str | None = None  # the new name, when it changed (or on the first version)
    description: str | None = None  # the new description, when it changed
    first: bool = False

    def to_row(self) -> list[object]:
        return [self.time, self.commit, self.blob, self.added, self.removed, self.name,
                self.description, self.first]

    @classmethod
    def from_row(cls, row: list) -> Change:  # type: ignore[type-arg]
        return cls(*row)


@dataclass
class Timeline:
    """One playlist's changes, its tracks ever seen, and its current snapshot."""

    pid: str
    name: str = ""
    url: str = ""
    description: str = ""
    json_blob: str | None = None
    plain_blob: str | None = None
    tracks: dict[str, TrackMeta] = field(default_factory=dict)  # latest metadata seen
    order: list[str] = field(default_factory=list)  # current snapshot's keys, in its order
    changes: list[Change] = field(default_factory=list)

    @property
    def source(self) -> tuple[str, str] | None:
        if self.json_blob is not None:
            return KIND_JSON, self.json_blob
        return (KIND_PLAIN, self.plain_blob) if self.plain_blob is not None else None

    def stints(self) -> dict[str, list[tuple[int, int | None]]]:
        """key -> its stints (start, end; end None while present), in first-seen order."""
        found: dict[str, list[tuple[int, int | None]]] = {}
        for change in self.changes:
            for key in change.added:
                found.setdefault(key, []).append((change.time, None))
            for key in change.removed:
                spans = found.get(key)
                if spans and spans[-1][1] is None:
                    spans[-1] = (spans[-1][0], change.time)
        return found

    @property
    def last_change(self) -> int | None:
        return self.changes[-1].time if self.changes else None

    # ------------------------------------------------------------ storage

    def to_dict(self) -> dict[str, object]:
        return {
            "pid": self.pid, "name": self.name, "url": self.url,
            "description": self.description, "json_blob": self.json_blob,
            "plain_blob": self.plain_blob,
            "tracks": {k: [m.url, m.name, list(m.album), [list(a) for a in m.artists],
                           m.duration_ms] for k, m in self.tracks.items()},
            "order": self.order,
            "changes": [c.to_row() for c in self.changes],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Timeline:  # type: ignore[type-arg]
        tracks = {
            k: TrackMeta(v[0], v[1], (v[2][0], v[2][1]), tuple((a[0], a[1]) for a in v[3]), v[4])
            for k, v in data["tracks"].items()
        }
        return cls(
            pid=data["pid"], name=data["name"], url=data["url"],
            description=data["description"], json_blob=data["json_blob"],
            plain_blob=data["plain_blob"], tracks=tracks, order=list(data["order"]),
            changes=[Change.from_row(r) for r in data["changes"]],
        )


@dataclass(frozen=True)
class Recent:
    """A change of the archive-wide feed: which playlist, and its index in the timeline."""

    time: int
    pid: str
    index: int


class Timelines:
    """Every playlist's timeline as of ``head``, loaded from disk on first access."""

    def __init__(self, folder: Path, pids: Iterable[str]) -> None:
        self.folder = folder
        self.pids: set[str] = set(pids)
        self._loaded: dict[str, Timeline] = {}
        self.touched: set[str] = set()  # snapshot or follower files written since last saved
        self.recent: list[Recent] = []
        self.head: str | None = None
        self.last_key: EventKey | None = None
        self.gens: dict[str, int] = {}
        self.full = False

    def get(self, pid: str) -> Timeline | None:
        found = self._loaded.get(pid)
        if found is None and pid in self.pids:
            try:
                data = json.loads((self.folder / f"{pid}.json").read_bytes())
                found = Timeline.from_dict(data)
            except (OSError, ValueError, KeyError, TypeError, IndexError):
                found = None  # unreadable cache: the caller replays (see update)
            if found is not None:
                self._loaded[pid] = found
        return found

    def _get_or_new(self, pid: str) -> Timeline:
        found = self.get(pid)
        if found is None:
            if pid in self.pids:
                raise _Stale(pid)
            found = self._loaded[pid] = Timeline(pid)
            self.pids.add(pid)
        return found

    def __iter__(self) -> Iterator[Timeline]:
        for pid in sorted(self.pids):
            timeline = self.get(pid)
            if timeline is not None:
                yield timeline

    def recent_changes(self) -> list[tuple[Timeline, Change]]:
        """The latest changes of the whole archive, newest first."""
        found = []
        for item in sorted(self.recent, key=lambda r: (-r.time, r.pid, -r.index)):
            timeline = self.get(item.pid)
            if timeline is not None and item.index < len(timeline.changes):
                found.append((timeline, timeline.changes[item.index]))
        return found

    def save(self) -> None:
        """Write the playlists touched since loading, then the meta file (which commits them)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for pid in sorted(self.touched):
            timeline = self._loaded.get(pid)
            if timeline is not None:
                _write(self.folder / f"{pid}.json", json.dumps(timeline.to_dict()))
        meta = {
            "format": FORMAT, "head": self.head, "gens": self.gens,
            "last_key": list(self.last_key) if self.last_key else None,
            "pids": sorted(self.pids),
            "recent": [[r.time, r.pid, r.index] for r in self.recent],
        }
        _write(self.folder / "meta.json", json.dumps(meta))


class _Stale(Exception):
    """A saved timeline could not be read: replay everything."""


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def folder(store: Store) -> Path:
    return store.git_dir / "gitarchive" / "timelines"


def _load_meta(store: Store, head: pygit2.Commit) -> Timelines | None:
    """The saved timelines if they describe an ancestor of ``head``, else None."""
    where = folder(store)
    try:
        meta = json.loads((where / "meta.json").read_bytes())
        if meta.get("format") != FORMAT:
            return None
        saved_head = pygit2.Oid(hex=meta["head"])
        repo = store.repo
        if saved_head not in repo or not (
            saved_head == head.id or repo.descendant_of(head.id, saved_head)
        ):
            return None
        timelines = Timelines(where, meta["pids"])
        timelines.head = meta["head"]
        timelines.gens = {str(k): int(v) for k, v in meta["gens"].items()}
        key = meta["last_key"]
        timelines.last_key = (key[0], key[1], key[2]) if key else None
        timelines.recent = [Recent(*r) for r in meta["recent"]]
        return timelines
    except (OSError, ValueError, KeyError, TypeError, IndexError, pygit2.GitError):
        return None


def update(store: Store, *, extra: Event | None = None, save: bool = True) -> Timelines:
    """The timelines as of HEAD (plus ``extra``, an event not committed yet), kept on disk.

    Reads only the commits after the saved ones when they are HEAD's ancestors and
    sort after them; otherwise the whole history. ``extra`` (fetch's coming commit)
    is applied but never saved: the next run reads the real commit.
    """
    head = store.head()
    timelines = _load_meta(store, head) if head is not None else None
    events: list[Event] = []
    if timelines is not None and head is not None:
        stop = pygit2.Oid(hex=timelines.head)
        events = sorted_events(walk_events(store.repo, head.id, stop, timelines.gens))
        last = timelines.last_key
        if events and last is not None and events[0].key <= last:
            timelines = None
    if timelines is None:
        timelines = Timelines(folder(store), ())
        timelines.full = True
        if head is not None:
            events = sorted_events(walk_events(store.repo, head.id, None, timelines.gens))
    saved_events = list(events)
    if extra is not None and (not events or extra.key > events[-1].key):
        events.append(extra)
    try:
        _apply(store, timelines, events)
    except _Stale:
        if timelines.full:
            raise
        shutil.rmtree(folder(store), ignore_errors=True)
        return update(store, extra=extra, save=save)
    if saved_events:
        timelines.last_key = saved_events[-1].key
    timelines.head = str(head.id) if head is not None else None
    if save and extra is None and head is not None and (saved_events or timelines.full):
        if timelines.full:
            shutil.rmtree(folder(store), ignore_errors=True)
        timelines.save()
    return timelines


def _apply(store: Store, timelines: Timelines, events: list[Event]) -> None:
    """Apply ``events`` playlist by playlist (reading each one's versions together)."""
    per_pid: dict[str, list[tuple[Event, str, str | None]]] = {}
    for event in events:
        for write in event.writes:
            per_pid.setdefault(write.pid, []).append((event, write.kind, write.blob))
            timelines.touched.add(write.pid)
    cache = ParseCache()
    new_recent: list[Recent] = []
    for pid in sorted(per_pid):
        writes = [w for w in per_pid[pid] if w[1] != KIND_FOLLOWERS]
        if not writes:
            if pid not in timelines.pids and pid not in timelines._loaded:
                timelines.touched.discard(pid)  # followers only, never a snapshot
            continue
        timeline = timelines._get_or_new(pid)
        before = len(timeline.changes)
        _apply_playlist(store, timeline, writes, cache)
        for index in range(before, len(timeline.changes)):
            new_recent.append(Recent(timeline.changes[index].time, pid, index))
        if timeline.source is None and not timeline.changes:
            timelines.pids.discard(pid)
            timelines._loaded.pop(pid, None)
    merged = sorted([*timelines.recent, *new_recent], key=lambda r: (r.time, r.pid, r.index))
    timelines.recent = merged[-RECENT:]


def _apply_playlist(
    store: Store, timeline: Timeline, writes: list[tuple[Event, str, str | None]],
    cache: ParseCache,
) -> None:
    """The playlist's snapshot writes in history order -> new changes."""
    i = 0
    while i < len(writes):
        event = writes[i][0]
        before = timeline.source
        while i < len(writes) and writes[i][0] is event:
            _, kind, blob = writes[i]
            if kind == KIND_JSON:
                timeline.json_blob = blob
            else:
                timeline.plain_blob = blob
            i += 1
        now = timeline.source
        if now is None or now == before:
            continue
        try:
            data = store.blob(pygit2.Oid(hex=now[1]))
            if now[0] == KIND_JSON:
                parsed = parse_json_snapshot(timeline.pid, data, cache)
            else:
                parsed = parse_plain_snapshot(timeline.pid, data)
        except (SnapshotError, KeyError, ValueError):
            continue  # unreadable: the replay reports it; the next version is compared
        _compare(timeline, parsed, event, now[1], adopt=now[0] == KIND_JSON)


def _compare(
    timeline: Timeline, parsed: ParsedSnapshot, event: Event, blob: str, *, adopt: bool
) -> None:
    first = not timeline.changes and not timeline.order
    old = set(timeline.order)
    order: list[str] = []
    seen: set[str] = set()
    for key, meta, _ in parsed.tracks:
        if key in seen:
            continue
        if adopt and key not in old and not key.startswith(PLAIN_KEY_PREFIX):
            plain = track_key("", meta.name, (a[0] for a in meta.artists), meta.album[0])
            if plain in old:
                _rename(timeline, plain, key)
                old.discard(plain)
                old.add(key)
        seen.add(key)
        order.append(key)
        timeline.tracks[key] = meta
    change = Change(
        time=event.time, commit=event.oid, blob=blob,
        added=[k for k in order if k not in old],
        removed=[k for k in timeline.order if k not in seen and k in old],
        first=first,
    )
    if first or parsed.name != timeline.name:
        change.name = parsed.name
    if not first and parsed.description != timeline.description:
        change.description = parsed.description
    timeline.name, timeline.url, timeline.description = parsed.name, parsed.url, parsed.description
    timeline.order = order
    if change.added or change.removed or change.name is not None or \
            change.description is not None or first:
        timeline.changes.append(change)


def _rename(timeline: Timeline, old: str, new: str) -> None:
    """A plain line's history continues under its Spotify ID."""
    for change in timeline.changes:
        change.added = [new if k == old else k for k in change.added]
        change.removed = [new if k == old else k for k in change.removed]
    timeline.order = [new if k == old else k for k in timeline.order]
    timeline.tracks.pop(old, None)


def load(store: Store) -> Timelines:
    """The timelines as of HEAD, brought up to date and saved."""
    return update(store)
