"""Reading snapshot files fast: pretty JSON and plain files -> (identity, meta, added_at).

The archive's two snapshot formats, parsed into what the history and the questions
need of them (no Track objects): the replay reads every version of every snapshot,
the questions and the pre-commit check read some. The JSON schema's one authority
stays ``model.Playlist.from_json``; the fast paths here fall back to it whenever
anything is unusual, so they accept exactly what it accepts.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Any, NamedTuple

from gitarchive import safejson
from gitarchive.archive import layout
from gitarchive.archive.model import PLAIN_KEY_PREFIX, Playlist, plain_key, track_key
from gitarchive.errors import SnapshotError

# (name, url) of an album or artist.
LinkTuple = tuple[str, str]
_new_tuple = tuple.__new__


class TrackMeta(NamedTuple):
    """What is shown of a track: the latest version seen (a tuple: cheap to make, compare)."""

    url: str
    name: str
    album: LinkTuple
    artists: tuple[LinkTuple, ...]
    duration_ms: int | None  # unknown for plain-only history
    added_by: str | None = None  # Spotify user ID, in snapshots that record it


@dataclass(frozen=True)
class ParsedSnapshot:
    name: str
    url: str
    description: str
    tracks: list[tuple[str, TrackMeta, int | None]]  # (identity, meta, added_at)


@functools.lru_cache(maxsize=65_536)
def parse_added_at(text: str | None) -> int | None:
    """Spotify's added_at ("YYYY-MM-DD HH:MM:SS" UTC, or ISO 8601) as epoch seconds."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


class ParseCache:
    """What parsing snapshot after snapshot can share (a replay reads tens of thousands).

    Consecutive snapshots of a playlist repeat most tracks byte for byte, so a track
    is parsed once per distinct text (``tracks``); album/artist tuples are shared
    (``links``), which keeps a year's state small.
    """

    def __init__(self) -> None:
        self.tracks: dict[bytes, tuple[str, TrackMeta] | None] = {}
        self.added: dict[bytes, tuple[bool, int | None]] = {}
        self.links: dict[LinkTuple, LinkTuple] = {}


def parse_json_snapshot(pid: str, data: bytes, cache: ParseCache | None = None) -> ParsedSnapshot:
    """A pretty JSON snapshot (raises SnapshotError).

    Well-formed snapshots in the archive's own layout are cut into their tracks'
    texts, each parsed once per distinct text (``_parse_json_chunked``); others are
    read by a direct walk over ``json.loads``'s result; anything that walk does not
    accept as exactly well-typed goes through ``Playlist.from_json`` — the schema's
    one authority — which either reads it or says precisely what is wrong.
    """
    cache = cache if cache is not None else ParseCache()
    try:
        fast = _parse_json_chunked(data, cache)
    except (ValueError, UnicodeDecodeError):
        fast = None  # a piece is no JSON on its own: the whole may still be
    if fast is None:
        try:
            fast = _parse_json_fast(safejson.loads(data), cache)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SnapshotError(f"not valid JSON: {exc}") from exc
    if fast is not None:
        return fast
    return parse_json_model(data)


def parse_json_model(data: bytes) -> ParsedSnapshot:
    playlist = Playlist.from_json(data)
    tracks = []
    for t in playlist.tracks:
        meta = TrackMeta(
            url=t.url,
            name=t.name,
            album=(t.album.name, t.album.url),
            artists=tuple((a.name, a.url) for a in t.artists),
            duration_ms=t.duration_ms,
            added_by=t.added_by,
        )
        key = t.id or plain_key(t.plain_line)
        tracks.append((key, meta, parse_added_at(t.added_at)))
    return ParsedSnapshot(playlist.name, playlist.url, playlist.description, tracks)


def _link_fast(data: Any, links: dict[LinkTuple, LinkTuple]) -> LinkTuple | None:
    if type(data) is not dict:
        return None
    name, url = data.get("name"), data.get("url") or ""
    if type(name) is not str or type(url) is not str:
        return None
    link = (name, url)
    return links.setdefault(link, link)


def _head_fast(obj: Any, cache: ParseCache) -> tuple[str, str, str, Any] | None:
    """(name, url, description, raw tracks) of a well-typed snapshot document, else None."""
    if type(obj) is not dict:
        return None
    url, original = obj.get("url"), obj.get("original_name")
    unique, description = obj.get("unique_name") or "", obj.get("description") or ""
    raw_tracks, owner = obj.get("tracks"), obj.get("owner")
    if not (
        type(url) is str and type(original) is str and type(unique) is str
        and type(description) is str and type(raw_tracks) is list
        and _link_fast(owner, cache.links)
    ):
        return None
    return unique or original, url, description, raw_tracks


def _track_fast(t: Any, cache: ParseCache) -> tuple[str, TrackMeta] | None:
    """(identity, meta) of a well-typed track object (added_at aside), else None.

    Its checks in the order that fails fastest, the key's usual case first: it runs once
    per distinct track text of a whole history, 70,000 times on a year of 1,000 playlists.
    """
    if type(t) is not dict:
        return None
    get = t.get
    turl, name, duration = get("url") or "", get("name"), get("duration_ms")
    raw_artists, added_by = get("artists"), get("added_by")
    if not (type(turl) is str and type(name) is str and type(duration) is int
            and type(raw_artists) is list and (added_by is None or type(added_by) is str)):
        return None
    links = cache.links
    album = _link_fast(get("album"), links)
    if album is None:
        return None
    found = []
    for raw in raw_artists:  # _link_fast written out: a call per artist cost a sixth more
        if type(raw) is not dict:
            return None
        artist, url = raw.get("name"), raw.get("url") or ""
        if type(artist) is not str or type(url) is not str:
            return None
        link = (artist, url)
        found.append(links.setdefault(link, link))
    artists = tuple(found)
    # Made as the tuple it is: TrackMeta(...) goes through a __new__ written in Python.
    meta = _new_tuple(TrackMeta, (turl, name, album, artists, duration, added_by))
    key = turl.rstrip("/").rsplit("/", 1)[-1] if turl else ""  # track_key's first rule
    return key or track_key(turl, name, [a[0] for a in artists], album[0]), meta


def _parse_json_fast(obj: Any, cache: ParseCache) -> ParsedSnapshot | None:
    """The common case of parse_json_snapshot; None when anything is unusual."""
    head = _head_fast(obj, cache)
    if head is None:
        return None
    tracks = []
    for t in head[3]:
        parsed = _track_fast(t, cache)
        added = t.get("added_at") if parsed is not None else None
        if parsed is None or not (added is None or type(added) is str):
            return None
        tracks.append((parsed[0], parsed[1], parse_added_at(added)))
    return ParsedSnapshot(head[0], head[1], head[2], tracks)


# The archive's own layout (model.Playlist.to_json): tracks one level down, each
# opening with its added_at line. Strings hold no raw newline, so these byte
# patterns cannot occur inside a value.
_TRACKS_OPEN = b'\n  "tracks": [\n    {'
_TRACKS_CLOSE = b"}\n  ]"
_ADDED_LINE = b'\n      "added_at": '
_TRACK_SEP_ADDED = b"},\n    {" + _ADDED_LINE
_NONCE = "\x00gitarchive-tracks"
_NONCE_JSON = b'\n  "tracks": ["\\u0000gitarchive-tracks"]'


JsonTrack = tuple[str, TrackMeta, int | None]  # (identity, meta, added_at)


def split_json_tracks(data: bytes, cache: ParseCache, *, from_end: bool = False
                      ) -> tuple[str, str, str, list[bytes]] | None:
    """(name, url, description, track pieces) of a snapshot in the archive's layout, else None.

    Each piece is one track's text, ``{"added_at": `` and the closing ``}`` cut off;
    ``parse_json_piece`` reads it. Why this is exact: the document with the tracks
    array replaced by a nonce parses (so the text before and after is valid and the
    array is the top-level ``tracks`` value), and when each piece is a valid object
    the ``[`` ... ``]`` between is a valid array of exactly those objects (a JSON text
    has one parse). Raises ValueError when the text around is no JSON.

    ``from_end``: the tracks' close (``}\n  ]``) is searched for back from the end, not
    forward through every track (a third of a replay's cutting). The first close after
    the tracks' start, which the search forward takes, is that one exactly when no
    piece holds one (``holds_tracks_close``): no close can straddle a piece's edge (the
    close holds ``}`` only first; after a piece comes the close or the separator, which
    start with ``}``; before it, the separator or the added_at line, whose only ``}`` is
    the separator's first byte, followed by a comma). So the caller checks the pieces,
    and cuts again without it if any holds one.
    """
    start = data.find(_TRACKS_OPEN)
    if start < 0:
        return None
    body_start = start + len(_TRACKS_OPEN)
    search = data.rfind if from_end else data.find
    end = search(_TRACKS_CLOSE, body_start)
    if end < 0 or not data.startswith(_ADDED_LINE, body_start):
        return None
    outer = _document_of(data[:start] + _NONCE_JSON + data[end + len(_TRACKS_CLOSE):])
    head = _head_fast(outer, cache)
    if head is None or head[3] != [_NONCE]:
        return None
    pieces = data[body_start + len(_ADDED_LINE):end].split(_TRACK_SEP_ADDED)
    return head[0], head[1], head[2], pieces


def holds_tracks_close(pieces: list[bytes]) -> bool:
    """Whether any piece holds the tracks' close (see split_json_tracks's ``from_end``).

    Joined by NUL, which the close does not hold: no close can span two pieces."""
    return _TRACKS_CLOSE in b"\0".join(pieces)


def parse_json_piece(piece: bytes, cache: ParseCache) -> JsonTrack | None:
    """One piece of ``split_json_tracks``; None unless it is a well-typed track.

    A piece is ``V,`` + rest: V the added_at value (it holds no newline), rest the
    other members (which must not repeat added_at); each distinct text is parsed once.
    Raises ValueError when a piece is no JSON on its own.
    """
    value, comma, rest = piece.partition(b",\n")
    if not comma:
        return None
    added = cache.added.get(value)
    if added is None:
        raw = safejson.loads(value)
        added = cache.added[value] = (
            raw is None or type(raw) is str,
            parse_added_at(raw) if type(raw) is str else None,
        )
    parsed = cache.tracks.get(rest)
    if parsed is None and rest not in cache.tracks:  # None: no track, or not seen yet
        obj = _object_of(rest)
        ok = type(obj) is dict and obj and "added_at" not in obj
        parsed = cache.tracks[rest] = _track_fast(obj, cache) if ok else None
    if parsed is None or not added[0]:
        return None
    return parsed[0], parsed[1], added[1]


_JSON_SPACE = " \t\n\r"  # what json.loads skips after a value
# What json.loads runs, its wrapping aside: (text, index) -> (value, end).
_SCAN: Callable[[str, int], tuple[Any, int]] = json.decoder.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _object_of(members: bytes) -> Any:
    """``json.loads(b"{" + members + b"}")`` (the same value, the same errors: ValueError).

    json.loads first guesses the encoding from the first bytes (a NUL there: UTF-16/32),
    decodes, and checks that nothing follows the value; done here directly around the
    scanner it calls, as it is once per new track text of a replay (a third less time).
    """
    if members[:1] == b"\x00":
        return safejson.loads(b"{" + members + b"}")  # json.loads would guess UTF-16
    return _scanned("{" + members.decode("utf-8", "surrogatepass") + "}")


def _document_of(data: bytes) -> Any:
    """``safejson.loads(data)`` (the same value, the same errors) for a text that opens
    with ``{`` and a byte that is not NUL, which json.loads reads as UTF-8: as
    ``_object_of``, around the scanner (the text around every version's tracks)."""
    if data[:1] != b"{" or data[1:2] == b"\x00":
        return safejson.loads(data)
    return _scanned(data.decode("utf-8", "surrogatepass"))


def _scanned(text: str) -> Any:
    """The value json.loads gives for ``text`` (decoded; no whitespace before it)."""
    try:
        value, end = _SCAN(text, 0)
    except StopIteration as err:  # the scanner's "no value here", which json.loads converts
        raise json.JSONDecodeError("Expecting value", text, err.value) from None
    except RecursionError:
        raise safejson.JSONTooDeep("arrays or objects nested too deeply") from None
    if end != len(text):  # json.loads allows whitespace after the value, nothing else
        tail = text[end:]
        rest = tail.lstrip(_JSON_SPACE)
        if rest:
            raise json.JSONDecodeError("Extra data", text, end + len(tail) - len(rest))
    return value


def _parse_json_chunked(data: bytes, cache: ParseCache) -> ParsedSnapshot | None:
    """parse_json_snapshot's fast path: None unless ``data`` is in the archive's layout.

    Raises ValueError when a piece is no JSON on its own (the caller then parses the
    whole).
    """
    split = split_json_tracks(data, cache)
    if split is None:
        return None
    tracks: list[JsonTrack] = []
    for piece in split[3]:
        parsed = parse_json_piece(piece, cache)
        if parsed is None:
            return None
        tracks.append(parsed)
    return ParsedSnapshot(split[0], split[1], split[2], tracks)


def holds_plain_key(keys: Iterable[str]) -> bool:
    """Whether any of ``keys`` is a plain line's (only then can a JSON track continue one)."""
    return any(map(str.startswith, keys, repeat(PLAIN_KEY_PREFIX)))


def plain_key_of(meta: TrackMeta) -> str:
    """The key a track had as a plain line (no URL): the line a JSON track continues when
    an archive's layout changes (the replay, the timelines)."""
    return track_key("", meta.name, (a[0] for a in meta.artists), meta.album[0])


def parse_plain_line(line: str) -> TrackMeta:
    """``Title -- Artist, Artist -- Album``; extra `` -- `` are kept in the artists.

    Made as the tuple it is (as ``_track_fast``): once per distinct line of a history,
    ~60,000 on 1,000 x 365, and TrackMeta(...) goes through a __new__ written in Python."""
    parts = line.split(" -- ")
    if len(parts) < 3:
        return _new_tuple(TrackMeta, ("", line, ("", ""), (), None, None))
    artists = parts[1] if len(parts) == 3 else " -- ".join(parts[1:-1])
    return _new_tuple(TrackMeta, ("", parts[0], (parts[-1], ""),
                                  tuple([(a, "") for a in artists.split(", ") if a]), None, None))


def split_plain(pid: str, data: bytes) -> tuple[str, str, str, list[str]]:
    """(name, url, description, lines) of a plain file; its track lines start at index 3.

    Name line, description line, blank line, one track per line (SnapshotError if not).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SnapshotError("plain file is not UTF-8 text") from exc
    lines = text.split("\n")
    if len(lines) < 3 or lines[2] or text.startswith("\ufeff"):
        lines = _saved_on_windows(text)
    url = f"https://open.spotify.com/playlist/{pid}" if layout.is_playlist_id(pid) else ""
    return lines[0], url, lines[1], lines


def _saved_on_windows(text: str) -> list[str]:
    """The lines of a plain file as any other's: a byte order mark (an editor's) and CRLF
    line ends (committed without autocrlf) are no part of its text, and its blank line may
    hold spaces. Only files that are not plain as they are come here (the replay reads
    every version of every plain file)."""
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")
    if len(lines) < 3 or (lines[2] and not lines[2].isspace()):
        raise SnapshotError("plain file must start with a name line, a description line, a blank")
    return lines


def parse_plain_snapshot(pid: str, data: bytes) -> ParsedSnapshot:
    """A plain file: name line, description line, blank line, one track per line."""
    name, url, description, lines = split_plain(pid, data)
    tracks: list[tuple[str, TrackMeta, int | None]] = [
        (plain_key(line), parse_plain_line(line), None) for line in lines[3:] if line
    ]
    return ParsedSnapshot(name, url, description, tracks)
