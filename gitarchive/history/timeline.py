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

Timelines are kept in ``<git dir>/gitarchive/timelines.sqlite``: a row per playlist,
pickled (a daily run reads and writes ~30 whole timelines, twice as fast as JSON; rows
of formats 1 and 2, JSON text, are still read), and one row for the commit they
describe. So a run reads only the new commits and parses only the new versions of
the playlists they touch (a whole-history read reads its blobs ahead in a second
process and splits the playlists over two processes, like the replay);
``Timelines.touched`` names those, which is what charts, feeds and the site
re-render. After a rewritten history the whole history is read again.

This module holds the timelines and their file; timeline_read.py reads the
history into them.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from gitarchive.archive.snapshots import TrackMeta
from gitarchive.git.store import Store
from gitarchive.history import timeline_file
from gitarchive.history.events import KIND_JSON, KIND_PLAIN, Event, EventKey

FORMAT = "gitarchive-timelines/3"  # 3: rows pickled (a JSON row is read as before)
# 2: the snapshots' blobs in the meta row (``sources``); 1: each row's own blobs count
_READ = (FORMAT, "gitarchive-timelines/2", "gitarchive-timelines/1")
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
    def from_row(cls, row: list[Any]) -> Change:
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
            # url, name, album, artists, duration_ms: tuples, which JSON writes as lists
            "tracks": {k: m[:5] for k, m in self.tracks.items()},
            "order": self.order,
            "changes": [c.to_row() for c in self.changes],
        }

    def to_row(self) -> bytes:
        """The timeline as saved (``from_row`` reads it back)."""
        return pickle.dumps(self.to_dict(), protocol=5)

    @classmethod
    def from_row(cls, row: bytes | str) -> Timeline:
        """A saved timeline: pickled, or JSON text (formats 1 and 2). Our own cache in our
        own git directory, as the replay state is (saved.py)."""
        if not isinstance(row, bytes):
            return cls.from_dict(json.loads(row))
        data = pickle.loads(row)
        # pickled as the tuples they were: nothing to convert (added_by is not kept)
        return cls.from_dict(data, {k: TrackMeta(*m) for k, m in data["tracks"].items()})

    @classmethod
    def from_dict(cls, data: dict[str, Any], tracks: dict[str, TrackMeta] | None = None
                  ) -> Timeline:
        """``to_dict`` read back (``tracks``: its tracks made already)."""
        if tracks is None:
            tup = tuple  # no generator per track: a daily run reads thousands of them
            tracks = {
                k: TrackMeta(url, name, tup(album), tup(map(tup, artists)), duration)
                for k, (url, name, album, artists, duration) in data["tracks"].items()
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
        self.loaded: dict[str, Timeline] = {}  # read from the file or made so far
        self.touched: set[str] = set()  # snapshot or follower files written since last saved
        self.recent: list[Recent] = []
        # (pid, index) -> the playlist's name, url, that change and its tracks, saved with
        # the meta row: the archive feed is drawn without loading every playlist in it.
        self.digests: dict[tuple[str, int], Timeline] = {}
        # pid -> a timeline as saved (to_row), made in another process and not read here yet
        self.rows: dict[str, bytes] = {}
        self.extra: Event | None = None  # the coming commit's event, recorded not yet committed
        # pid -> its current snapshot's (JSON, plain) blobs, saved in the meta row and
        # authoritative over its row's: a version that moved only the follower count
        # changes this, not the row (``move``; history/pending.py).
        self.sources: dict[str, tuple[str | None, str | None]] = {}
        self.head: str | None = None
        self.last_key: EventKey | None = None
        self.gens: dict[str, int] = {}
        self.full = False

    def _rows(self, pids: list[str] | None) -> Iterator[tuple[str, bytes | str]]:
        held = list(self.rows.items()) if pids is None else [
            (pid, self.rows[pid]) for pid in pids if pid in self.rows]
        yield from held
        if self.full or (pids is not None and len(held) == len(pids)):
            return  # a whole new set of timelines: the file holds nothing newer
        try:
            with closing(timeline_file.connect(self.path)) as db:
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
            if pid in self.pids and pid not in self.loaded:
                # Unreadable: not loaded, and the caller reads the history again (update).
                with suppress(*UNREADABLE):
                    timeline = Timeline.from_row(data)
                    if pid in self.sources:
                        timeline.json_blob, timeline.plain_blob = self.sources[pid]
                    self.loaded[pid] = timeline

    def preload(self, pids: Iterable[str]) -> None:
        """Read these playlists' saved timelines in one query (a connection costs)."""
        wanted = [pid for pid in pids if pid in self.pids and pid not in self.loaded]
        if wanted:
            self._load(wanted)

    def get(self, pid: str) -> Timeline | None:
        if pid not in self.loaded and pid in self.pids:
            self._load([pid])
        return self.loaded.get(pid)

    def get_or_new(self, pid: str) -> Timeline:
        found = self.get(pid)
        if found is None:
            if pid in self.pids:
                raise Stale(pid)
            found = self.loaded[pid] = Timeline(pid)
            self.pids.add(pid)
        return found

    def source_of(self, pid: str) -> tuple[str, str] | None:
        """(kind, blob) of a playlist's current snapshot, from memory or the meta row
        (None: not known without reading its row)."""
        timeline = self.loaded.get(pid)
        if timeline is None:
            if pid not in self.sources or pid in self.rows:
                return None
            timeline = Timeline(pid, json_blob=self.sources[pid][0],
                                plain_blob=self.sources[pid][1])
        return timeline.source

    def move(self, pid: str, blob: str) -> None:
        """A new JSON version that changes nothing a timeline keeps but its blob."""
        timeline = self.loaded.get(pid)
        if timeline is not None:
            timeline.json_blob = blob
            self.touched.add(pid)
        else:
            self.sources[pid] = (blob, self.sources[pid][1])

    def __iter__(self) -> Iterator[Timeline]:
        if len(self.pids) - len(self.loaded) > 1:
            self._load(None)  # one query for all of them
        for pid in sorted(self.pids):
            timeline = self.get(pid)
            if timeline is not None:
                yield timeline

    def recent_changes(self) -> list[tuple[Timeline, Change]]:
        """The latest changes of the whole archive, newest first."""
        found = []
        self.preload(r.pid for r in self.recent
                     if r.pid not in self.loaded and (r.pid, r.index) not in self.digests)
        for item in sorted(self.recent, key=lambda r: (-r.time, r.pid, -r.index)):
            digest = self.digests.get((item.pid, item.index))
            if item.pid not in self.loaded and digest is not None:
                found.append((digest, digest.changes[0]))
                continue
            timeline = self.get(item.pid)
            if timeline is not None and item.index < len(timeline.changes):
                found.append((timeline, timeline.changes[item.index]))
        return found

    def digest(self, item: Recent) -> Timeline | None:
        """A recent change with just what the archive feed shows of its playlist."""
        timeline = self.loaded.get(item.pid)
        if timeline is None:
            return self.digests.get((item.pid, item.index))
        if item.index >= len(timeline.changes):
            return None
        change = timeline.changes[item.index]
        keys = [*change.added, *change.removed]
        return Timeline(item.pid, timeline.name, timeline.url, changes=[change],
                        tracks={k: timeline.tracks[k] for k in keys if k in timeline.tracks})

    def save(self) -> None:
        """Write the playlists touched since loading and the meta row, in one transaction."""
        self.writer()()

    def writer(self) -> Callable[[], None]:
        """``save`` to do later, with what it writes as of now: a daily rebuild runs it in
        a thread (parallel.Meanwhile) while this process draws from the same timelines
        (read only: each row is made from its timeline as the rows are written)."""
        meta: dict[str, object] = {
            "format": FORMAT, "head": self.head, "gens": dict(self.gens),
            "last_key": list(self.last_key) if self.last_key else None,
            "pids": sorted(self.pids),
            "recent": [[r.time, r.pid, r.index] for r in self.recent],
        }
        sources = {pid: self.sources[pid] for pid in self.pids if pid in self.sources}
        sources.update((pid, (t.json_blob, t.plain_blob)) for pid, t in self.loaded.items()
                       if pid in self.pids)
        meta["sources"] = sources
        digests = {(r.pid, r.index): self.digest(r) for r in self.recent}
        meta["digests"] = [[pid, index, digest.to_dict()]
                           for (pid, index), digest in digests.items() if digest is not None]
        rows = [(pid, self.loaded.get(pid), self.rows.get(pid)) for pid in sorted(self.touched)
                if pid in self.loaded or pid in self.rows]
        path, full = self.path, self.full

        def fill(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT OR REPLACE INTO timelines (pid, data) VALUES (?, ?)",
                ((pid, timeline.to_row() if timeline is not None else row)
                 for pid, timeline, row in rows),
            )
            db.execute("DELETE FROM timelines WHERE pid NOT IN"
                       " (SELECT value FROM json_each(?))", (json.dumps(meta["pids"]),))
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('state', ?)",
                       (json.dumps(meta),))

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if full:  # every row new: a new file (timeline_file.py)
                timeline_file.write_whole(path, fill)
                return
            with closing(timeline_file.connect(path)) as db, db:
                fill(db)

        return write


# What reading a damaged row raises (its timeline is then read from the history again).
UNREADABLE = (ValueError, KeyError, TypeError, IndexError, AttributeError, EOFError,
              ImportError, pickle.UnpicklingError)  # ImportError: a damaged row naming a module


class Stale(Exception):
    """A saved timeline could not be read: replay everything."""


def state_path(store: Store) -> Path:
    """Where the timelines are kept: beside the history state, in the git directory."""
    return store.git_dir / "gitarchive" / "timelines.sqlite"


def load_meta(store: Store, head: pygit2.Commit) -> Timelines | None:
    """The saved timelines if they describe an ancestor of ``head``, else None."""
    path = state_path(store)
    if not path.exists():
        return None
    try:
        with closing(timeline_file.connect(path)) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
        if row is None:
            return None
        meta = json.loads(row[0])
        if meta.get("format") not in _READ:
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
        timelines.sources = {str(pid): (j, p) for pid, (j, p) in
                             (meta.get("sources") or {}).items()}
        for pid, index, data in meta.get("digests", ()):
            timelines.digests[(str(pid), int(index))] = Timeline.from_dict(data)
        return timelines
    except (OSError, ValueError, KeyError, TypeError, IndexError, pygit2.GitError,
            sqlite3.Error):
        return None


def forget(store: Store) -> None:
    """Drop the saved timelines (the next update reads the whole history)."""
    state_path(store).unlink(missing_ok=True)
