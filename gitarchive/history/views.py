"""Rendering the cumulative files (``playlists/cumulative/<id>.json`` and ``.md``).

Dates are shown as YYYY-MM-DD in one time zone (UTC unless told otherwise). Tracks
are listed by date added, then title (case-insensitively), then identity, so the
order does not depend on the order of the snapshots.

``last_seen`` in the files: for a track still in the playlist's latest snapshot it
is null (markdown: an empty "Last seen" cell), like ``date_removed`` — such a track
is seen by every run, and writing "today" would rewrite every cumulative file every
day (the repository growth of the old archiver). A playlist's files therefore
change only when its snapshot (or name, description, registration) does, and
incremental runs render only those. For removed tracks ``last_seen`` is the last
run whose tree still had the track. Queries (``export``, ``search``) are live and
may show the latest run instead (``cumulative_view(..., live=True)``).

A full rebuild renders every file, so the JSON is written by a specialised emitter
instead of ``json.dumps(indent=2)`` (whose indenting encoder is pure Python) and
the markdown by ``cumulative_md`` instead of its template (rows and all: a jinja loop
was most of a rebuild's time, and the template engine's import and compilation most of a
daily one's rendering); tests prove them byte-identical to ``model.dump_json`` of
``cumulative_dict`` and to the templates.
"""

from __future__ import annotations

import functools
import json.encoder
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gitarchive.archive import layout, render
from gitarchive.archive.snapshots import LinkTuple
from gitarchive.errors import TimezoneError
from gitarchive.history.state import PlaylistHistory

# Bumped when the rendering changes: files rendered by another version are redone.
# 3: the charts and the feed linked from the markdown; 4: the followers chart through its
# turning points, "since" its last change (every playlist's is drawn again, once)
VIEWS_VERSION = 4

_encode: Callable[[str], str] = json.encoder.encode_basestring  # the C encoder when available


def get_timezone(name: str | None) -> tzinfo:
    """UTC for None/"UTC", else an IANA zone such as ``Europe/Berlin``."""
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimezoneError(
            f"unknown time zone '{name}': use an IANA name such as Europe/Berlin or UTC"
        ) from exc


class DateFormatter:
    """Epoch seconds -> YYYY-MM-DD in one time zone, memoised (few distinct run times)."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.known: dict[int, str] = {}  # epoch -> its date, every one formatted so far

    def __call__(self, epoch: int | None) -> str | None:
        if epoch is None:
            return None
        found = self.known.get(epoch)
        return found if found is not None else self._format(epoch)

    def day(self, epoch: int) -> str:
        """The date of a known time (never None): the rows' hot path."""
        found = self.known.get(epoch)
        return found if found is not None else self._format(epoch)

    def _format(self, epoch: int) -> str:
        found = self.known[epoch] = datetime.fromtimestamp(epoch, self.zone).strftime(
            "%Y-%m-%d")
        return found


class CumulativeTrack(NamedTuple):
    """One row of a cumulative view, dates already formatted as YYYY-MM-DD (nothing to
    escape in JSON), a tuple: 70k made per rebuild."""

    url: str
    name: str
    album: LinkTuple
    artists: tuple[LinkTuple, ...]
    duration_ms: int | None
    date_added: str
    date_added_asterisk: bool
    date_removed: str | None
    first_seen: str
    last_seen: str | None  # None in the files while present (module docstring)
    stints: int
    added_by: str | None = None  # Spotify user ID, when the snapshots record it


@dataclass(frozen=True)
class CumulativeView:
    pid: str
    url: str
    name: str
    description: str
    date_first_scraped: str
    tracks: list[CumulativeTrack]
    # (first, last) run that recorded failing to fetch it; last is None while it still fails.
    fetch_gaps: tuple[tuple[str, str | None], ...] = ()

    def gap_texts(self) -> list[str]:
        """``not fetched A → B`` per stretch (``since A`` while it lasts)."""
        return [
            f"not fetched since {start}" if end is None
            else f"not fetched {start}" if end == start
            else f"not fetched {start} → {end}"
            for start, end in self.fetch_gaps
        ]

    @property
    def collaborative(self) -> bool:
        """Tracks were added by more than one user: the view says who added each."""
        return len({t.added_by for t in self.tracks if t.added_by}) > 1


def cumulative_view(
    playlist: PlaylistHistory, fmt: DateFormatter, *, live: bool = False
) -> CumulativeView | None:
    """The view of one playlist, or None when it was never observed.

    ``live``: present tracks get the latest run as last_seen (queries); the files
    leave it null so they change only with the playlist's own snapshots.
    """
    if playlist.first_run is None:
        return None
    day, known = fmt.day, fmt.known  # known: the dates met so far, read without a call
    live_last = fmt(playlist.last_run) if live else None
    new = tuple.__new__  # a CumulativeTrack made in C (its own __new__ is Python)
    rows = []
    for key, track in playlist.tracks.items():
        first = track.first_seen
        if first is None:
            continue
        added = track.added_at
        added = first if added is None or added >= first else added
        meta = track.meta
        date_added = known.get(added) or day(added)
        if track.present:
            removed, last = None, live_last
        else:
            removed, last = fmt(track.removed), fmt(track.last_seen)
        rows.append((date_added, meta.name.lower(), key, new(CumulativeTrack, (
            meta.url, meta.name, meta.album, meta.artists, meta.duration_ms, date_added,
            track.asterisk, removed, known.get(first) or day(first), last, track.stints,
            meta.added_by,
        ))))
    rows.sort()  # keys are unique: the rows themselves are never compared
    return CumulativeView(
        pid=playlist.pid,
        url=playlist.url,
        name=playlist.name,
        description=playlist.description,
        date_first_scraped=fmt(playlist.first_run) or "",
        tracks=[r[3] for r in rows],
        fetch_gaps=tuple(
            (fmt(start) or "", None if still else fmt(end)) for start, end, still in playlist.gaps
        ),
    )


# ---------------------------------------------------------------------- JSON


def _link_dict(link: LinkTuple) -> dict[str, str]:
    return {"name": link[0], "url": link[1]}


def cumulative_dict(view: CumulativeView) -> dict[str, Any]:
    """The cumulative JSON document (a superset of spotify-playlist-archive's).

    ``fetch_gaps`` only when there are any, so archives without failures keep their files.
    """
    gaps = {"fetch_gaps": [{"from": a, "to": b} for a, b in view.fetch_gaps]}
    return {
        "date_first_scraped": view.date_first_scraped,
        "description": view.description,
        **(gaps if view.fetch_gaps else {}),
        "name": view.name,
        "tracks": [
            {
                **({"added_by": t.added_by} if t.added_by is not None else {}),
                "album": _link_dict(t.album),
                "artists": [_link_dict(a) for a in t.artists],
                "date_added": t.date_added,
                "date_added_asterisk": t.date_added_asterisk,
                "date_removed": t.date_removed,
                "duration_ms": t.duration_ms,
                "first_seen": t.first_seen,
                "last_seen": t.last_seen,
                "name": t.name,
                "stints": t.stints,
                "url": t.url,
            }
            for t in view.tracks
        ],
        "url": view.url,
    }


def _opt(value: str | int | None) -> str:
    if value is None:
        return "null"
    return _encode(value) if isinstance(value, str) else str(value)


@functools.lru_cache(maxsize=1 << 16)  # albums repeat across tracks
def _album_json(album: LinkTuple) -> str:
    return (f'{{\n        "name": {_encode(album[0])},\n        "url": {_encode(album[1])}\n'
            "      }")


@functools.lru_cache(maxsize=1 << 16)  # artists repeat across tracks
def _artists_json(artists: tuple[LinkTuple, ...]) -> str:
    if not artists:
        return "[]"
    return "[\n" + ",\n".join([
        f'        {{\n          "name": {_encode(a[0])},\n          "url": {_encode(a[1])}\n'
        "        }"
        for a in artists
    ]) + "\n      ]"


def cumulative_json(view: CumulativeView) -> str:
    """``model.dump_json(cumulative_dict(view))``, written directly (same bytes, faster)."""
    enc = _encode
    out = [
        "{\n",
        f'  "date_first_scraped": {enc(view.date_first_scraped)},\n',
        f'  "description": {enc(view.description)},\n',
    ]
    if view.fetch_gaps:
        out.append(
            '  "fetch_gaps": [\n'
            + ",\n".join(
                f'    {{\n      "from": {enc(a)},\n      "to": {_opt(b)}\n    }}'
                for a, b in view.fetch_gaps
            )
            + "\n  ],\n"
        )
    out.append(f'  "name": {enc(view.name)},\n')
    items = []
    # Dates are YYYY-MM-DD (nothing to escape): quoted as they are, not through the encoder.
    for (url, name, album, artists, duration, added, star, removed, first, last_seen, stints,
         user) in view.tracks:
        gone = "null" if removed is None else f'"{removed}"'
        last = "null" if last_seen is None else f'"{last_seen}"'
        by = "" if user is None else f'      "added_by": {enc(user)},\n'
        items.append(
            f'    {{\n{by}      "album": {_album_json(album)},\n'
            f'      "artists": {_artists_json(artists)},\n'
            f'      "date_added": "{added}",\n'
            f'      "date_added_asterisk": {"true" if star else "false"},\n'
            f'      "date_removed": {gone},\n'
            f'      "duration_ms": {"null" if duration is None else duration},\n'
            f'      "first_seen": "{first}",\n'
            f'      "last_seen": {last},\n'
            f'      "name": {enc(name)},\n'
            f'      "stints": {stints},\n'
            f'      "url": {enc(url)}\n'
            "    }"
        )
    out.append('  "tracks": [\n' + ",\n".join(items) + "\n  ],\n" if items
               else '  "tracks": [],\n')
    out.append(f'  "url": {enc(view.url)}\n}}\n')
    return "".join(out)


# ------------------------------------------------------------------ markdown


def _user_link(user: str | None) -> str:
    return render.md_link(user, f"https://open.spotify.com/user/{user}") if user else ""


@functools.lru_cache(maxsize=1 << 16)  # artists repeat across tracks
def _artists_md(artists: tuple[LinkTuple, ...]) -> str:
    return ", ".join([render.md_link(a[0], a[1]) for a in artists])


@functools.lru_cache(maxsize=1 << 16)  # albums repeat across tracks
def _album_md(album: LinkTuple) -> str:
    return render.md_link(album[0], album[1])


STAR = "\\*"  # the markdown of an asterisk: "date added" not known exactly


def md_rows(tracks: list[CumulativeTrack], by: bool) -> str:
    """The table rows, each ending in a newline:
    ``Title | Artist(s) | Album | Length | Added | Last seen | Removed``.

    ``by``: an ``Added by`` column after ``Added`` (collaborative playlists).
    Written in one loop (not a template loop): most of a full rebuild's rendering.
    """
    length_of = render.format_length
    titles = render.md_links([t[1] for t in tracks], [t[0] for t in tracks])
    out = []
    for (_url, _name, album, artists, duration, added, star, removed, _first, last, _stints,
         user), title in zip(tracks, titles, strict=True):
        length = "" if duration is None else length_of(duration)
        out.append(
            f"| {title} | {_artists_md(artists)} | {_album_md(album)} | {length} "
            f"| {added}{STAR if star else ''} |{f' {_user_link(user)} |' if by else ''}"
            f" {last or ''} | {removed or ''} |\n"
        )
    return "".join(out)


_PICTURES = (
    "![Tenure: a lane per track, a bar per stint](../charts/{pid}-tenure.svg)\n"
    "![Tracks added and removed per week](../charts/{pid}-churn.svg)\n"
    "![Followers over time](../charts/{pid}-followers.svg)\n\n"
    "[Atom feed of changes](../feeds/{pid}.xml)\n\n"
)
_TABLE = ("| Title | Artist(s) | Album | Length | Added | Last seen | Removed |\n"
          "|---|---|---|---|---|---|---|\n")
_TABLE_BY = ("| Title | Artist(s) | Album | Length | Added | Added by | Last seen | Removed |\n"
             "|---|---|---|---|---|---|---|---|\n")


def cumulative_md(view: CumulativeView, githistory_base: str | None) -> str:
    """The human view, escaped like the pretty file: what archive/templates/cumulative.md.j2
    renders (a property test holds them equal), written out here so that a daily rebuild
    need not load and compile a template engine for it."""
    gaps = view.gap_texts()
    total = render.format_total(sum([t.duration_ms or 0 for t in view.tracks]))
    return "".join((
        render.header("cumulative", view.pid, githistory_base), "\n\n",
        "### ", render.md_link(view.name, view.url), "\n\n",
        "> ", render.escape_md(view.description.strip()), "\n\n",
        render.plural(len(view.tracks), "song"), " - ", total, "\n",
        f"\nGaps: {'; '.join(gaps)} (no date moves through a run that could not fetch it)\n"
        if gaps else "",
        "\n", _PICTURES.format(pid=view.pid),
        _TABLE_BY if view.collaborative else _TABLE,
        md_rows(view.tracks, view.collaborative),
        f"\n\\*This playlist was first scraped on {view.date_first_scraped}. "
        "Prior content cannot be recovered.\n",
    ))


def render_files(
    view: CumulativeView, githistory_base: str | None
) -> dict[str, bytes]:
    """Both cumulative files of one playlist: path -> content."""
    return {
        layout.cumulative_json_path(view.pid): cumulative_json(view).encode("utf-8"),
        layout.cumulative_md_path(view.pid): cumulative_md(view, githistory_base).encode("utf-8"),
    }
