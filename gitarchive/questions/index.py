"""The query index: a SQLite cache in the git directory that answers questions fast.

``<git dir>/gitarchive/query-index.sqlite`` holds, as of one HEAD:

- ``writes``: every snapshot write (JSON or plain file) of every playlist, with the
  commit's time, generation and id (history.events' event key) and the new blob —
  the date index behind ``show --at``, ``diff`` and ``log``;
- ``playlists`` and ``tracks``: the replay state of history/sync.py (per playlist and
  track: first/last seen, removal, presence), one row per playlist in each: its tracks
  marshalled together with a normalised text per track for ``search``. A playlist's
  tracks are stored in the order ``search`` shows them (title as ``str.lower`` gives
  it, then key), so a search sorts no track.

It is derived data, written by indexing.py (``open_index``); this module only reads
it, so a question answered from a current index (current.py) loads no writing code.
"""

# No ``from __future__ import annotations`` here: with it, each field of the named tuples
# below is compiled from its string when the class is made (typing.ForwardRef), 22 small
# compilations in every question's start-up. The annotations are plain expressions.
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable
from marshal import loads
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, cast

if TYPE_CHECKING:
    from gitarchive.git.store import Store

# 3: placeholders (empty files) are no snapshot (real); added_by column (login);
# 4: both of those together; 5: tracks stored in search's order, no url or stints;
# 6: one tracks row per playlist, not per track
FORMAT = "gitarchive-query/6"
SEPARATOR = "\x00"  # between two tracks' texts in a haystack (never inside one: _haystack)

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
-- One row per playlist, not per track: a full rebuild writes tens of thousands of
-- tracks, and SQLite inserts a row in ~5 us; a playlist's tracks in one value are one
-- insert. rows: marshal.dumps([(key, name, artists, album, first_seen, last_seen, removed,
-- present, added_by), ...], 2) in search's order (the title as str.lower gives it, then
-- key); last_seen and removed only for tracks no longer present (present ones were seen
-- at the playlist's last_run). haystack: what search looks in (fold), each track's text
-- in the same order, joined by SEPARATOR: instr() finds the playlists a search needs.
CREATE TABLE tracks (pid TEXT PRIMARY KEY, haystack TEXT NOT NULL, rows BLOB NOT NULL);
"""


def schema() -> str:
    """The tables of a new index (indexing.py creates them)."""
    return _SCHEMA


def fold(text: str) -> str:
    """Case- and accent-insensitive form: NFKD, casefold, combining marks dropped.

    "Beyoncé" and "BEYONCE" both fold to "beyonce", so a search typed without
    accents finds the accented names Spotify stores.
    """
    if text.isascii():  # most names: NFKD changes nothing, casefold is lower, no marks
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class Write(NamedTuple):
    """One snapshot file written at one commit (blob None: the file was deleted)."""

    time: int
    gen: int
    oid: str
    kind: str  # history.events.KIND_JSON or KIND_PLAIN
    blob: str | None


class PlaylistRow(NamedTuple):
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
    present: int  # 1 while still there, else 0
    added_by: str | None = None  # who added it (latest snapshot that says so)
    deleted: int | None = None  # when the playlist's snapshot was deleted (present: 0)


Track = tuple[object, ...]  # one track as the tracks table holds it (see _SCHEMA)

# TrackRow(...) runs Python code for each row; tuple.__new__ makes the same tuple in C.
_new_row = cast("Callable[[type[TrackRow], tuple[object, ...]], TrackRow]", tuple.__new__)


def index_path(store: "Store") -> Path:
    return index_file(store.git_dir)


def index_file(git_dir: Path) -> Path:
    """Where the query index of a repository is kept (a question may know no Store)."""
    return git_dir / "gitarchive" / "query-index.sqlite"


class QueryIndex:
    """Read access to an up-to-date index (see indexing.open_index)."""

    def __init__(self, db: sqlite3.Connection, head: str | None) -> None:
        self.db = db
        self.head = head

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "QueryIndex":
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

    def deleted(self, pids: Iterable[str]) -> dict[str, int]:
        """Which of ``pids`` have no snapshot file now, and since when: the replay keeps
        their last tracks as present (last seen), but a question must not say "still
        there" of a playlist the archive no longer holds."""
        # Only a playlist with a deletion among its writes can be gone (a few): ranking
        # every playlist's writes cost a search for a common word ~55 ms (1,000 x 365).
        ever = {pid for pid, in self.db.execute(
            "SELECT DISTINCT pid FROM writes WHERE blob IS NULL")}
        wanted = sorted(ever.intersection(pids))
        if not wanted:
            return {}
        latest = self.db.execute(  # each kind's last write; a playlist is gone when none has a blob
            "SELECT pid, max(time), count(blob) FROM (SELECT pid, time, blob, row_number() OVER"
            " (PARTITION BY pid, kind ORDER BY time DESC, gen DESC, oid DESC) AS n FROM writes"
            f" WHERE pid IN ({', '.join('?' * len(wanted))})) WHERE n = 1 GROUP BY pid", wanted)
        return {pid: int(when) for pid, when, live in latest if not live}

    def search(self, text: str, pids: Iterable[str] | None = None) -> list[TrackRow]:
        """Tracks whose title, artists or album contain ``text`` (folded), any playlist:
        by playlist (name in any case, then ID), then title (any case), then key."""
        needle = fold(text)
        sql = "SELECT pid, haystack, rows FROM tracks WHERE instr(haystack, ?) > 0"
        args: list[object] = [needle]
        if pids is not None:
            wanted = sorted(set(pids))
            sql += f" AND pid IN ({', '.join('?' * len(wanted))})"
            args.extend(wanted)
        names = {pid: (name, last_run) for pid, name, last_run
                 in self.db.execute("SELECT pid, name, last_run FROM playlists")}
        try:
            groups = [(names[pid][0].lower(), pid, _found(needle, haystack, loads(rows)))
                      for pid, haystack, rows in self.db.execute(sql, args) if pid in names]
            groups.sort(key=itemgetter(0, 1))  # playlists: a few hundred, not every track
            deleted = self.deleted({pid for _, pid, _ in groups})
            hits: list[TrackRow] = []
            for _, pid, tracks in groups:
                playlist, last_run = names[pid]
                gone = deleted.get(pid)
                hits += [  # a common word finds tens of thousands: one pass, in C mostly
                    _new_row(TrackRow, (playlist, pid, key, name, artists, album, first,
                                        last_run if present else last, removed,
                                        present if gone is None else 0, by,
                                        gone if present else None))
                    for key, name, artists, album, first, last, removed, present, by in tracks
                ]
        except (ValueError, TypeError, EOFError) as exc:  # not the rows indexing.py writes
            raise sqlite3.DatabaseError(f"a damaged track row ({exc})") from exc
        return hits


def _found(needle: str, haystack: str, tracks: list[Track]) -> list[Track]:
    """The tracks of one playlist whose own text holds ``needle`` (not one that spans two
    of them); as many texts as tracks, or ValueError (a damaged row)."""
    texts = haystack.split(SEPARATOR) if haystack or tracks else []  # no track: ""
    return [track for track, own in zip(tracks, texts, strict=True) if needle in own]


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the index file at ``path`` (created when missing)."""
    db = sqlite3.connect(path, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    # Read through a memory map, not a copy of each page: ``search`` scans every track.
    db.execute("PRAGMA mmap_size=268435456")
    return db


def meta(db: sqlite3.Connection, key: str) -> str | None:
    """A value of the meta table (None: absent, or no index there at all)."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None
