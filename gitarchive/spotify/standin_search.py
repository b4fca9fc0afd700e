"""The stand-in's search and paging: ``GET /v1/search?type=track`` over the served tracks,
and the page and error objects the write side answers with (standin_writes.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def search_tracks(
    catalog: Mapping[str, dict[str, Any]], query: dict[str, str], href: str
) -> tuple[int, Any]:
    """Tracks whose name, artists and album contain every `track:`/`artist:`/`album:`
    field of the query (free words: anywhere), case-insensitively."""
    if query.get("type") != "track" or not query.get("q"):
        return 400, error_body(400, "Search needs q and type=track")
    fields = search_fields(query["q"])
    offset, limit = window(query, 50)
    hits = []
    for item in catalog.values():
        texts = {
            "track": item.get("name") or "",
            "artist": " ".join(a.get("name") or "" for a in item.get("artists") or []),
            "album": (item.get("album") or {}).get("name") or "",
        }
        texts[""] = " ".join(texts.values())
        if all(value.lower() in texts[name].lower() for name, value in fields):
            hits.append({**item, "uri": f"spotify:track:{item['id']}"})
    return 200, {"tracks": paged(href, hits[offset:offset + limit], offset, limit,
                                  len(hits))}


def search_fields(q: str) -> list[tuple[str, str]]:
    """``track:"A B" artist:C word`` -> [("track", "A B"), ("artist", "C"), ("", "word")]."""
    found = []
    for match in re.finditer(r'(?:(track|artist|album):)?(?:"([^"]*)"|(\S+))', q):
        found.append((match[1] or "", match[2] if match[2] is not None else match[3]))
    return found


def window(query: dict[str, str], maximum: int) -> tuple[int, int]:
    """(offset, limit) of a paged request: Spotify's defaults and bounds."""
    try:
        offset = max(int(query.get("offset", "0")), 0)
        limit = min(max(int(query.get("limit", str(maximum))), 1), maximum)
    except ValueError:
        return 0, maximum
    return offset, limit


def paged(href: str, items: list[Any], offset: int, limit: int, total: int) -> dict[str, Any]:
    """A page object as Spotify sends one, with its next/previous links."""
    end = offset + limit
    return {
        "href": f"{href}?offset={offset}&limit={limit}",
        "items": items,
        "limit": limit,
        "next": f"{href}?offset={end}&limit={limit}" if end < total else None,
        "offset": offset,
        "previous": f"{href}?offset={max(offset - limit, 0)}&limit={limit}" if offset else None,
        "total": total,
    }


def error_body(status: int, message: str) -> dict[str, Any]:
    """Spotify's error object."""
    return {"error": {"status": status, "message": message}}
