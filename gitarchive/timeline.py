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

Timelines are kept in ``<git dir>/gitarchive/timelines.sqlite`` (a row per playlist
and one for the commit they describe), so a run reads only the new commits and
parses only the new versions of the playlists they touch (a whole-history read
reads its blobs ahead in a second process and splits the playlists over two
processes, like the replay); ``Timelines.touched`` names those, which is what
charts, feeds and the site re-render. After a rewritten history the whole
history is read again.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import pygit2

from gitarchive.blobstream import BlobStream
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
    """Every playlist's timeline as of ``head``, read from the saved file on first access."""

    def __init__(self, path: Path, pids: Iterable[str]) -> None:
        self.path = path
        self.pids: set[str] = set(pids)
        self._loaded: dict[str, Timeline] = {}
        self.touched: set[str] = set()  # snapshot or follower files written since last saved
        self.recent: list[Recent] = []
        self.head: str | None = None
        self.last_key: EventKey | None = None
        self.gens: dict[str, int] = {}
        self.full = False

    def _rows(self, pids: list[str] | None) -> Iterator[tuple[str, str]]:
        try:
            with closing(_connect(self.path)) as db:
                if pids is None:
                    yield from db.execute("SELECT pid, data FROM timelines")
                else:
                    yield from db.execute(
                        "SELECT pid, data FROM timelines WHERE pid IN"
                        " (SELECT value FROM json_each(?))", (json.dumps(pids),))
        except sqlite3.Error:
            return

    def _load(self, pids: list[str] | None) -> None:
        for pid, data in self._rows(pids):
            if pid in self.pids and pid not in self._loaded:
                # Unreadable: not loaded, and the caller reads the history again (update).
                with suppress(ValueError, KeyError, TypeError, IndexError):
                    self._loaded[pid] = Timeline.from_dict(json.loads(data))

    def preload(self, pids: Iterable[str]) -> None:
        """Read these playlists' saved timelines in one query (a connection costs)."""
        wanted = [pid for pid in pids if pid in self.pids and pid not in self._loaded]
        if wanted:
            self._load(wanted)

    def get(self, pid: str) -> Timeline | None:
        if pid not in self._loaded and pid in self.pids:
            self._load([pid])
        return self._loaded.get(pid)

    def _get_or_new(self, pid: str) -> Timeline:
        found = self.get(pid)
        if found is None:
            if pid in self.pids:
                raise _Stale(pid)
            found = self._loaded[pid] = Timeline(pid)
            self.pids.add(pid)
        return found

    def __iter__(self) -> Iterator[Timeline]:
        if len(self.pids) - len(self._loaded) > 1:
            self._load(None)  # one query for all of them
        for pid in sorted(self.pids):
            timeline = self.get(pid)
            if timeline is not None:
                yield timeline

    def recent_changes(self) -> list[tuple[Timeline, Change]]:
        """The latest changes of the whole archive, newest first."""
        found = []
        self.preload(r.pid for r in self.recent)
        for item in sorted(self.recent, key=lambda r: (-r.time, r.pid, -r.index)):
            timeline = self.get(item.pid)
            if timeline is not None and item.index < len(timeline.changes):
                found.append((timeline, timeline.changes[item.index]))
        return found

    def save(self) -> None:
        """Write the playlists touched since loading and the meta row, in one transaction."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT, "head": self.head, "gens": self.gens,
            "last_key": list(self.last_key) if self.last_key else None,
            "pids": sorted(self.pids),
            "recent": [[r.time, r.pid, r.index] for r in self.recent],
        }
        with closing(_connect(self.path)) as db, db:
            if self.full:
                db.execute("DELETE FROM timelines")
            db.executemany(
                "INSERT OR REPLACE INTO timelines (pid, data) VALUES (?, ?)",
                ((pid, json.dumps(self._loaded[pid].to_dict())) for pid in sorted(self.touched)
                 if pid in self._loaded),
            )
            db.execute("DELETE FROM timelines WHERE pid NOT IN (SELECT value FROM json_each(?))",
                       (json.dumps(sorted(self.pids)),))
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('state', ?)",
                       (json.dumps(meta),))


class _Stale(Exception):
    """A saved timeline could not be read: replay everything."""


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30)
    db.execute("CREATE TABLE IF NOT EXISTS timelines (pid TEXT PRIMARY KEY, data TEXT NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    return db


def state_path(store: Store) -> Path:
    """Where the timelines are kept: beside the history state, in the git directory."""
    return store.git_dir / "gitarchive" / "timelines.sqlite"


def _load_meta(store: Store, head: pygit2.Commit) -> Timelines | None:
    """The saved timelines if they describe an ancestor of ``head``, else None."""
    path = state_path(store)
    if not path.exists():
        return None
    try:
        with closing(_connect(path)) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
        if row is None:
            return None
        meta = json.loads(row[0])
        if meta.get("format") != FORMAT:
            return None
        saved_head = pygit2.Oid(hex=meta["head"])
        repo = store.repo
        if saved_head not in repo or not (
            saved_head == head.id or repo.descendant_of(head.id, saved_head)
        ):
            return None
        timelines = Timelines(path, meta["pids"])
        timelines.head = meta["head"]
        timelines.gens = {str(k): int(v) for k, v in meta["gens"].items()}
        key = meta["last_key"]
        timelines.last_key = (key[0], key[1], key[2]) if key else None
        timelines.recent = [Recent(*r) for r in meta["recent"]]
        return timelines
    except (OSError, ValueError, KeyError, TypeError, IndexError, pygit2.GitError,
            sqlite3.Error):
        return None


def forget(store: Store) -> None:
    """Drop the saved timelines (the next update reads the whole history)."""
    state_path(store).unlink(missing_ok=True)


def update(store: Store, *, extra: Event | None = None, save: bool = True) -> Timelines:
    """The timelines as of HEAD (plus ``extra``, an event not committed yet), kept on disk.

    Reads only the commits after the saved ones when they are HEAD's ancestors and
    sort after them; otherwise the whole history. The committed events are saved;
    ``extra`` (fetch's coming commit) is applied on top in memory only: the next
    run reads the real commit.
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
        timelines = Timelines(state_path(store), ())
        timelines.full = True
        if head is not None:
            events = sorted_events(walk_events(store.repo, head.id, None, timelines.gens))
    try:
        _apply(store, timelines, events)
        if events:
            timelines.last_key = events[-1].key
        timelines.head = str(head.id) if head is not None else None
        if save and head is not None and (events or timelines.full):
            timelines.save()
        if extra is not None and (timelines.last_key is None or extra.key > timelines.last_key):
            _apply(store, timelines, [extra])
    except _Stale:  # a saved playlist could not be read: read the whole history
        if timelines.full:
            raise
        forget(store)
        return update(store, extra=extra, save=save)
    return timelines


Writes = list[tuple[Event, str, str | None]]  # (event, kind, blob) of one playlist, in order
PARALLEL_MIN = 4000  # versions to parse from which a whole-history read uses both cores


def _apply(store: Store, timelines: Timelines, events: list[Event]) -> None:
    """Apply ``events`` playlist by playlist (reading each one's versions together)."""
    per_pid: dict[str, Writes] = {}
    for event in events:
        for write in event.writes:
            per_pid.setdefault(write.pid, []).append((event, write.kind, write.blob))
            timelines.touched.add(write.pid)
    work: list[tuple[Timeline, Writes]] = []
    timelines.preload(pid for pid, ws in per_pid.items()
                      if any(w[1] != KIND_FOLLOWERS for w in ws))  # not follower counts alone
    for pid in sorted(per_pid):
        writes = [w for w in per_pid[pid] if w[1] != KIND_FOLLOWERS]
        if writes:
            work.append((timelines._get_or_new(pid), writes))
        elif pid not in timelines.pids and pid not in timelines._loaded:
            timelines.touched.discard(pid)  # followers only, never a snapshot
    before = {t.pid: len(t.changes) for t, _ in work}
    plan = _plan(work)
    if timelines.full and len(plan) >= PARALLEL_MIN and (os.cpu_count() or 1) > 1:
        for timeline in _apply_split(store, work):
            timelines._loaded[timeline.pid] = timeline
    else:
        _apply_some(store, work, plan)
    new_recent: list[Recent] = []
    for pid, count in before.items():
        timeline = timelines._loaded[pid]
        for index in range(count, len(timeline.changes)):
            new_recent.append(Recent(timeline.changes[index].time, pid, index))
        if timeline.source is None and not timeline.changes:
            timelines.pids.discard(pid)
            timelines._loaded.pop(pid, None)
    merged = sorted([*timelines.recent, *new_recent], key=lambda r: (r.time, r.pid, r.index))
    timelines.recent = merged[-RECENT:]


def _versions(timeline: Timeline, writes: Writes) -> Iterator[tuple[Event, str, str]]:
    """(event, kind, blob) of each new version to compare; the timeline's source moves along."""
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
        if now is not None and now != before:
            yield event, now[0], now[1]


def _apply_some(store: Store, work: list[tuple[Timeline, Writes]],
                plan: list[tuple[str, str]]) -> None:
    """Parse the new versions (read ahead by a blob reader process) and compare them."""
    cache = ParseCache()
    with BlobStream(store.repo, plan) as reader:
        for timeline, writes in work:
            for event, kind, blob in _versions(timeline, writes):
                try:
                    data = reader.read(blob)
                    if kind == KIND_JSON:
                        parsed = parse_json_snapshot(timeline.pid, data, cache)
                    else:
                        parsed = parse_plain_snapshot(timeline.pid, data)
                except (SnapshotError, KeyError, ValueError):
                    continue  # unreadable: the replay reports it; the next one is compared
                _compare(timeline, parsed, event, blob, adopt=kind == KIND_JSON)


def _second_half(pid: str) -> bool:
    return hashlib.sha1(pid.encode()).digest()[0] & 1 == 1


def _apply_split(store: Store, work: list[tuple[Timeline, Writes]]) -> list[Timeline]:
    """A whole-history read on both cores: half the playlists in a forked process.

    Timelines are independent, so each half is exactly what one pass would give;
    if the child fails, its half is done here.
    """
    mine = [w for w in work if not _second_half(w[0].pid)]
    theirs = [w for w in work if _second_half(w[0].pid)]
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_split_child, args=(store.repo.path, theirs, sender),
                            daemon=True)
    child.start()
    sender.close()
    try:
        _apply_some(store, mine, _plan(mine))
        try:
            received: list[Timeline] | None = receiver.recv()
        except (EOFError, OSError):
            received = None
    finally:
        receiver.close()
        child.join()
    if received is None:
        _apply_some(store, theirs, _plan(theirs))
        received = [t for t, _ in theirs]
    return [t for t, _ in mine] + received


def _plan(work: list[tuple[Timeline, Writes]]) -> list[tuple[str, str]]:
    """(blob, playlist) of every version ``_apply_some`` will read, in its order."""
    sources = {t.pid: (t.json_blob, t.plain_blob) for t, _ in work}
    plan = [(blob, t.pid) for t, writes in work for _, _, blob in _versions(t, writes)]
    for timeline, _ in work:
        timeline.json_blob, timeline.plain_blob = sources[timeline.pid]
    return plan


def _split_child(git_dir: str, work: list[tuple[Timeline, Writes]], sender: Connection
                 ) -> None:
    try:
        _apply_some(Store(git_dir), work, _plan(work))
        sender.send([t for t, _ in work])
    finally:
        sender.close()


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
