"""A snapshot version as a set of raw track chunks, applied as a difference to the last one.

Consecutive versions of a playlist share almost every track byte for byte. So a
version is cut, in C (``bytes.split``), into its tracks' raw texts — the lines of a
plain file, the track objects of a JSON snapshot in the archive's layout — and the
set of those *chunks* is compared with the previous version's (set differences, in
C). Python then touches only the chunks that came or went, and parses a chunk only
the first time its text is seen. A year of 1,000 playlists holds 1.2 million track
versions but only tens of thousands of changes: the replay's Python work follows the
changes, not the size of each version.

Exactness: the tracks in a version are exactly the union of its chunks' tracks
(``counts`` keeps how many chunks of the version name each track, for duplicates),
and a chunk's parse is a pure function of its text (tests/test_real_archives.py and
the property tests compare with parsing every version whole). A JSON snapshot not in
the archive's layout is parsed whole (``parse_json_snapshot``) and its tracks become
chunks of their own kind, so the comparison still holds across layouts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from gitarchive.archive.model import PLAIN_KEY_PREFIX, plain_key
from gitarchive.archive.snapshots import (
    JsonTrack,
    ParseCache,
    TrackMeta,
    holds_plain_key,
    holds_tracks_close,
    parse_json_piece,
    parse_json_snapshot,
    parse_plain_line,
    plain_key_of,
    split_json_tracks,
    split_plain,
)
from gitarchive.history.events import EMPTY_BLOB, KIND_JSON, Write
from gitarchive.history.state import PlaylistHistory, TrackHistory

# A chunk: bytes (a JSON track object's text), str (a plain line) or, for JSON outside
# the archive's layout, the parsed (key, meta, added_at) itself.
Chunk = Any
FEW_NEW = 4  # new tracks in a version looked up as plain lines without asking (apply_version)
Parsed = JsonTrack  # (key, meta, added_at), of any chunk


@dataclass
class Version:
    """One snapshot version, cut into chunks but not parsed (``parsed``: the fallback's)."""

    name: str
    url: str
    description: str
    chunks: set[Chunk]
    parsed: bool = False  # chunks are (key, meta, added_at) tuples already
    seq: list[Chunk] | None = None  # the chunks in the file's order (for the timelines)
    new: dict[Chunk, Parsed] | None = None  # set by apply_version: the chunks it parsed
    gone: set[Chunk] | None = None  # set by apply_version: the chunks it dropped
    # Cut with the tracks' close found from the end (split_json_tracks): apply_version
    # checks that no new chunk holds a close (those held were checked when new).
    from_end: bool = False


class NotChunked(ValueError):
    """A chunk is not a well-typed track in the archive's layout: parse the version whole."""


class Recut(NotChunked):
    """A version cut from the end holds a close of the tracks in a chunk: cut it again as
    a search from the start cuts it."""


class Chunker:
    """Cuts versions into chunks and parses chunks, each distinct text once (a cache
    per group of playlists: grouped.group_chunker)."""

    def __init__(self, cache: ParseCache) -> None:
        self.cache = cache
        self.lines: dict[str, Parsed] = {}

    # ------------------------------------------------------------- versions

    def json_version(self, data: bytes, *, from_end: bool = False) -> Version:
        """A JSON snapshot's version (raises SnapshotError when it cannot be read).

        ``from_end``: cut with the tracks' close searched for from the end (see
        split_json_tracks); if that cut fails, the version is what it is without."""
        try:
            version = self._json_chunked(data, from_end)
        except (ValueError, UnicodeDecodeError):
            version = None  # a piece is no JSON on its own: the whole may still be
        if version is None and from_end:
            return self.json_version(data)
        return version if version is not None else self.json_whole(data)

    def json_applied(self, playlist: PlaylistHistory, data: bytes) -> tuple[Version, bool]:
        """A JSON snapshot applied to ``playlist`` (apply_version): cut from the end, else
        (Recut) from the start, else parsed whole; raises what the whole one raises."""
        version = self.json_version(data, from_end=True)
        while True:
            try:
                return version, apply_version(playlist, version, self.parse, KIND_JSON)
            except Recut:  # only a version cut from the end raises it: this ends
                version = self.json_version(data)
            except ValueError:  # NotChunked, or a piece that is no JSON
                if version.parsed:
                    raise
                version = self.json_whole(data)

    def json_whole(self, data: bytes) -> Version:
        """A JSON snapshot parsed whole (any layout): its tracks are their own chunks."""
        parsed = parse_json_snapshot("", data, self.cache)
        return Version(parsed.name, parsed.url, parsed.description,
                       set(parsed.tracks), parsed=True, seq=parsed.tracks)

    def _json_chunked(self, data: bytes, from_end: bool = False) -> Version | None:
        """The version of a snapshot in the archive's layout (split_json_tracks); else None."""
        split = split_json_tracks(data, self.cache, from_end=from_end)
        if split is None:
            return None
        return Version(split[0], split[1], split[2], set(split[3]), seq=split[3],
                       from_end=from_end)

    def plain_version(self, pid: str, data: bytes) -> Version:
        """A plain file's version: its lines are its chunks (SnapshotError if unreadable)."""
        name, url, description, lines = split_plain(pid, data)
        seq = lines[3:]
        if seq and not seq[-1]:  # the file's last newline
            del seq[-1]
        chunks = set(seq)
        if "" in chunks:  # a blank line is no track
            chunks.discard("")
            seq = [line for line in seq if line]
        return Version(name, url, description, chunks, seq=seq)

    # --------------------------------------------------------------- chunks

    def parse(self, chunk: Chunk) -> Parsed:
        """(key, meta, added_at) of a chunk; NotChunked for a JSON piece that is not a track."""
        if type(chunk) is bytes:
            parsed = parse_json_piece(chunk, self.cache)
            if parsed is None:
                raise NotChunked("not a well-typed track in the archive's layout")
            return parsed
        if type(chunk) is str:
            found = self.lines.get(chunk)
            if found is None:
                found = self.lines[chunk] = (plain_key(chunk), parse_plain_line(chunk), None)
            return found
        return cast(Parsed, chunk)  # parsed whole already (Version.parsed)


def apply_version(
    playlist: PlaylistHistory,
    version: Version,
    parse: Callable[[Chunk], Parsed],
    kind: str,
) -> bool:
    """Make ``playlist``'s snapshot ``version``: only the chunks that came or went are visited.

    Raises NotChunked (changing nothing) when a new chunk is not a track; the caller
    then parses the version whole. Returns whether the cumulative view may differ for
    reasons the observation does not see (new tracks, new metadata, name ...).
    """
    old = playlist.chunks
    new = version.chunks
    # Sorted, so which of two chunks naming one track gives its meta never depends on
    # the hash seed (a version's chunks share one type: bytes, str, or parsed tuples).
    added = sorted(new.difference(old), key=repr if version.parsed else None)
    if version.from_end and holds_tracks_close(added):  # before any parse can fail
        raise Recut("a chunk holds the close of the tracks")
    parsed = list(map(parse, added))  # may raise: nothing changed yet
    version.new = dict(zip(added, parsed, strict=True))
    # Nothing went when the new chunks make up the difference in count (sets: the old ones
    # kept are len(new) - len(added)); else the old ones not kept are looked for.
    gone = version.gone = old.keys() - new if len(old) + len(added) != len(new) else set()
    view_changed = (playlist.name, playlist.url, playlist.description) != (
        version.name, version.url, version.description)
    playlist.name, playlist.url, playlist.description = (
        version.name, version.url, version.description)
    counts = playlist.counts
    tracks = playlist.tracks
    dirty = playlist.dirty
    left: list[str] = []
    for chunk in gone:
        key = old.pop(chunk)
        count = counts[key] - 1
        if count:
            counts[key] = count
        else:
            del counts[key]
            left.append(key)
    # A JSON track can continue only a plain line held before this version (one it adds
    # is counted at once, so never taken over): asked once, when a first track is new.
    # Asking only saves work (_adopt_plain_entry finds nothing where no plain line is
    # held): a few new tracks are looked up directly, cheaper than a walk over every key.
    adopt: bool | None = None if kind == KIND_JSON else False
    few = len(version.new) <= FEW_NEW
    for chunk, (key, meta, added_at) in version.new.items():
        old[chunk] = key
        counts[key] = counts.get(key, 0) + 1
        track = tracks.get(key)
        if track is None:
            if adopt is None:
                adopt = few or holds_plain_key(tracks)
            if adopt and not key.startswith(PLAIN_KEY_PREFIX):
                track = _adopt_plain_entry(playlist, key, meta)
            if track is None:
                track = tracks[key] = TrackHistory(meta)
            view_changed = True
        if track.meta is not meta and track.meta != meta:
            track.meta = meta
            view_changed = True
        if added_at is not None and (track.added_at is None or added_at < track.added_at):
            track.added_at = added_at
            view_changed = True
        if not track.in_snapshot:
            track.in_snapshot = True
            dirty.add(key)
            view_changed = True
    for key in left:
        track = tracks.get(key)
        if key not in counts and track is not None and track.in_snapshot:
            track.in_snapshot = False
            dirty.add(key)
            view_changed = True
    return view_changed


def _adopt_plain_entry(
    playlist: PlaylistHistory, key: str, meta: TrackMeta
) -> TrackHistory | None:
    """A track first seen by ID continues the history of its plain line, if any.

    Only a plain line not in the current version is taken over (when the layout
    changes, the plain lines left the snapshot just before the JSON tracks came in).
    """
    old_key = plain_key_of(meta)
    if old_key in playlist.counts:
        return None
    old = playlist.tracks.pop(old_key, None)
    if old is None:
        return None
    playlist.tracks[key] = old
    if old_key in playlist.dirty:
        playlist.dirty.discard(old_key)
        playlist.dirty.add(key)
    return old


def counts_of(chunks: dict[Chunk, str]) -> dict[str, int]:
    """How many chunks name each track (the saved state keeps only the chunks)."""
    counts: dict[str, int] = {}
    for key in chunks.values():
        counts[key] = counts.get(key, 0) + 1
    return counts


def renamed_from(deleted: dict[tuple[str, str], str], writes: Iterable[Write],
                 known: Callable[[str], bool]) -> dict[str, str]:
    """New pid -> old pid for files renamed with identical content in one commit.

    ``deleted``: (kind, blob) -> pid of the snapshot files this commit deletes, with
    the content they had; a new playlist (``known`` false) whose file of the same kind
    is written with that content continues the deleted one.
    """
    found: dict[str, str] = {}
    taken: set[str] = set()
    for write in writes:
        if write.blob is None or write.pid in found or known(write.pid):
            continue
        old = deleted.get((write.kind, write.blob))
        if old is not None and old not in taken and old != write.pid:
            found[write.pid] = old
            taken.add(old)
    return found


__all__ = ["EMPTY_BLOB", "Chunker", "NotChunked", "Recut", "Version", "apply_version", "counts_of",
           "renamed_from"]
