"""Writing the query index (index.py): brought up to HEAD, or built afresh beside it.

- Incremental, when HEAD descends from the indexed commit: history.sync brings the
  replay state up to date (only new commits read), the state is saved for the next
  ``rebuild``, only the new commits' writes are added, and the track rows of the
  playlists whose rows changed are replaced (each playlist's rows carry a digest).
- Fresh, when there is no index, one of another format, or a rewritten history:
  every row goes into a new file beside the index (no journal, no syncs, each table
  filled in key order, so its pages are written once and in order), flushed to disk and
  then renamed over the index. A build killed midway leaves that new file unfinished
  and unnamed (the next build removes it): the index is the old one or the whole new
  one, never part of either.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from marshal import dumps
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, cast

from gitarchive import heal
from gitarchive.atomicfile import flush
from gitarchive.errors import StoreError
from gitarchive.progress import ProgressFn, no_progress
from gitarchive.questions.index import (
    FORMAT,
    SEPARATOR,
    QueryIndex,
    connect,
    fold,
    index_path,
    meta,
    schema,
)

if TYPE_CHECKING:  # pygit2 and the history code load only when HEAD moved
    import pygit2

    from gitarchive.git.store import Store
    from gitarchive.history.events import Event
    from gitarchive.history.state import HistoryState, PlaylistHistory
    from gitarchive.history.sync import Synced

WriteRow = tuple[str, int, int, str, str, str | None]  # pid, time, gen, oid, kind, blob
_WRITE_KEY = itemgetter(0, 1, 2, 3, 4)  # the writes table's primary key
_TRACK_KEY = itemgetter(0, 1)  # search's order of a playlist's tracks (sort, key)
_FIRST = itemgetter(0)  # an artist's name, of (name, url); a playlist's row, of state_rows
_SECOND = itemgetter(1)  # its tracks' row, of state_rows
_TracksRow = tuple[str, str, bytes]  # pid, haystack, rows (the tracks, marshalled)
_INSERT_WRITE = "INSERT OR REPLACE INTO writes VALUES (?, ?, ?, ?, ?, ?)"
_INSERT_TRACKS = "INSERT OR REPLACE INTO tracks VALUES (?, ?, ?)"
_INSERT_PLAYLIST = "INSERT OR REPLACE INTO playlists VALUES (?, ?, ?, ?, ?, ?, ?)"
NEW_SUFFIX = ".new"  # the file a fresh build writes before it is renamed over the index
BEGUN = ".writes-"  # + a process id: an index begun by a rebuild's forked half (Rows)


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
        _discard_orphans(path)
        if heal.truncated(path):
            heal.discard_database(path, "shorter than its header says")
        try:
            return _open_index(store, path, progress, synced)
        except sqlite3.DatabaseError as exc:
            heal.discard_database(path, exc)
            return _open_index(store, path, progress, synced)
        finally:
            left = synced.prepared() if synced is not None and synced.prepared else None
            if left:  # not built from it: not wanted
                heal.discard_database(Path(left))


def _open_index(
    store: Store, path: Path, progress: ProgressFn, synced: Synced | None
) -> QueryIndex:
    head = store.head()
    head_hex = str(head.id) if head is not None else None
    db = connect(path)
    try:
        ours = meta(db, "format") == FORMAT
        indexed = meta(db, "head") if ours else None
        if head is None and (indexed is not None or not ours):
            db.close()
            build(path, (), None, None)  # an empty index for an empty repository
            db = connect(path)
        elif head is not None and indexed != head_hex:
            stop = _ancestor_or_none(store, indexed, head)
            if stop is None:
                db.close()
                _build_fresh(store, path, head, progress, synced)
                db = connect(path)
            else:
                _update(store, db, head, stop, progress, synced)
    except BaseException:
        db.close()
        raise
    return QueryIndex(db, head_hex)


def _discard_orphans(path: Path) -> None:
    """The index files begun by rebuilds that were stopped or killed (their process gone):
    only a whole build cleared them, so a daily run's archive kept them for good."""
    for left in path.parent.glob(path.name + BEGUN + "*"):
        pid = left.name.rpartition(BEGUN)[2]
        if pid.isdigit() and not _alive(int(pid)):
            heal.discard_database(left)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's: alive
        return True
    return True


def _synced(store: Store, head: pygit2.Commit, progress: ProgressFn,
            given: Synced | None) -> Synced:
    """The replay state as of ``head``: the one given, else synced (and saved when the
    sync replayed everything: an incremental one read a few commits, cheap to read again)."""
    from gitarchive.history.sync import save_state, sync

    if given is not None and _describes(store, given, head):
        return given
    synced = sync(store, progress=progress)
    if synced.full:
        save_state(store, synced)
    return synced


def _build_fresh(store: Store, path: Path, head: pygit2.Commit, progress: ProgressFn,
                 given: Synced | None) -> None:
    """Every row as of ``head``, written into a new file renamed over ``path``."""
    from gitarchive.history.events import walk_events

    synced = _synced(store, head, progress, given)
    begun = None
    if synced.full:  # the whole history, just walked by the replay (a rebuild's or ours)
        writes = _event_writes(synced.walked)
        made = synced.prepared() if synced.prepared else None  # from the same events
        begun = Path(made) if made else None
    else:
        writes = _event_writes(walk_events(store.repo, head.id, None, dict(synced.gens)))
    build(path, writes, synced.state, str(head.id), synced.extra, begun)


def _update(store: Store, db: sqlite3.Connection, head: pygit2.Commit, stop: pygit2.Oid,
            progress: ProgressFn, given: Synced | None) -> None:
    """Sync the replay state, add the new commits' writes, replace the changed track rows."""
    from gitarchive.history.events import walk_events

    synced = _synced(store, head, progress, given)
    writes = _event_writes(walk_events(store.repo, head.id, stop, dict(synced.gens)))
    with db:
        db.executemany(_INSERT_WRITE, writes)
        _replace_state_rows(db, synced.state)
        _set_meta(db, "head", str(head.id))


def build(path: Path, writes: Iterable[WriteRow], state: HistoryState | None,
          head: str | None, known: Mapping[str, object] | None = None,
          begun: Path | None = None) -> None:
    """A whole index (the ``writes``, the ``state``'s rows, as of commit ``head``) written
    into a new file and renamed over ``path`` once it is complete and on disk; ``begun``:
    a file holding the ``writes`` already (``Rows.prepare``), gone on with if still there."""
    new = path.with_name(path.name + NEW_SUFFIX)
    heal.discard_database(new)  # what a killed build left
    if begun is not None:
        try:
            os.replace(begun, new)
        except OSError:  # removed since (a build beside it): the writes are written here
            begun = None
    for left in path.parent.glob(path.name + BEGUN + "*"):  # by killed rebuilds
        heal.discard_database(left)
    try:
        _write_fresh(new, () if begun is not None else writes, state, head, known or {},
                     begun=begun is not None)
        heal.put_in_place(new, path)
    except (sqlite3.Error, OSError) as exc:
        # Not damage to the index (open_index would throw it away and build again, twice
        # the work, on a disk that is full): a clear error, and the partial file gone.
        heal.discard_database(new)
        raise StoreError(f"could not write the query index {new.name} ({exc}); the archive "
                         "itself is unchanged") from exc


def _write_fresh(new: Path, writes: Iterable[WriteRow], state: HistoryState | None,
                 head: str | None, known: Mapping[str, object], begun: bool = False) -> None:
    db = _opened(new, begun)
    try:
        if not begun:
            _begin(db, writes)
        if state is not None:
            _insert_state_rows(db, state, known)
        if head is not None:
            _set_meta(db, "head", head)
        db.execute("COMMIT")
        db.execute("PRAGMA journal_mode=WAL")  # as connect() would: readers beside a writer
    finally:
        db.close()


# A new index file's: its pages 8192 bytes (fewer to fill and to scan than 4096), its tables.
_SETUP = ("PRAGMA page_size=8192", schema())


def _opened(new: Path, begun: bool) -> sqlite3.Connection:
    """A new index file, in a transaction (``begun``: its tables and writes are there)."""
    return heal.unjournaled(new, () if begun else _SETUP)


def _begin(db: sqlite3.Connection, writes: Iterable[WriteRow]) -> None:
    """What every fresh index holds first: its format and the writes, in key order."""
    _set_meta(db, "format", FORMAT)
    db.executemany(_INSERT_WRITE, sorted(writes, key=_WRITE_KEY))


class Rows:
    """What a rebuild makes for the index (history.pieces.IndexRows): each playlist's rows
    (``state_rows``), and the index's start (``prepare``), in a whole replay's forked half."""

    def __call__(self, p: PlaylistHistory) -> object:
        return state_rows(p)

    def begun_at(self, store: Store) -> str:
        """Where ``prepare`` begins the index: beside it, named for this process."""
        path = index_path(store)
        return str(path.with_name(f"{path.name}{BEGUN}{os.getpid()}"))

    def prepare(self, store: Store, events: Sequence[Event], path: str) -> None:
        """A new index file at ``path`` holding the writes of ``events`` (``build``'s
        ``begun``); none if it could not be written (the build writes them then)."""
        begun = Path(path)
        try:
            heal.cache_dir(begun.parent)
            heal.written_whole(begun, _SETUP, lambda db: _begin(db, _event_writes(events)))
            flush(begun)  # on disk now: the build's own flush then waits for its pages only
        except (sqlite3.Error, OSError):
            heal.discard_database(begun)


def _set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


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


def _event_writes(events: Iterable[Event]) -> Iterator[WriteRow]:
    """The rows of the writes table: each snapshot file written (or deleted) by a commit."""
    from gitarchive.history.events import KIND_JSON, KIND_PLAIN

    for event in events:
        for write in event.writes:
            if write.kind in (KIND_JSON, KIND_PLAIN):
                yield (write.pid, event.time, event.gen, event.oid, write.kind, write.blob)


def _insert_state_rows(db: sqlite3.Connection, state: HistoryState,
                       known: Mapping[str, object]) -> None:
    """Every playlist's rows into empty tables, in primary-key order; ``known``: pid ->
    its ``state_rows``, made already (a split replay's forked half makes its own
    playlists', which then stay on disk here)."""
    made = [cast(_StateRows, known[pid]) if pid in known else state_rows(state.playlists[pid])
            for pid in sorted(state.playlists)]
    db.executemany(_INSERT_PLAYLIST, map(_FIRST, made))
    db.executemany(_INSERT_TRACKS, map(_SECOND, made))


_StateRows = tuple[tuple[object, ...], "_TracksRow"]


def state_rows(p: PlaylistHistory) -> _StateRows:
    """A playlist's row and the row of its tracks in the index."""
    tracks = _tracks_row(p)
    return _playlist_row(p, _digest(tracks)), tracks


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
        row, tracks = state_rows(p)
        db.execute(_INSERT_PLAYLIST, row)
        if old.get(p.pid) != row[-1]:  # the digest of its tracks' row
            db.execute(_INSERT_TRACKS, tracks)


def _playlist_row(p: PlaylistHistory, digest: str) -> tuple[object, ...]:
    return (p.pid, p.name, p.url, p.description, p.first_run, p.last_run, digest)


def _digest(tracks: _TracksRow) -> str:
    """What a playlist's tracks row holds, in 16 bytes (equal rows, equal digests); the
    haystack is made from the same tracks."""
    return heal.blake2b(tracks[2], digest_size=16).hexdigest()


def _tracks_row(p: PlaylistHistory) -> _TracksRow:
    """The tracks table's row of a playlist: pid, haystack (each track's folded text, in
    search's order: the title as ``str.lower`` gives it, then key) and the tracks (key,
    name, artists, album, first seen, last seen and removed when gone, present, added
    by), marshalled in the same order.

    marshal's version 2 writes values only (no references to objects seen before), so
    equal tracks give equal rows however the state was made (replayed or loaded). One
    loop, no function called per track but in C: a rebuild makes tens of thousands.
    """
    made: list[tuple[str, str, str, tuple[object, ...]]] = []
    for key, t in p.tracks.items():
        if t.first_seen is None:
            continue  # in a snapshot never observed (unregistered): not in the history
        meta_ = t.meta
        name = meta_.name
        artists = ", ".join(map(_FIRST, meta_.artists))
        text = f"{name}\n{artists}\n{meta_.album[0]}"
        gone = not t.present
        track = (key, name, artists, meta_.album[0], t.first_seen, t.last_seen if gone else None,
                 t.removed if gone else None, int(t.present), meta_.added_by)
        made.append((name.lower(), key, text.lower() if text.isascii() else fold(text), track))
    made.sort(key=_TRACK_KEY)
    texts = [entry[2] for entry in made]
    haystack = SEPARATOR.join(texts)
    if haystack.count(SEPARATOR) != max(len(texts) - 1, 0):  # a name holding one: hostile
        haystack = SEPARATOR.join(text.replace(SEPARATOR, " ") for text in texts)
    return p.pid, haystack, dumps([entry[3] for entry in made], 2)
