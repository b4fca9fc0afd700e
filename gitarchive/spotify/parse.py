"""Spotify's JSON answers -> model objects: a playlist and its pages of entries.

Accepts both the pre-2026 shape (``tracks``/``track``) and the February 2026 one
(``items``/``item``). An entry that cannot be archived (a local file without
enough data, an episode, a null) is skipped with a note, never silently.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gitarchive.archive.model import Link, Playlist, Track
from gitarchive.errors import PlaylistError, SnapshotError

OPEN_URL = "https://open.spotify.com"


@dataclass(frozen=True)
class FetchResult:
    """A fetched playlist, plus notes on the entries that were not archived."""

    playlist: Playlist
    skipped: list[str] = field(default_factory=list)


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

    Raises PlaylistError naming the playlist and what was wrong.
    """
    try:
        if not isinstance(data, dict):
            raise SnapshotError(f"expected an object, got {type(data).__name__}")
        tracks: list[Track] = []
        skipped: list[str] = []
        position = 0
        for page in pages:
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise SnapshotError("a page of entries has no 'items' list")
            for entry in page["items"]:
                position += 1
                parsed = parse_entry(entry, position)
                if isinstance(parsed, Track):
                    tracks.append(parsed)
                else:
                    skipped.append(parsed)
        owner = data["owner"]
        name = data["name"]
        if not isinstance(name, str):
            raise SnapshotError("'name' is not a string")
        playlist = Playlist(
            url=_spotify_url(data, "playlist", pid),
            original_name=name,
            description=html.unescape(data.get("description") or ""),
            owner=Link(
                owner.get("display_name") or owner["id"],
                _spotify_url(owner, "user", owner.get("id")),
            ),
            tracks=tuple(tracks),
            snapshot_id=data.get("snapshot_id") or "",
            num_followers=_followers(data.get("followers")),
        )
    except KeyError as exc:
        raise PlaylistError(f"playlist {pid}: Spotify's answer lacks the field {exc}") from exc
    except (SnapshotError, TypeError, AttributeError, ValueError) as exc:
        raise PlaylistError(f"playlist {pid}: unexpected answer from Spotify: {exc}") from exc
    return FetchResult(playlist, skipped)


def parse_entry(entry: Any, position: int) -> Track | str:
    """One playlist entry: a Track, or a note saying why it is not archived.

    Null entries (removed or unavailable content) and podcast episodes are skipped.
    Local files are skipped too: they have no Spotify ID, and the archive (like
    spotify-playlist-archive before it) identifies tracks by their Spotify URL.
    """
    if not isinstance(entry, dict):
        raise SnapshotError(f"entry {position} is not an object")
    item = entry.get("item") or entry.get("track")
    if item is None:
        return f"entry {position}: empty (the track was removed or is unavailable)"
    if not isinstance(item, dict):
        raise SnapshotError(f"entry {position} is not an object")
    name = item.get("name") or ""
    if item.get("type") == "episode":
        return f"entry {position}: podcast episode '{name}' (episodes are not archived)"
    if entry.get("is_local") or item.get("is_local"):
        return f"entry {position}: local file '{name}' (it has no Spotify ID)"
    url = _spotify_url(item, "track", item.get("id"))
    if not url:
        return f"entry {position}: '{name}' has no Spotify ID"
    album = item["album"]
    duration = item["duration_ms"]
    if not isinstance(duration, int | float) or isinstance(duration, bool):
        raise SnapshotError(f"entry {position}: 'duration_ms' is not a number")
    return Track(
        url=url,
        name=name,
        album=Link(album.get("name") or "", _spotify_url(album, "album", album.get("id"))),
        artists=tuple(
            Link(a.get("name") or "", _spotify_url(a, "artist", a.get("id")))
            for a in item["artists"]
        ),
        duration_ms=int(duration),
        added_at=_added_at(entry.get("added_at")),
    )


def _spotify_url(obj: Mapping[str, Any], kind: str, sid: str | None) -> str:
    """`external_urls.spotify`, else built from the ID, else "" (e.g. local files)."""
    url = (obj.get("external_urls") or {}).get("spotify")
    if isinstance(url, str) and url:
        return url
    return f"{OPEN_URL}/{kind}/{sid}" if sid else ""


def _followers(value: Any) -> int | None:
    """Spotify dropped or may drop `followers`: missing means unknown, not zero."""
    total = value.get("total") if isinstance(value, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def _added_at(value: Any) -> str | None:
    """`2013-06-27T14:03:25Z` -> `2013-06-27 14:03:25`; the epoch placeholder means unknown."""
    if not isinstance(value, str) or not value or value.startswith("1970-01-01T00:00:00"):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SnapshotError(f"'added_at' is not a timestamp: {value!r}") from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M:%S")
