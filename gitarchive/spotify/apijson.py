"""Spotify API JSON built from model objects: what the stand-in serves, fixtures are made of.

The inverse of spotify/parse.py, in either response shape (``new``: ``items``/
``item`` since February 2026, ``old``: ``tracks``/``track``, or ``both``), plus
the odd entries Spotify sends (nulls, local files, podcast episodes).
"""

from __future__ import annotations

import copy
import html
from collections.abc import Mapping
from typing import Any, Literal

from gitarchive.archive.model import Playlist, Track

Shape = Literal["new", "old", "both"]

OPEN_URL = "https://open.spotify.com"


def shaped_entry(entry: Any, shape: Shape) -> Any:
    """An entry stored in the new shape (``item``), served in ``shape``."""
    if not isinstance(entry, dict):
        return entry
    shaped = {k: v for k, v in entry.items() if k != "item"}
    if shape in ("new", "both"):
        shaped["item"] = entry["item"]
    if shape in ("old", "both"):
        shaped["track"] = entry["item"]
    return shaped


def _last_segment(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1] if url else ""


def _api_link(name: str, url: str, kind: str) -> dict[str, Any]:
    sid = _last_segment(url) or None
    return {
        "external_urls": {"spotify": url} if url else {},
        "href": f"https://api.spotify.com/v1/{kind}s/{sid}" if sid else None,
        "id": sid,
        "name": name,
        "type": kind,
        "uri": f"spotify:{kind}:{sid}" if sid else None,
    }


def _api_time(added_at: str | None) -> str | None:
    """`2013-06-27 14:03:25` -> `2013-06-27T14:03:25Z`, as the API writes it."""
    return added_at.replace(" ", "T") + "Z" if added_at else None


def api_entry(track: Track, shape: Shape = "new") -> dict[str, Any]:
    """A playlist entry as the API returns it, for a model Track."""
    item = _api_link(track.name, track.url, "track")
    item.update(
        album=_api_link(track.album.name, track.album.url, "album"),
        artists=[_api_link(a.name, a.url, "artist") for a in track.artists],
        duration_ms=track.duration_ms,
        is_local=False,
    )
    entry = {"added_at": _api_time(track.added_at), "added_by": None, "is_local": False}
    shaped: dict[str, Any] = shaped_entry({**entry, "item": item}, shape)
    return shaped


def null_entry(added_at: str | None = "2024-01-01T00:00:00Z") -> dict[str, Any]:
    """An entry whose track is gone (Spotify sends `item: null`)."""
    return {"added_at": added_at, "added_by": None, "is_local": False, "item": None}


def local_file_entry(
    name: str, artist: str = "", album: str = "", duration_ms: int = 180_000
) -> dict[str, Any]:
    """A local file added from a user's disk: names but no IDs or Spotify URLs."""
    item = {
        "album": {"external_urls": {}, "id": None, "name": album, "type": "album"},
        "artists": [{"external_urls": {}, "id": None, "name": artist, "type": "artist"}],
        "duration_ms": duration_ms,
        "external_urls": {},
        "id": None,
        "is_local": True,
        "name": name,
        "type": "track",
        "uri": f"spotify:local:{artist}:{album}:{name}:{duration_ms // 1000}",
    }
    return {"added_at": "2024-01-01T00:00:00Z", "added_by": None, "is_local": True, "item": item}


def episode_entry(
    name: str, episode_id: str, show: str = "", duration_ms: int = 1_800_000
) -> dict[str, Any]:
    """A podcast episode in a playlist (not archived by gitarchive)."""
    item = _api_link(name, f"{OPEN_URL}/episode/{episode_id}", "episode")
    item.update(duration_ms=duration_ms, show=_api_link(show, "", "show"), is_local=False)
    return {"added_at": "2024-01-01T00:00:00Z", "added_by": None, "is_local": False, "item": item}


def api_playlist_from_model(
    playlist: Playlist, shape: Shape = "new", extra_entries: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The full API playlist object (all entries in one page) for a model Playlist.

    Descriptions are HTML-escaped, as Spotify sends them. `extra_entries` (null,
    local-file or episode entries) are appended after the tracks.
    """
    owner = _api_link(playlist.owner.name, playlist.owner.url, "user")
    owner["display_name"] = owner.pop("name")
    data = _api_link(playlist.original_name, playlist.url, "playlist")
    entries = [api_entry(t, "new") for t in playlist.tracks] + list(extra_entries or [])
    data.update(
        collaborative=False,
        description=html.escape(playlist.description),
        owner=owner,
        public=True,
        snapshot_id=playlist.snapshot_id,
    )
    if playlist.num_followers is not None:
        data["followers"] = {"href": None, "total": playlist.num_followers}
    page = {
        "href": None,
        "items": [shaped_entry(e, shape) for e in entries],
        "limit": len(entries),
        "next": None,
        "offset": 0,
        "previous": None,
        "total": len(entries),
    }
    if shape in ("new", "both"):
        data["items"] = page
    if shape in ("old", "both"):
        data["tracks"] = page
    return data


def all_entries(data: Mapping[str, Any]) -> list[Any] | Any:
    """The entries of a stored playlist answer, in either shape (`items` or `tracks`):
    a list, or what its page holds instead of a list (a hostile answer, served as it is)."""
    page = data.get("items") if isinstance(data.get("items"), dict) else data.get("tracks")
    held = page.get("items") if isinstance(page, dict) else None
    return held if held is not None and not isinstance(held, list) else list(held or [])


def as_new_entry(entry: Any) -> Any:
    """Store entries in the new shape (`item`); the server reshapes them when serving."""
    if not isinstance(entry, dict):
        return copy.deepcopy(entry)
    new = {k: copy.deepcopy(v) for k, v in entry.items() if k not in ("item", "track")}
    new["item"] = copy.deepcopy(entry["item"] if "item" in entry else entry.get("track"))
    return new
