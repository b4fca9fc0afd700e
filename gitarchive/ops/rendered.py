"""What the last fetch rendered, so that the next renders only what changed.

On a typical day most playlists have exactly yesterday's tracks and only their header
moves (the follower count, now and then the description or snapshot id). The rows of
a pretty markdown file's table depend on the tracks alone, and the plain file on the
tracks, the name, the description and the final-newline setting; rendering 100 rows
again for each of 1,000 playlists was most of a typical day's rendering. So a run
takes the rows, and whole plain files, from the files the last run wrote.

Why the result is always byte for byte a fresh render:

* Each run keeps, in ``<git dir>/gitarchive/rendered.json`` (replaced atomically), per
  playlist it rendered: the blob ids of the pretty markdown, plain and JSON files it
  wrote, the byte span of the table's rows in the markdown file, a fingerprint of the
  tracks it rendered and a key of every input of the plain file. The record's header
  holds a fingerprint of the renderer (the source of the modules and templates that
  render, the Python, Unicode and jinja2 versions) and of the settings it rendered with
  (githistory base, final newline): under another header no entry is used. A checksum
  over the record catches a damaged file: then, like a missing one, it is not used.
* A blob id names a content, so "blob B holds at bytes [a, b) the rows rendered for
  tracks with fingerprint F" is a fact about B, wherever B is found. A run uses an entry
  only for a file whose blob id in HEAD is the recorded one, and only when today's
  tracks have the recorded fingerprint: the rows it takes from B are then exactly the
  rows a fresh render writes. Whatever else HEAD holds (a file of another tool or of an
  older gitarchive, a hand edit, the files of a run killed before its commit) has
  another blob id and is rendered afresh.
* The fingerprint is SHA-1 over every field of every track (all the JSON holds, so all
  the rows and plain lines use), the texts joined by NUL once checked to hold none, each
  artist count and each absent value marked: an encoding from which the tracks could be
  read back, hashed as git hashes its blobs (a collision would fool git itself).
* The page is put together by the same template either way: it writes each row and a
  newline, and given the old rows as one text it writes the same bytes
  (``render.pretty_md``'s ``rows_text``; a property test holds them equal).

Anything else (no record, an unreadable one, another header, another blob, other
tracks) is the fresh render. The record holds ids, spans and hashes: no names, no
settings in clear, no secret.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2

from gitarchive import safejson
from gitarchive.archive import layout
from gitarchive.archive.model import Playlist, Track
from gitarchive.archive.model import tracks_print as tracks_print
from gitarchive.atomicfile import write_atomic
from gitarchive.git import worktree
from gitarchive.git.store import Store, TreeReader, process_repository

FORMAT = 2
NAME = "rendered.json"

# The sources whose code decides the bytes of the files a record describes (and the print).
_SOURCES = (
    ("archive", "render.py"), ("archive", "model.py"), ("archive", "settings.py"),
    ("archive", "templates/pretty.md.j2"), ("archive", "templates/plain.j2"),
    ("ops", "snapfiles.py"), ("ops", "rendered.py"),
)


Span = tuple[int, int]  # [start, end) in a file's bytes


@dataclass(frozen=True)
class Entry:
    """What a run rendered of one playlist (blob ids in hex)."""

    tracks: str  # tracks_print of the tracks rendered
    md: str  # the pretty markdown file
    rows: Span  # where its table's rows are
    plain: str  # the plain file
    plain_key: str  # plain_key of its inputs
    json: str  # the JSON snapshot
    json_tracks: Span  # where its tracks are

    def fields(self) -> list[Any]:
        return [self.tracks, self.md, list(self.rows), self.plain, self.plain_key, self.json,
                list(self.json_tracks)]


@dataclass(frozen=True)
class Reuse:
    """What one playlist's render may take from the last run's files (tracks the same)."""

    rows: str | None  # the table's rows (None: they could not be read)
    tracks_json: str | None  # the JSON snapshot's tracks (None: could not be read)
    plain: str | None  # blob id of the plain file when it is unchanged, else None
    same_tracks: bool  # HEAD's JSON snapshot holds these very tracks
    # HEAD's JSON snapshot (same_tracks): its blob id and bytes, as read for its tracks
    snapshot: tuple[str, bytes] | None = None


def plain_key(snapshot: Playlist, tracks: str) -> str:
    """A key of every input of the plain file but the settings (those are the header's)."""
    inputs = json.dumps([snapshot.name, snapshot.description, tracks])
    return hashlib.sha1(inputs.encode()).hexdigest()


@functools.cache
def renderer_print() -> str | None:
    """A fingerprint of the code that renders (None if a source cannot be read)."""
    import jinja2

    digest = hashlib.sha1(f"{FORMAT} {sys.version} {unicodedata.unidata_version} "
                          f"{jinja2.__version__}".encode())
    root = Path(__file__).resolve().parent.parent
    try:
        for package, name in _SOURCES:
            digest.update((root / package / name).read_bytes())
    except OSError:
        return None
    return digest.hexdigest()


def header(githistory_base: str | None, newline: bool) -> str | None:
    """The record's header for these settings (hashed: the base URL is not kept in clear)."""
    renderer = renderer_print()
    if renderer is None:
        return None
    settings = json.dumps([renderer, githistory_base, newline])
    return hashlib.sha1(settings.encode()).hexdigest()


def path(store: Store) -> Path:
    return store.git_dir / "gitarchive" / NAME


class Last:
    """The last run's record as it applies to HEAD: what each playlist's render may reuse.

    Every check against HEAD is made here, in the process that starts the run (HEAD's
    directories are listed once); a forked renderer only reads files and blobs. A file
    is read from the checkout when it holds the recorded blob's bytes (hashed to know:
    ten times faster than libgit2's read), else from the object database.
    """

    def __init__(self, store: Store, head: TreeReader, entries: Mapping[str, Entry],
                 header: str | None) -> None:
        self.git_dir = str(store.git_dir)
        self.workdir = store.workdir
        self.header = header
        self.entries = dict(entries)  # the record's, for the entries this run keeps
        self._usable: dict[str, tuple[Entry, str, str]] = {}  # and HEAD's plain, JSON
        self._prints: dict[str, tuple[tuple[Track, ...], str | None]] = {}
        for pid, entry in entries.items():
            if str(head.blob_id(layout.pretty_md_path(pid))) == entry.md:
                self._usable[pid] = (entry, str(head.blob_id(layout.plain_path(pid))),
                                     str(head.blob_id(layout.pretty_json_path(pid))))

    def tracks_print(self, snapshot: Playlist) -> str | None:
        """``tracks_print`` of the snapshot's tracks, computed once (``likely`` computes them
        before a renderer is forked, which then has them too)."""
        known = self._prints.get(snapshot.id)
        if known is not None and known[0] is snapshot.tracks:
            return known[1]
        found = tracks_print(snapshot.tracks)
        self._prints[snapshot.id] = (snapshot.tracks, found)
        return found

    def given(self, pid: str, tracks: tuple[Track, ...], found: str | None) -> None:
        """``tracks_print(tracks)``, computed already (the parse of Spotify's answer computes
        it, in a request thread, as its check that every text is UTF-8): not again here."""
        self._prints[pid] = (tracks, found)

    def likely(self, snapshot: Playlist) -> bool:
        """Whether the render of ``snapshot`` will reuse (unless a file cannot be read).
        With nothing recorded, the print is left to the render (on both cores when it
        forks): 1,000 new playlists' prints are ~0.2 s."""
        found = self._usable.get(snapshot.id)
        if found is None:
            return False
        tracks = self.tracks_print(snapshot)
        return tracks is not None and found[0].tracks == tracks

    def reuse(self, snapshot: Playlist) -> Reuse | None:
        """What the render of ``snapshot`` may reuse."""
        if not self.likely(snapshot):
            return None
        pid = snapshot.id
        tracks = self.tracks_print(snapshot)
        entry, plain, snapshot_json = self._usable[pid]
        unchanged = plain == entry.plain and entry.plain_key == plain_key(snapshot, tracks or "")
        same = snapshot_json == entry.json
        json_data = self._read(entry.json, layout.pretty_json_path(pid))
        return Reuse(_part(self._read(entry.md, layout.pretty_md_path(pid)), entry.rows),
                     _part(json_data, entry.json_tracks), entry.plain if unchanged else None,
                     same, (entry.json, json_data) if same and json_data is not None else None)

    def _read(self, oid: str, path: str) -> bytes | None:
        try:
            blob = pygit2.Oid(hex=oid)
            if self.workdir is not None:
                found = worktree.checked_read(self.workdir, path, blob)
                if found is not None:
                    return found
            kind, data = process_repository(self.git_dir).odb.read(blob)
        except (pygit2.GitError, ValueError, OSError):
            return None
        return data if kind == pygit2.enums.ObjectType.BLOB else None


def _part(data: bytes | None, span: Span) -> str | None:
    """Bytes ``span`` of a file as text (None: it could not be read, or is not that)."""
    start, end = span
    if data is None or end > len(data):
        return None
    try:
        return data[start:end].decode()
    except UnicodeDecodeError:
        return None


def load(store: Store, head: TreeReader, githistory_base: str | None, newline: bool) -> Last:
    """The record, as far as it holds for this run's settings and renderer (never an error:
    a record missing, damaged or of another header is an empty one)."""
    wanted = header(githistory_base, newline)
    entries: dict[str, Entry] = {}
    try:
        data = path(store).read_bytes()
    except OSError:
        data = b""
    if wanted is not None and data:
        entries = _parse(data, wanted)
    return Last(store, head, entries, wanted)


def _parse(data: bytes, wanted: str) -> dict[str, Entry]:
    try:
        raw = safejson.loads(data)
        body = raw["body"]
        if (raw["sum"] != _checksum(body) or body["format"] != FORMAT
                or body["header"] != wanted):
            return {}
        return {pid: _entry(fields) for pid, fields in body["playlists"].items()
                if layout.is_playlist_id(pid)}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def _entry(fields: Any) -> Entry:
    tracks, md, rows, plain, key, snapshot, json_tracks = fields
    if not all(type(t) is str for t in (tracks, md, plain, key, snapshot)):
        raise TypeError("not an entry")
    return Entry(tracks, md, _span(rows), plain, key, snapshot, _span(json_tracks))


def _span(fields: Any) -> Span:
    start, end = fields
    if not (type(start) is int and type(end) is int and 0 <= start <= end):
        raise TypeError("not a span")
    return start, end


def _checksum(body: Any) -> str:
    return hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()


def save(store: Store, last: Last, made: Mapping[str, Entry | None],
         registered: Iterable[str]) -> None:
    """Keep what this run rendered (``made``: None for a playlist it cannot describe)
    and, of the last record, the entries of the other registered playlists; atomically,
    so a killed run leaves the old record or this one. A record that cannot be written
    is not an error (the next run renders afresh)."""
    if last.header is None:
        return
    kept = {pid: last.entries[pid] for pid in registered
            if pid in last.entries and pid not in made}
    kept.update({pid: entry for pid, entry in made.items() if entry is not None})
    body = {
        "format": FORMAT,
        "header": last.header,
        "playlists": {pid: e.fields() for pid, e in sorted(kept.items())},
    }
    data = json.dumps({"body": body, "sum": _checksum(body)}, separators=(",", ":"))
    target = path(store)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data.encode())
    except OSError:
        pass
