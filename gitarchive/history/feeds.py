"""Atom feeds of playlist changes: one per playlist and one for the whole archive.

One entry per run that changed a playlist, titled ``+3 −1``, listing the added and
removed tracks (linked to Spotify) and name/description changes. Entry ids are
``urn:gitarchive:change:<playlist>:<time>:<snapshot blob>``: the snapshot blob and
the commit's time identify the change exactly as the commit does, and are known
already when ``fetch`` renders the feed into the very commit that makes the change
(whose own id cannot be in its content). So the same change has the same id
whether the feed was written by ``fetch``, ``rebuild`` or ``site``, and feed
readers never show an entry twice. Feeds hold no "now": re-rendering an unchanged
playlist gives the same bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

from gitarchive.archive.snapshots import TrackMeta
from gitarchive.history.svg import artist_names, escaped, needs_escape, utf8, xml_bytes
from gitarchive.history.svg import escape_svg as _x
from gitarchive.history.timeline import Change, Timeline

ATOM_NS = "http://www.w3.org/2005/Atom"
ENTRIES = 50  # per playlist feed
ARCHIVE_ENTRIES = 100
ARCHIVE_FEED = "playlists/feeds/archive.xml"


def feed_path(pid: str) -> str:
    return f"playlists/feeds/{pid}.xml"


@functools.lru_cache(maxsize=1 << 14)  # a few distinct run times
def _stamp(when: int) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_id(pid: str, change: Change) -> str:
    """The stable id of one change of one playlist (see the module docstring)."""
    return f"urn:gitarchive:change:{pid}:{change.time}:{change.blob}"


def change_title(change: Change) -> str:
    """``+3 −1``; the first snapshot says so; a rename or new description is added."""
    if change.first:
        title = f"first snapshot: {len(change.added)} tracks"
    else:
        title = f"+{len(change.added)} −{len(change.removed)}"
    notes = []
    if change.name is not None and not change.first:
        notes.append("renamed")
    if change.description is not None:
        notes.append("new description")
    return f"{title} ({', '.join(notes)})" if notes else title


def change_content(timeline: Timeline, change: Change) -> str:
    """The entry's html (name/description changes, then added and removed tracks), as the
    text of its ``content`` element: written escaped for XML already, so the html (most of
    a feed) is not escaped again in a second pass over it; ``svg.utf8`` text."""
    parts = []
    if change.name is not None and not change.first:
        parts.append(f"&lt;p&gt;Renamed to {_QUOTE}{_xx(change.name)}{_UNQUOTE}&lt;/p&gt;")
    if change.description is not None:
        parts.append(f"&lt;p&gt;New description: {_xx(change.description)}&lt;/p&gt;")
    tracks = timeline.tracks
    for label, keys in (("Added", change.added), ("Removed", change.removed)):
        if keys:
            parts.append(f"&lt;h3&gt;{label}&lt;/h3&gt;&lt;ul&gt;{_items(tracks, keys)}&lt;/ul&gt;")
    return "".join(parts) or "&lt;p&gt;No change of tracks.&lt;/p&gt;"


def _xx(text: str) -> str:
    """Escaped for the html, then for the XML element that holds it (seldom needed: names
    and descriptions that hold markup or quotes), as ``utf8`` text."""
    return utf8(escape(escape(text)))


_QUOTE, _UNQUOTE, _DASH = utf8("“"), utf8("”"), utf8(" — ")


def _items(tracks: Mapping[str, TrackMeta], keys: list[str]) -> str:
    """Each track's list item (its name linked to Spotify, then its artists), escaped twice."""
    out = []
    for meta in map(tracks.get, keys):
        if meta is None:
            continue
        url, title, _, by, _, _ = meta
        artists = by[0][0] if len(by) == 1 else artist_names(by)  # one artist: no hashing
        whole = f"{url}\x00{title}\x00{artists}"
        if needs_escape(whole):  # "&" and "'" are common: the three escaped in one go
            parts = _xx(whole).split("\x00")
            url, title, artists = (parts if len(parts) == 3  # else a text held a NUL
                                   else (_xx(url), _xx(title), _xx(artists)))
        elif not whole.isascii():
            url, title, artists = utf8(url), utf8(title), utf8(artists)
        if url:  # the usual item written in one go
            out.append(f"&lt;li&gt;&lt;a href=&quot;{url}&quot;&gt;{title}&lt;/a&gt;{_DASH}"
                       f"{artists}&lt;/li&gt;" if artists else
                       f"&lt;li&gt;&lt;a href=&quot;{url}&quot;&gt;{title}&lt;/a&gt;&lt;/li&gt;")
        else:
            out.append(f"&lt;li&gt;{title}{_DASH}{artists}&lt;/li&gt;" if artists
                       else f"&lt;li&gt;{title}&lt;/li&gt;")
    return "".join(out)


def _page(base_url: str | None, pid: str) -> str | None:
    return f"{base_url.rstrip('/')}/p/{pid}.html" if base_url else None


def _id(text: str) -> str:
    """Escaped only when it needs it: each entry's id is new (a cache would only miss)."""
    return utf8(escaped(text))


def _entry(timeline: Timeline, change: Change, base_url: str | None, prefix: str = "") -> str:
    link = _page(base_url, timeline.pid) or timeline.url
    link_xml = f'    <link rel="alternate" type="text/html" href="{_x(link)}"/>\n' if link else ""
    return (
        "  <entry>\n"
        f"    <id>{_id(entry_id(timeline.pid, change))}</id>\n"
        f"    <title>{_x(prefix + change_title(change))}</title>\n"
        f"    <updated>{_stamp(change.time)}</updated>\n"
        f"{link_xml}"
        f'    <content type="html">{change_content(timeline, change)}</content>\n'
        "  </entry>\n"
    )


def _feed(
    feed_id: str, title: str, subtitle: str, updated: int, links: Sequence[tuple[str, str]],
    entries: Sequence[str],
) -> bytes:
    head = [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        f'<feed xmlns="{ATOM_NS}">\n',
        f"  <id>{_x(feed_id)}</id>\n",
        f"  <title>{_x(title)}</title>\n",
        f"  <subtitle>{_x(subtitle)}</subtitle>\n",
        f"  <updated>{_stamp(updated)}</updated>\n",
        "  <author><name>gitarchive</name></author>\n",
        '  <generator>gitarchive</generator>\n',
    ]
    head += [f'  <link rel="{rel}" href="{_x(href)}"/>\n' for rel, href in links]
    return xml_bytes("".join([*head, *entries, "</feed>\n"]))


def playlist_feed(timeline: Timeline, base_url: str | None = None) -> bytes:
    """The Atom feed of one playlist's changes, newest first (its UTF-8 bytes)."""
    changes = timeline.changes[-ENTRIES:][::-1]
    links: list[tuple[str, str]] = []
    if base_url:
        links.append(("self", f"{base_url.rstrip('/')}/feeds/{timeline.pid}.xml"))
    page = _page(base_url, timeline.pid) or timeline.url
    if page:
        links.append(("alternate", page))
    return _feed(
        f"urn:gitarchive:playlist:{timeline.pid}",
        timeline.name or timeline.pid,
        "Tracks added to and removed from this Spotify playlist, archived by gitarchive",
        timeline.last_change or 0,
        links,
        [_entry(timeline, change, base_url) for change in changes],
    )


def archive_feed(
    changes: Sequence[tuple[Timeline, Change]], base_url: str | None = None
) -> bytes:
    """The archive-wide feed: the latest changes of every playlist, newest first (bytes)."""
    changes = sorted(changes, key=lambda tc: (-tc[1].time, tc[0].pid))[:ARCHIVE_ENTRIES]
    links: list[tuple[str, str]] = []
    if base_url:
        links.append(("self", f"{base_url.rstrip('/')}/feeds/archive.xml"))
        links.append(("alternate", f"{base_url.rstrip('/')}/index.html"))
    return _feed(
        "urn:gitarchive:archive",
        "Playlist archive",
        "Changes of every archived Spotify playlist",
        max((c.time for _, c in changes), default=0),
        links,
        [_entry(t, c, base_url, prefix=f"{t.name}: ") for t, c in changes],
    )
