"""Spotify's JSON answers -> model objects: a playlist and its pages of entries.

Accepts both the pre-2026 shape (``tracks``/``track``) and the February 2026 one
(``items``/``item``). An entry that cannot be archived (a local file without
enough data, an episode, a null) is skipped with a note, never silently.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from gitarchive import safejson
from gitarchive.archive.model import (
    Link,
    Playlist,
    Track,
    joined_print,
    new_link,
    new_track,
    track_text,
    tracks_print,
)
from gitarchive.errors import PlaylistError, SnapshotError, SpotifyError

OPEN_URL = "https://open.spotify.com"


@dataclass(frozen=True)
class FetchResult:
    """A fetched playlist, plus notes on the entries that were not archived, and the
    fingerprint of its tracks (``model.tracks_print``; None: none could be made)."""

    playlist: Playlist
    skipped: list[str] = field(default_factory=list)
    tracks_print: str | None = None


def entries_page(data: Any) -> dict[str, Any] | None:
    """The embedded page of entries: `items` since 2026, `tracks` before."""
    if not isinstance(data, dict):
        return None
    for key in ("items", "tracks"):
        page = data.get(key)
        if isinstance(page, dict):
            return page
    return None


def parse_playlist(pid: str, data: Any, pages: Iterable[Any]) -> FetchResult:
    """Build the model playlist from the playlist object and its pages of entries.

    The one boundary between Spotify's answer and the model: every field that reaches
    the archive is checked here (type, range, text encodable as UTF-8), so a bad
    answer fails its own playlist with PlaylistError naming the playlist and the
    field, and nothing odd gets past this point to crash a render or a commit.
    """
    try:
        pages = list(pages)
        texts: list[str] = []  # each track's print parts, joined, as the short cut read them
        result = _parse_playlist(pid, data, pages, check_text=False, texts=texts)
        playlist = result.playlist
        if len(texts) == len(playlist.tracks):  # every entry a track read by the short cut
            printed = joined_print(texts, playlist.tracks)
        else:
            printed = tracks_print(playlist.tracks)
        # made, the print encoded every track's text: _encodable need not look at them
        if not (printed is not None and _encodable(playlist, with_tracks=False)
                or _encodable(playlist)):  # rare: find and name the field
            _parse_playlist(pid, data, pages, check_text=True)
            raise SnapshotError("a text field is not valid text (a lone surrogate)")
        return FetchResult(playlist, result.skipped, printed)
    except PlaylistError:
        raise
    except SnapshotError as exc:
        raise PlaylistError(f"playlist {pid}: unusable answer from Spotify: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - any answer must fail only its own playlist
        raise PlaylistError(
            f"playlist {pid}: unusable answer from Spotify ({type(exc).__name__}: {exc})"
        ) from exc


def _parse_playlist(pid: str, data: Any, pages: list[Any], *, check_text: bool,
                    texts: list[str] | None = None) -> FetchResult:
    """``texts``: where the short cut puts each track's print parts (see _entry_fast)."""
    top = _Fields(data, "the playlist", check_text)
    texts = [] if texts is None else texts
    tracks: list[Track] = []
    skipped: list[str] = []
    position = 0
    for page in pages:
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise SnapshotError("a page of entries has no 'items' list")
        for entry in page["items"]:
            position += 1
            fast = None if check_text else _entry_fast(entry, texts)
            parsed = fast or parse_entry(entry, position, check_text=check_text)
            if isinstance(parsed, Track):
                tracks.append(parsed)
            else:
                skipped.append(parsed)
    owner = _Fields(top.get("owner", dict, required=True), "owner", check_text)
    owner_id = owner.text("id")
    owner_name = owner.text("display_name") or owner_id
    if not owner_name:
        raise SnapshotError("'owner' has neither 'display_name' nor 'id'")
    url = top.url("playlist", pid)
    if url.rstrip("/").rsplit("/", 1)[-1] != pid:
        raise SnapshotError(f"'external_urls.spotify' names another playlist: {url!r}")
    name = top.get("name", str, required=True)
    description = html.unescape(top.text("description"))
    if check_text:
        _check_text(name, "'name'")
        _check_text(description, "'description'")
    playlist = Playlist(
        url=url,
        original_name=name,
        description=description,
        owner=Link(owner_name, owner.url("user", owner_id)),
        tracks=tuple(tracks),
        snapshot_id=top.text("snapshot_id"),
        num_followers=_followers(top.data.get("followers")),
    )
    return FetchResult(playlist, skipped)


def parse_entry(entry: Any, position: int, *, check_text: bool = True) -> Track | str:
    """One playlist entry: a Track, or a note saying why it is not archived.

    Null entries (removed or unavailable content) and podcast episodes are skipped.
    Local files are skipped too: they have no Spotify ID, and the archive (like
    spotify-playlist-archive before it) identifies tracks by their Spotify URL.
    Anything else unusable raises SnapshotError naming the entry and the field.
    """
    where = f"entry {position}"
    if not isinstance(entry, dict):
        raise SnapshotError(f"{where} is not an object")
    item = entry.get("item") or entry.get("track")
    if item is None:
        return f"{where}: empty (the track was removed or is unavailable)"
    fields = _Fields(item, where, check_text)
    name = fields.text("name")
    if item.get("type") == "episode":
        return f"{where}: podcast episode '{_shown(name)}' (episodes are not archived)"
    if entry.get("is_local") or item.get("is_local"):
        return f"{where}: local file '{_shown(name)}' (it has no Spotify ID)"
    url = fields.url("track", fields.text("id"))
    if not url:
        return f"{where}: '{_shown(name)}' has no Spotify ID"
    album = _Fields(fields.get("album", dict, required=True), f"{where} 'album'", check_text)
    artists = [
        _Fields(a, f"{where} 'artists'[{i}]", check_text)
        for i, a in enumerate(fields.get("artists", list, required=True))
    ]
    return Track(
        url=url,
        name=name,
        album=Link(album.text("name"), album.url("album", album.text("id"))),
        artists=tuple(Link(a.text("name"), a.url("artist", a.text("id"))) for a in artists),
        duration_ms=_duration(item.get("duration_ms"), where),
        added_at=api_added_at(entry.get("added_at"), where),
        added_by=_added_by(entry.get("added_by")),
    )


def _entry_fast(entry: Any, texts: list[str]) -> Track | None:
    """``parse_entry`` of an ordinary track entry, trusting nothing but checking less.

    A run parses 100,000 entries; this path takes only the usual shape (every field
    exactly typed, a Spotify URL given, Spotify's own ``...Z`` time or none) and returns
    None for anything else, which ``parse_entry`` then reads (or explains) the checked
    way: the result is the same. The links are read in line (a call per link was a
    fifth of its cost). A track read here adds its ``model.track_text`` to ``texts``
    (the types are checked here, so each part is the text tracks_print takes): the
    print is then a join and a hash.
    """
    try:
        item = entry.get("item") or entry.get("track")
        if (type(item) is not dict or entry.get("is_local") or item.get("is_local")
                or item.get("type") == "episode"):
            return None
        name = item.get("name")
        duration = item.get("duration_ms")
        album = item["album"]
        artists = item["artists"]
        links = item.get("external_urls")
        sid = item.get("id")
        if (type(name) is not str or type(duration) is not int
                or not 0 <= duration <= MAX_DURATION_MS
                or type(album) is not dict or type(artists) is not list
                or type(links) is not dict or not (sid is None or type(sid) is str)):
            return None
        url = links.get("spotify")
        if type(url) is not str or not url:
            return None
        found: list[Link] = []
        pairs: list[str] = []  # their names and URLs, for the print
        for obj in (album, *artists):  # the album, then each artist
            if type(obj) is not dict:
                return None
            links, sid, text = obj.get("external_urls"), obj.get("id"), obj.get("name")
            if (type(links) is not dict or not (sid is None or type(sid) is str)
                    or type(text) is not str):
                return None
            link_url = links.get("spotify")
            if type(link_url) is not str or not link_url:
                return None
            found.append(new_link(text, link_url))
            pairs += (text, link_url)
        added_at = entry.get("added_at")
        if added_at is not None:
            added_at = api_added_at(added_at)
        added_by = entry.get("added_by")
        if added_by is not None:
            added_by = _added_by(added_by)
        texts.append(track_text(url, name, pairs[0], pairs[1], duration, added_at, added_by,
                                pairs[2:]))
        return new_track(url, name, found[0], tuple(found[1:]), duration, added_at, added_by)
    except (AttributeError, KeyError, TypeError, ValueError, SnapshotError):
        return None


_UNKNOWN_TIME = "1970-01-01T00:00:00"  # Spotify's placeholder: the time is unknown


MAX_DURATION_MS = 2**31 - 1  # about 24 days: more is no track length, it is a broken answer
MAX_FOLLOWERS = 10**12


class _Fields:
    """A JSON object from Spotify read field by field, with errors that name the field."""

    def __init__(self, data: Any, where: str, check_text: bool = True) -> None:
        if not isinstance(data, dict):
            raise SnapshotError(f"{where} is not an object ({_kind(data)})")
        self.data = data
        self.where = where
        self.check_text = check_text  # off: parse_playlist checks all text at once instead

    def get(self, key: str, kind: type, *, required: bool = False) -> Any:
        value = self.data.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, kind) or isinstance(value, bool):
            raise SnapshotError(
                f"{self.where}: '{key}' is {_kind(value)}, expected {_KINDS[kind]}"
            )
        return value

    def text(self, key: str) -> str:
        """An optional string field: "" when missing or null."""
        value = self.get(key, str) or ""
        if self.check_text:
            _check_text(value, f"{self.where}: '{key}'")
        return value

    def url(self, kind: str, sid: str | None) -> str:
        """`external_urls.spotify`, else built from the ID, else "" (e.g. local files)."""
        links = self.get("external_urls", dict) or {}
        url = links.get("spotify")
        if url is not None and not isinstance(url, str):
            raise SnapshotError(f"{self.where}: 'external_urls.spotify' is {_kind(url)}")
        if url:
            if self.check_text:
                _check_text(url, f"{self.where}: 'external_urls.spotify'")
            return url
        return f"{OPEN_URL}/{kind}/{sid}" if sid else ""


_KINDS: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _encodable(playlist: Playlist, *, with_tracks: bool = True) -> bool:
    """Whether every text of a playlist (``with_tracks``: of its tracks too) can be written
    as UTF-8: one encode for all of it."""
    texts = [playlist.url, playlist.original_name, playlist.description, playlist.owner.name,
             playlist.owner.url, playlist.snapshot_id]
    for t in playlist.tracks if with_tracks else ():
        texts += (t.url, t.name, t.album.name, t.album.url, t.added_at or "")
        texts += (text for a in t.artists for text in (a.name, a.url))
    try:
        "\n".join(texts).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(value: str, where: str) -> None:
    """Text must be writable as UTF-8: a lone surrogate would fail when the files are written."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SnapshotError(f"{where} is not valid text (a lone surrogate)") from exc


def _shown(name: str) -> str:
    return " ".join(name.split())


def _duration(value: Any, where: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise SnapshotError(f"{where}: 'duration_ms' is {_kind(value)}, expected a whole number")
    if not 0 <= value <= MAX_DURATION_MS:
        raise SnapshotError(f"{where}: 'duration_ms' is out of range ({value:.3g})")
    return value


def _followers(value: Any) -> int | None:
    """Spotify dropped or may drop `followers`: missing (or nonsense) means unknown, not zero."""
    total = value.get("total") if isinstance(value, dict) else None
    if not isinstance(total, int) or isinstance(total, bool):
        return None
    return total if 0 <= total <= MAX_FOLLOWERS else None


def _added_by(value: Any) -> str | None:
    """The user ID of who added an entry; Spotify leaves it out or empty for old entries."""
    user = value.get("id") if isinstance(value, dict) else None
    if not isinstance(user, str) or not user:
        return None
    _check_text(user, "'added_by.id'")
    return user


def api_added_at(value: Any, where: str = "") -> str | None:
    """`2013-06-27T14:03:25Z` -> `2013-06-27 14:03:25`; the epoch placeholder means unknown."""
    if not isinstance(value, str) or not value or value.startswith(_UNKNOWN_TIME):
        return None
    if len(value) == 20 and value[10] == "T" and value[19] == "Z":  # Spotify's own form
        try:
            datetime.fromisoformat(value[:19])  # a real date and time, else the full path
        except ValueError:
            pass
        else:
            return f"{value[:10]} {value[11:19]}"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise SnapshotError(f"{where}: 'added_at' is not a usable timestamp: {value!r}") from exc
    return parsed.strftime("%Y-%m-%d %H:%M:%S")


# ----------------------------------------------------------- HTTP answers


def json_body(response: requests.Response, error: SpotifyError) -> Any:
    """The answer's JSON, else ``error`` (its message says whose answer it was)."""
    try:
        return safejson.loads(response.content)
    except ValueError as exc:
        raise error from exc

def endpoint_of(url: str) -> str:
    """The URL without its query: enough to name the endpoint in a message."""
    return url.split("?", 1)[0]

def oauth_error(response: requests.Response) -> str:
    """`: error_code` from an OAuth error answer, when it is a plain identifier."""
    try:
        error = safejson.loads(response.content).get("error")
    except (ValueError, AttributeError):
        return ""
    return f": {error}" if isinstance(error, str) and error.isidentifier() else ""
