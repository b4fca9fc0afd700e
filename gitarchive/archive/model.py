"""The data gitarchive archives, and its one JSON schema.

Snapshots are stored in spotify-playlist-archive's own "pretty JSON" schema so
that existing archives' histories stay readable; this module is the only place
that knows that schema. Everything else passes these frozen dataclasses around.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring as _encode_string
from typing import Any

from gitarchive import safejson
from gitarchive.errors import SnapshotError

PLAIN_KEY_PREFIX = "plain:"


def plain_key(line: str) -> str:
    """The identity of a track known only by its plain line (pre-2022 archives, local files)."""
    return PLAIN_KEY_PREFIX + line.lower()


def track_key(url: str, name: str, artist_names: Iterable[str], album: str) -> str:
    """A track's identity in a playlist: its Spotify ID, else its lower-cased plain line.

    The one rule for fetch's counts, the replay, the queries and the exports.
    """
    key = url.rstrip("/").rsplit("/", 1)[-1] if url else ""
    return key or plain_key(f"{name} -- {', '.join(artist_names)} -- {album}")


@dataclass(frozen=True)
class Link:
    """A named thing with a Spotify URL: owner, album or artist (url may be empty)."""

    name: str
    url: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "url": self.url}


@dataclass(frozen=True)
class Track:
    """One entry of a playlist as archived."""

    url: str
    name: str
    album: Link
    artists: tuple[Link, ...]
    duration_ms: int
    added_at: str | None = None  # "YYYY-MM-DD HH:MM:SS" in UTC, as the old archiver wrote it
    added_by: str | None = None  # Spotify user ID; an extra JSON field, written only when known

    @property
    def id(self) -> str:
        """Spotify track ID (last URL segment); the URL itself for local tracks without one."""
        return self.url.rstrip("/").rsplit("/", 1)[-1] if self.url else ""

    @property
    def key(self) -> str:
        """Identity in a playlist (see track_key)."""
        return track_key(self.url, self.name, (a.name for a in self.artists), self.album.name)

    @property
    def plain_line(self) -> str:
        """`Title -- Artist, Artist -- Album`: the line of the plain file."""
        artists = ", ".join(a.name for a in self.artists)
        return f"{self.name} -- {artists} -- {self.album.name}"

    def to_dict(self) -> dict[str, Any]:
        data = {
            "added_at": self.added_at,
            "album": self.album.to_dict(),
            "artists": [a.to_dict() for a in self.artists],
            "duration_ms": self.duration_ms,
            "name": self.name,
            "url": self.url,
        }
        if self.added_by is not None:  # absent, not null: older snapshots stay byte-identical
            data["added_by"] = self.added_by
        return data


_new_object = object.__new__


def new_link(name: str, url: str) -> Link:
    """``Link(name, url)``, its fields filled in directly: the frozen dataclass's
    ``__init__`` sets each through ``object.__setattr__``, and a fetch of 1,000
    playlists builds 200,000 links. The same object to every caller (equal, hashed,
    pickled, frozen alike); filling ``__dict__`` gives each its own dict, where the
    dataclass keeps fields inline: measured +19 MB per 100,000 tracks with two links
    each, for half the building time (1.5 s against 2.9 s under tracemalloc)."""
    link = _new_object(Link)
    fields = link.__dict__
    fields["name"] = name
    fields["url"] = url
    return link


def new_track(url: str, name: str, album: Link, artists: tuple[Link, ...], duration_ms: int,
              added_at: str | None, added_by: str | None) -> Track:
    """``Track(...)`` with every field given, filled in directly (see ``new_link``): a
    third of the dataclass ``__init__``'s time, for the fetch's 100,000 tracks."""
    track = _new_object(Track)
    fields = track.__dict__
    fields["url"] = url
    fields["name"] = name
    fields["album"] = album
    fields["artists"] = artists
    fields["duration_ms"] = duration_ms
    fields["added_at"] = added_at
    fields["added_by"] = added_by
    return track


_SEP = "\x00"


def tracks_print(tracks: Sequence[Track]) -> str | None:
    """A fingerprint of every field of ``tracks`` (gitarchive.ops.rendered says what it
    proves); None when a text holds a NUL or cannot be encoded (then nothing is reused).
    Here, below both its users: the parse of an answer computes it (its UTF-8 encoding
    is also that parse's check of the tracks' texts), the render record compares it."""
    texts: list[str] = []
    try:
        for t in tracks:
            if type(t.duration_ms) is not int:
                return None
            texts.append(track_text(t.url, t.name, t.album.name, t.album.url, t.duration_ms,
                                    t.added_at, t.added_by,
                                    [text for a in t.artists for text in (a.name, a.url)]))
    except TypeError:  # a field of another type
        return None
    return joined_print(texts, tracks)


def track_text(url: str, name: str, album_name: str, album_url: str, duration_ms: int,
               added_at: str | None, added_by: str | None, artists: Sequence[str]) -> str:
    """One track's part of ``tracks_print``: its fields joined by NUL (``artists``: each
    artist's name and URL in turn). The parse of an answer makes it as it reads a track."""
    return _SEP.join([url, name, album_name, album_url, str(duration_ms),
                      "-" if added_at is None else "+" + added_at,
                      "-" if added_by is None else "+" + added_by,
                      str(len(artists) // 2), *artists])


def joined_print(texts: list[str], tracks: Sequence[Track]) -> str | None:
    """The print of ``tracks`` from their ``track_text``s; None when a part holds a NUL
    itself (more separators than the tracks' fields) or cannot be encoded."""
    try:
        joined = _SEP.join(texts)
        parts = sum(8 + 2 * len(t.artists) for t in tracks)
        if joined.count(_SEP) != max(parts - 1, 0):
            return None
        return hashlib.sha1(joined.encode()).hexdigest()
    except (TypeError, UnicodeEncodeError):  # a field of another type, a lone surrogate
        return None


@dataclass(frozen=True)
class Playlist:
    """A snapshot of one playlist at one fetch."""

    url: str
    original_name: str
    description: str
    owner: Link
    tracks: tuple[Track, ...]
    snapshot_id: str = ""
    num_followers: int | None = None
    unique_name: str = ""  # set by the archiver: alias or name, made unique in the archive

    @property
    def id(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def name(self) -> str:
        """The name shown everywhere: the unique name once assigned, else Spotify's."""
        return self.unique_name or self.original_name

    @property
    def track_count(self) -> int:
        return len(self.tracks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "num_followers": self.num_followers,
            "original_name": self.original_name,
            "owner": self.owner.to_dict(),
            "snapshot_id": self.snapshot_id,
            "tracks": [t.to_dict() for t in self.tracks],
            "unique_name": self.name,
            "url": self.url,
        }

    def to_json(self, tracks_text: str | None = None) -> str:
        """The pretty JSON file, formatted exactly as spotify-playlist-archive wrote it.

        Equal to ``dump_json(self.to_dict())`` (a property test checks it) but several
        times faster: json's indenting encoder is pure Python, and a 1,000-playlist
        run writes a 100-track snapshot per playlist. ``tracks_text``: the tracks as
        ``tracks_json`` gives them, if already at hand.
        """
        s = _json_str
        tracks = tracks_json(self.tracks) if tracks_text is None else tracks_text
        followers = "null" if self.num_followers is None else str(self.num_followers)
        return (
            "{\n"
            f'  "description": {s(self.description)},\n'
            f'  "num_followers": {followers},\n'
            f'  "original_name": {s(self.original_name)},\n'
            f'  "owner": {_json_link(self.owner, "  ")},\n'
            f'  "snapshot_id": {s(self.snapshot_id)},\n'
            f'  "tracks": {f"[{chr(10)}{tracks}{chr(10)}  ]" if self.tracks else "[]"},\n'
            f'  "unique_name": {s(self.name)},\n'
            f'  "url": {s(self.url)}\n'
            "}\n"
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Playlist:
        """Parse a pretty JSON snapshot; raises SnapshotError naming what is wrong."""
        try:
            data = safejson.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SnapshotError(f"not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> Playlist:
        obj = _Obj(data, "snapshot")
        followers = obj.opt("num_followers", int)
        return cls(
            url=obj.req("url", str),
            original_name=obj.req("original_name", str),
            unique_name=obj.opt("unique_name", str) or "",
            description=obj.opt("description", str) or "",
            owner=_link(obj.req("owner", dict), "owner"),
            snapshot_id=obj.opt("snapshot_id", str) or "",
            num_followers=followers,
            tracks=tuple(
                parse_track(t, f"tracks[{i}]") for i, t in enumerate(obj.req("tracks", list))
            ),
        )


def _link(data: Any, where: str) -> Link:
    obj = _Obj(data, where)
    return Link(name=obj.req("name", str), url=obj.opt("url", str) or "")


def parse_track(data: Any, where: str) -> Track:
    """A track from JSON: a trusting fast path, the checked path for anything unusual.

    Reading history parses every stored snapshot, so the common case must be cheap;
    whatever the fast path does not accept as-is goes through the checked path,
    which gives the same result or the error message.
    """
    try:
        album, artists = data["album"], data["artists"]
        if type(album) is not dict or type(artists) is not list:
            return parse_track_checked(data, where)
        track = Track(
            url=_or_empty(data.get("url")),
            name=data["name"],
            album=Link(album["name"], _or_empty(album.get("url"))),
            artists=tuple(Link(a["name"], _or_empty(a.get("url"))) for a in artists),
            duration_ms=data["duration_ms"],
            added_at=data.get("added_at"),
            added_by=data.get("added_by"),
        )
    except (KeyError, TypeError, AttributeError):
        return parse_track_checked(data, where)
    if _well_typed(track):
        return track
    return parse_track_checked(data, where)


def _or_empty(value: Any) -> Any:
    return "" if value is None else value


def _well_typed(t: Track) -> bool:
    return (
        type(t.name) is str
        and type(t.url) is str
        and type(t.duration_ms) is int
        and (t.added_at is None or type(t.added_at) is str)
        and (t.added_by is None or type(t.added_by) is str)
        and type(t.album.name) is str
        and type(t.album.url) is str
        and all(type(a.name) is str and type(a.url) is str for a in t.artists)
    )


def parse_track_checked(data: Any, where: str) -> Track:
    """A track from JSON with every field checked; SnapshotError names what is wrong."""
    obj = _Obj(data, where)
    return Track(
        url=obj.opt("url", str) or "",
        name=obj.req("name", str),
        album=_link(obj.req("album", dict), f"{where}.album"),
        artists=tuple(
            _link(a, f"{where}.artists[{i}]") for i, a in enumerate(obj.req("artists", list))
        ),
        duration_ms=obj.req("duration_ms", int),
        added_at=obj.opt("added_at", str),
        added_by=obj.opt("added_by", str),
    )


@dataclass
class _Obj:
    """A JSON object read field by field, with errors that say where."""

    data: Any
    where: str

    def __post_init__(self) -> None:
        if not isinstance(self.data, dict):
            raise SnapshotError(f"{self.where}: expected an object, got {type(self.data).__name__}")

    def req(self, key: str, kind: type) -> Any:
        if key not in self.data or self.data[key] is None:
            raise SnapshotError(f"{self.where}: missing field '{key}'")
        return self._typed(key, kind)

    def opt(self, key: str, kind: type) -> Any:
        if self.data.get(key) is None:
            return None
        return self._typed(key, kind)

    def _typed(self, key: str, kind: type) -> Any:
        value = self.data[key]
        if kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise SnapshotError(
                f"{self.where}.{key}: expected {kind.__name__}, got {type(value).__name__}"
            )
        return value


def _json_str(value: str | None) -> str:
    return "null" if value is None else _encode_string(value)


def tracks_json(tracks: Iterable[Track]) -> str:
    """The tracks of a pretty JSON snapshot, between its ``"tracks": [`` and ``]`` lines."""
    return ",\n".join(map(_track_json, tracks))


def _track_json(t: Track) -> str:
    """One track of the pretty JSON (see Playlist.to_json), its texts encoded by C code."""
    e = _encode_string
    album, artists = t.album, t.artists
    if len(artists) == 1:  # the usual case: no list of one to build and join
        one = artists[0]
        artists_json = (f'[\n        {{\n          "name": {e(one.name)},\n'
                        f'          "url": {e(one.url)}\n        }}\n      ]')
    elif artists:
        artists_json = "[\n" + ",\n".join([
            f'        {{\n          "name": {e(a.name)},\n          "url": {e(a.url)}\n        }}'
            for a in artists
        ]) + "\n      ]"
    else:
        artists_json = "[]"
    added_at = "null" if t.added_at is None else e(t.added_at)
    added_by = "" if t.added_by is None else _added_by_line(t.added_by)
    return (
        f'    {{\n      "added_at": {added_at},\n{added_by}'
        f'      "album": {{\n        "name": {e(album.name)},\n        "url": {e(album.url)}\n'
        f'      }},\n      "artists": {artists_json},\n      "duration_ms": {t.duration_ms},\n'
        f'      "name": {e(t.name)},\n      "url": {e(t.url)}\n    }}'
    )


def _added_by_line(user: str) -> str:
    return f'      "added_by": {_encode_string(user)},\n'


def _json_link(link: Link, indent: str) -> str:
    return (
        f'{{\n{indent}  "name": {_encode_string(link.name)},\n'
        f'{indent}  "url": {_encode_string(link.url)}\n{indent}}}'
    )


def dump_json(data: Any) -> str:
    """The archive's JSON style: 2-space indent, sorted keys, UTF-8, final newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
