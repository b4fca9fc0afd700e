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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitarchive import safejson
from gitarchive.archive import layout
from gitarchive.archive.model import Playlist, Track
from gitarchive.atomicfile import write_atomic
from gitarchive.git.store import Store, TreeReader, blob_data, process_repository

FORMAT = 1
NAME = "rendered.json"
_SEP = "\x00"

# The sources whose code decides the bytes of the files a record describes.
_SOURCES = (
    ("archive", "render.py"), ("archive", "model.py"), ("archive", "settings.py"),
    ("archive", "templates/pretty.md.j2"), ("archive", "templates/plain.j2"),
    ("ops", "snapfiles.py"), ("ops", "rendered.py"),
)


@dataclass(frozen=True)
class Entry:
    """What a run rendered of one playlist (blob ids in hex)."""

    tracks: str  # tracks_print of the tracks rendered
    md: str  # the pretty markdown file
    rows: tuple[int, int]  # the byte span of its table's rows
    plain: str  # the plain file
    plain_key: str  # plain_key of its inputs
    json: str  # the JSON snapshot (its tracks are those tracks)


@dataclass(frozen=True)
class Reuse:
    """What one playlist's render may take from the last run's files (tracks the same)."""

    md: str  # blob id of the markdown file holding the rows
    rows: tuple[int, int]
    plain: str | None  # blob id of the plain file when it is unchanged, else None
    same_tracks: bool  # HEAD's JSON snapshot holds these very tracks


def tracks_print(tracks: Sequence[Track]) -> str | None:
    """A fingerprint of every field of ``tracks`` (see the module's docstring); None when a
    text holds a NUL or cannot be encoded (then nothing is reused)."""
    parts: list[str] = []
    add = parts.append
    try:
        for t in tracks:
            album = t.album
            if type(t.duration_ms) is not int:
                return None
            add(t.url)
            add(t.name)
            add(album.name)
            add(album.url)
            add(str(t.duration_ms))
            add("-" if t.added_at is None else "+" + t.added_at)
            add("-" if t.added_by is None else "+" + t.added_by)
            add(str(len(t.artists)))
            for a in t.artists:
                add(a.name)
                add(a.url)
        joined = _SEP.join(parts)
        if joined.count(_SEP) != max(len(parts) - 1, 0):
            return None
        return hashlib.sha1(joined.encode()).hexdigest()
    except (TypeError, UnicodeEncodeError):  # a field of another type, a lone surrogate
        return None


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
    directories are listed once); a forked renderer only reads blobs, by id.
    """

    def __init__(self, store: Store, head: TreeReader, entries: Mapping[str, Entry],
                 header: str | None) -> None:
        self.git_dir = str(store.git_dir)
        self.header = header
        self.entries = dict(entries)  # the record's, for the entries this run keeps
        self._usable: dict[str, Entry] = {}
        for pid, entry in entries.items():
            if head.blob_id(layout.pretty_md_path(pid)) is not None and (
                str(head.blob_id(layout.pretty_md_path(pid))) == entry.md
            ):
                self._usable[pid] = entry
        self._plain = {pid: str(head.blob_id(layout.plain_path(pid))) for pid in self._usable}
        self._json = {pid: str(head.blob_id(layout.pretty_json_path(pid)))
                      for pid in self._usable}

    def reuse(self, snapshot: Playlist, tracks: str | None) -> Reuse | None:
        """What the render of ``snapshot`` (its tracks' print: ``tracks``) may reuse."""
        entry = self._usable.get(snapshot.id)
        if entry is None or tracks is None or entry.tracks != tracks:
            return None
        plain = entry.plain if (self._plain[snapshot.id] == entry.plain
                                and entry.plain_key == plain_key(snapshot, tracks)) else None
        return Reuse(entry.md, entry.rows, plain, self._json[snapshot.id] == entry.json)

    def rows(self, reuse: Reuse) -> str | None:
        """The rows ``reuse`` points to, read from their blob (None: it cannot be read)."""
        start, end = reuse.rows
        try:
            data = blob_data(process_repository(self.git_dir), reuse.md)
            return data[start:end].decode()
        except (KeyError, ValueError, UnicodeDecodeError, OSError):
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
    tracks, md, (start, end), plain, key, snapshot = fields
    texts = (tracks, md, plain, key, snapshot)
    if not all(type(t) is str for t in texts) or not (
        type(start) is int and type(end) is int and 0 <= start <= end
    ):
        raise TypeError("not an entry")
    return Entry(tracks, md, (start, end), plain, key, snapshot)


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
        "playlists": {pid: [e.tracks, e.md, list(e.rows), e.plain, e.plain_key, e.json]
                      for pid, e in sorted(kept.items())},
    }
    data = json.dumps({"body": body, "sum": _checksum(body)}, separators=(",", ":"))
    target = path(store)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data.encode())
    except OSError:
        pass
