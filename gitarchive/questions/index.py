"""The query index: a SQLite cache in the git directory that answers questions fast.

``<git dir>/gitarchive/query-index.sqlite`` holds, as of one HEAD:

- ``writes``: every snapshot write (JSON or plain file) of every playlist, with the
  commit's time, generation and id (history.events' event key) and the new blob —
  the date index behind ``show --at``, ``diff`` and ``log``;
- ``playlists`` and ``tracks``: the replay state of history/sync.py (per playlist and
  track: first/last seen, removal, stints, presence) flattened into rows, with a
  normalised text column for ``search``.

It is derived data. A query whose HEAD matches the index reads it directly (no git
walk, no state load). When HEAD moved, history.sync.sync brings the replay state up to
date incrementally, the state is saved for the next ``rebuild``, only the new
commits' writes are added, and the track rows are replaced. A missing, foreign or
outdated index (rewritten history) is rebuilt from scratch.
"""

from __future__ import annotations

import hashlib
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from gitarchive import heal
from gitarchive.progress import ProgressFn, no_progress

if TYPE_CHECKING:  # pygit2 and the history code load only when HEAD moved (see _update):
    import pygit2  # a question answered from a current index needs neither

    from gitarchive.git.store import Store
    from gitarchive.history.events import Event
    from gitarchive.history.state import HistoryState, PlaylistHistory
    from gitarchive.history.sync import Synced

# 3: placeholders (empty files) are no snapshot (real); added_by column (login);
# 4: both of those together
FORMAT = "gitarchive-query/4"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE writes (
    pid TEXT NOT NULL, time INTEGER NOT NULL, gen INTEGER NOT NULL, oid TEXT NOT NULL,
    kind TEXT NOT NULL, blob TEXT,
    PRIMARY KEY (pid, time, gen, oid, kind)
) WITHOUT ROWID;
CREATE TABLE playlists (
    pid TEXT PRIMARY KEY, name TEXT NOT NULL, url TEXT NOT NULL, description TEXT NOT NULL,
    first_run INTEGER, last_run INTEGER, digest TEXT NOT NULL
);
-- last_seen is that of tracks no longer present; present ones were seen at last_run.
CREATE TABLE tracks (
    pid TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, artists TEXT NOT NULL,
    album TEXT NOT NULL, url TEXT NOT NULL, first_seen INTEGER, last_seen INTEGER,
    removed INTEGER, stints INTEGER NOT NULL, present INTEGER NOT NULL, added_by TEXT,
    haystack TEXT NOT NULL,
    PRIMARY KEY (pid, key)
) WITHOUT ROWID;
"""


def fold(text: str) -> str:
    """Case- and accent-insensitive form: NFKD, casefold, combining marks dropped.

    "Beyoncé" and "BEYONCE" both fold to "beyonce", so a search typed without
    accents finds the accented names Spotify stores.
    """
    if text.isascii():  # most names: NFKD changes nothing, casefold is lower, no marks
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class Write:
    """One snapshot file written at one commit (blob None: the file was deleted)."""

    time: int
    gen: int
    oid: str
    kind: str  # history.events.KIND_JSON or KIND_PLAIN
    blob: str | None


@dataclass(frozen=True)
class PlaylistRow:
    pid: str
    name: str
    url: str
    description: str
    first_run: int | None
    last_run: int | None


class TrackRow(NamedTuple):
    """One track of one playlist with its dates (epoch seconds) from the replay state.

    A named tuple: ``search`` may return tens of thousands (fast to build).
    """

    playlist: str  # the playlist's name in its latest snapshot
    pid: str
    key: str
    name: str
    artists: str
    album: str
    first_seen: int | None
    last_seen: int | None
    removed: int | None
    present: int  # 1 while still there, else 0 (as SQLite gives it)
    added_by: str | None = None  # who added it (latest snapshot that says so)


def index_path(store: Store) -> Path:
    return index_file(store.git_dir)


def index_file(git_dir: Path) -> Path:
    """Where the query index of a repository is kept (a question may know no Store)."""
    return git_dir / "gitarchive" / "query-index.sqlite"


class QueryIndex:
    """Read access to an up-to-date index (see ``open_index``)."""

    def __init__(self, db: sqlite3.Connection, head: str | None) -> None:
        self.db = db
        self.head = head

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> QueryIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def writes(self, pid: str, until: int | None = None) -> list[Write]:
        """The playlist's snapshot writes in history order, up to time ``until`` inclusive."""
        sql = "SELECT time, gen, oid, kind, blob FROM writes WHERE pid = ?"
        args: list[object] = [pid]
        if until is not None:
            sql += " AND time <= ?"
            args.append(until)
        return [Write(*row) for row in self.db.execute(sql + " ORDER BY time, gen, oid", args)]

    def latest_writes(self, pid: str, until: int) -> dict[str, Write]:
        """The last JSON and last plain write at or before ``until``: kind -> write."""
        from gitarchive.history.events import KIND_JSON, KIND_PLAIN  # show and diff: pygit2 too

        found = {}
        for kind in (KIND_JSON, KIND_PLAIN):
            row = self.db.execute(
                "SELECT time, gen, oid, kind, blob FROM writes WHERE pid = ? AND kind = ?"
                " AND time <= ? ORDER BY time DESC, gen DESC, oid DESC LIMIT 1",
                (pid, kind, until),
            ).fetchone()
            if row is not None:
                found[kind] = Write(*row)
        return found

    def first_write_time(self, pid: str) -> int | None:
        """When the playlist's first snapshot was written (placeholders are none)."""
        row = self.db.execute(
            "SELECT min(time) FROM writes WHERE pid = ? AND blob IS NOT NULL", (pid,)
        ).fetchone()
        first: int | None = row[0]
        return first

    def write_pids(self) -> set[str]:
        """Every playlist that ever had a snapshot file."""
        return {row[0] for row in self.db.execute("SELECT DISTINCT pid FROM writes")}

    def playlists(self) -> dict[str, PlaylistRow]:
        rows = self.db.execute(
            "SELECT pid, name, url, description, first_run, last_run FROM playlists"
        )
        return {row[0]: PlaylistRow(*row) for row in rows}

    def search(self, text: str, pids: Iterable[str] | None = None) -> list[TrackRow]:
        """Tracks whose title, artists or album contain ``text`` (folded), any playlist."""
        sql = (
            "SELECT p.name, t.pid, t.key, t.name, t.artists, t.album, t.first_seen,"
            " CASE WHEN t.present THEN p.last_run ELSE t.last_seen END, t.removed,"
            " t.present, t.added_by FROM tracks t JOIN playlists p ON p.pid = t.pid"
            " WHERE instr(t.haystack, ?) > 0"
        )
        args: list[object] = [fold(text)]
        if pids is not None:
            wanted = sorted(set(pids))
            sql += f" AND t.pid IN ({', '.join('?' * len(wanted))})"
            args.extend(wanted)
        # the tracks query gives TrackRow's fields in order (a common word finds tens of
        # thousands of tracks: each row made by TrackRow._make, not unpacked and built again)
        return list(map(TrackRow._make, self.db.execute(sql, args)))


def open_index(
    store: Store, *, progress: ProgressFn = no_progress, synced: Synced | None = None
) -> QueryIndex:
    """The index as of HEAD, brought up to date first (only new commits are read).

    ``synced``: the replay state a rebuild just made (as of HEAD, or of HEAD's parent
    when HEAD is the rebuild's own commit, which writes no snapshot): the index is
    built from it, with no second replay and no reading of the saved state.
    Checked and built under a lock (parallel first questions); a damaged file is
    thrown away and built again (heal).
    """
    path = index_path(store)
    heal.cache_dir(path.parent)
    with heal.building(path):
        if heal.truncated(path):
            heal.discard_database(path, "shorter than its header says")
        try:
            return _open_index(store, path, progress, synced)
        except sqlite3.DatabaseError as exc:
            heal.discard_database(path, exc)
            return _open_index(store, path, progress, synced)


def _open_index(
    store: Store, path: Path, progress: ProgressFn, synced: Synced | None
) -> QueryIndex:
    head = store.head()
    head_hex = str(head.id) if head is not None else None
    db = connect(path)
    try:
        if _meta(db, "format") != FORMAT:
            db.close()
            heal.discard_database(path)
            db = connect(path)
            db.executescript(_SCHEMA)
            _set_meta(db, "format", FORMAT)
            db.commit()
        indexed = _meta(db, "head")
        if head is not None and indexed != head_hex:
            _update(store, db, head, indexed, progress, synced)
        elif head is None and indexed is not None:
            _clear(db)
            db.commit()
    except BaseException:
        db.close()
        raise
    return QueryIndex(db, head_hex)


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the index file at ``path`` (created when missing)."""
    db = sqlite3.connect(path, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    # Read through a memory map, not a copy of each page: ``search`` scans every track.
    db.execute("PRAGMA mmap_size=268435456")
    return db


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    try:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def _set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def _clear(db: sqlite3.Connection) -> None:
    for table in ("writes", "playlists", "tracks"):
        db.execute(f"DELETE FROM {table}")
    db.execute("DELETE FROM meta WHERE key = 'head'")


def _update(
    store: Store,
    db: sqlite3.Connection,
    head: pygit2.Commit,
    indexed: str | None,
    progress: ProgressFn,
    given: Synced | None = None,
) -> None:
    """Sync the replay state, add the new commits' writes, replace the track rows."""
    # Only when HEAD moved: a warm question needs none of the history code.
    from gitarchive.history.events import walk_events
    from gitarchive.history.sync import save_state, sync

    if given is not None and _describes(store, given, head):
        synced = given
    else:
        synced = sync(store, progress=progress)
        if synced.full:  # an incremental sync read a few commits: cheaper to read them again
            save_state(store, synced)
    stop = _ancestor_or_none(store, indexed, head)
    if stop is None and synced is given and synced.full:
        writes = _event_writes(synced.walked)  # the whole history, just walked by the replay
    else:
        writes = _event_writes(walk_events(store.repo, head.id, stop, dict(synced.gens)))
    with db:
        if stop is None:
            _clear(db)
        db.executemany(
            "INSERT OR REPLACE INTO writes (pid, time, gen, oid, kind, blob)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            writes,
        )
        _replace_state_rows(db, synced.state)
        _set_meta(db, "head", str(head.id))


def _describes(store: Store, synced: Synced, head: pygit2.Commit) -> bool:
    """Whether ``synced`` is the state as of ``head``: its own, or its parent's when
    ``head`` wrote no snapshot (a rebuild's commit of the cumulative files)."""
    if synced.head is None:
        return False
    if synced.head.id == head.id:
        return True
    from gitarchive.history.events import EventReader

    return (list(head.parent_ids) == [synced.head.id]
            and EventReader(store.repo).event(head, 0) is None)


def _ancestor_or_none(store: Store, indexed: str | None, head: pygit2.Commit) -> pygit2.Oid | None:
    """The indexed commit when HEAD descends from it (incremental update), else None."""
    import pygit2

    if indexed is None:
        return None
    try:
        old = pygit2.Oid(hex=indexed)
        if old not in store.repo:
            return None
        return old if old == head.id or store.repo.descendant_of(head.id, old) else None
    except (ValueError, pygit2.GitError):
        return None


def _event_writes(events: Iterable[Event]) -> Iterator[tuple[str, int, int, str, str, str | None]]:
    """The rows of the writes table: each snapshot file written (or deleted) by a commit."""
    from gitarchive.history.events import KIND_JSON, KIND_PLAIN

    for event in events:
        for write in event.writes:
            if write.kind in (KIND_JSON, KIND_PLAIN):
                yield (write.pid, event.time, event.gen, event.oid, write.kind, write.blob)


def _replace_state_rows(db: sqlite3.Connection, state: HistoryState) -> None:
    """Make the playlist and track rows match the state, rewriting only changed playlists.

    Each playlist's rows carry a digest; a daily run changes a few playlists' tracks
    (and every playlist's last_run, kept on the playlist row), so most are skipped.
    """
    old = dict(db.execute("SELECT pid, digest FROM playlists"))
    for pid in old.keys() - state.playlists.keys():
        db.execute("DELETE FROM playlists WHERE pid = ?", (pid,))
        db.execute("DELETE FROM tracks WHERE pid = ?", (pid,))
    for p in state.playlists.values():
        rows = list(_track_rows(p))
        digest = hashlib.blake2b(repr(rows).encode(), digest_size=16).hexdigest()
        db.execute(
            "INSERT OR REPLACE INTO playlists VALUES (?, ?, ?, ?, ?, ?, ?)",
            (p.pid, p.name, p.url, p.description, p.first_run, p.last_run, digest),
        )
        if old.get(p.pid) == digest:
            continue
        db.execute("DELETE FROM tracks WHERE pid = ?", (p.pid,))
        db.executemany(
            "INSERT INTO tracks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((*row, fold(f"{row[2]}\n{row[3]}\n{row[4]}")) for row in rows),
        )


def _track_rows(p: PlaylistHistory) -> Iterator[tuple[object, ...]]:
    """A playlist's observed tracks as rows (without the folded text, derived from them)."""
    for key, t in p.tracks.items():
        if t.first_seen is None:
            continue  # in a snapshot never observed (unregistered): not in the history
        yield (
            p.pid, key, t.meta.name, ", ".join(name for name, _ in t.meta.artists),
            t.meta.album[0], t.meta.url, t.first_seen,
            None if t.present else t.last_seen, None if t.present else t.removed,
            t.stints, int(t.present), t.meta.added_by,
        )
