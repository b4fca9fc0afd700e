"""The SVG primitives of the charts (charts.py): the document, escaping, a time axis, weeks.

Kept apart from the charts themselves so each module stays short; every chart is a
pure function of its data, so these are memoised where the same input recurs across
the playlists of one rendering (axis marks, dates, escaped names).
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from html import escape

from gitarchive.archive.snapshots import TrackMeta

WIDTH = 900
LABEL_W = 280  # the track names' column of the tenure chart
PLOT_X = LABEL_W + 10
PLOT_W = WIDTH - PLOT_X - 20
DAY = 86_400

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
GREEN, RED, GREY, INK, GRID = "#1d9f50", "#d0453a", "#9aa0a6", "#202124", "#e3e5e8"


def utf8(text: str) -> str:
    """Text as its UTF-8 bytes, a character each (a one-byte str; ASCII stays as it is).

    Charts and feeds are written in such text and encoded as Latin-1 at the end (a copy):
    one dash, arrow or accent in a real str makes every text joined with it two (an emoji:
    four) bytes a character, and its UTF-8 encoding a pass over them all (~12 % of the
    charts' instructions, ~17 % of the feeds'). Escaping commutes with it (it changes ASCII
    only; a UTF-8 sequence holds none), cutting to a length does not: cut first.
    """
    return text if text.isascii() else text.encode("utf-8").decode("latin-1")


# What XML 1.0 allows in no document, escaped or not: C0 controls but tab, newline and
# carriage return (one byte each in UTF-8), and U+FFFE, U+FFFF (EF BF BE, EF BF BF).
_NOT_XML = bytes([*range(9), 11, 12, *range(14, 32)])
_NOT_XML_RE = re.compile(b"[" + re.escape(_NOT_XML) + b"]|\xef\xbf[\xbe\xbf]")
_REPLACEMENT = "\ufffd".encode()


def xml_bytes(text: str) -> bytes:
    """A chart's or feed's ``utf8`` text as the file's bytes, every character XML forbids
    (an escape sequence in a track name: the feed reader or the browser would refuse the
    whole document) replaced by U+FFFD. The check is one C pass (~1.5 GB/s)."""
    data = text.encode("latin-1")
    if len(data.translate(None, _NOT_XML)) == len(data) and b"\xef\xbf" not in data:
        return data
    return _NOT_XML_RE.sub(_REPLACEMENT, data)


def needs_escape(text: str) -> bool:
    """Whether ``escape`` would change the text: five scans of C speed, ~5x faster on a
    track's label than a character-class search (its characters one by one)."""
    return "&" in text or "<" in text or ">" in text or '"' in text or "'" in text


def escaped(text: str) -> str:
    """``escape(text, quote=True)``, without a copy when there is nothing to escape (most
    texts; those made once each are not worth ``escape_svg``'s cache)."""
    return escape(text, quote=True) if needs_escape(text) else text


@functools.lru_cache(maxsize=1 << 16)  # track, artist and album names repeat
def escape_svg(text: object) -> str:
    """Escaped for SVG text and attribute values, as ``utf8`` text."""
    return utf8(escape(str(text), quote=True))


@functools.lru_cache(maxsize=1 << 16)  # the same artists sing many tracks
def artist_names(artists: tuple[tuple[str, str], ...]) -> str:
    """``A, B``: the names of a track's artists (name, url), as its labels show them."""
    return ", ".join([a[0] for a in artists])


def svg_document(width: int, height: int, title: str, body: list[str]) -> bytes:
    """The SVG file's bytes from its ``utf8`` texts."""
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape_svg(title)}">\n'
        f"<title>{escape_svg(title)}</title>\n"
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>\n'
        f'<g style="{FONT}" font-size="11" fill="{INK}">\n'
    )
    return xml_bytes("".join([head, *body, "</g>\n</svg>\n"]))


LABEL_CHARS = 42  # a tenure lane's label, cut to this many characters


def short_text(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def lane_labels(tracks: Mapping[str, TrackMeta], keys: list[str]) -> tuple[list[str], list[str]]:
    """The tenure lanes' labels (a track's name and artists, or its key without metadata),
    whole (their tooltips) and cut to LABEL_CHARS characters, as escaped ``utf8`` text.

    Escaped and turned into UTF-8 bytes in one pass over them all joined by NULs (both
    rules go a character at a time, and a NUL is ASCII with nothing to escape): a pass per
    label was most of a tenure chart's time. A label holding a NUL is done on its own.
    """
    labels = []
    get = tracks.get
    for key in keys:
        meta = get(key)
        if not meta:
            labels.append(key)
            continue
        _, name, _, artists, _, _ = meta
        # One artist (most tracks): its name, without a call.
        by = artists[0][0] if len(artists) == 1 else artist_names(artists)
        labels.append(f"{name} — {by}" if by else name)
    joined = _NUL.join(labels)
    if joined.count(_NUL) == len(labels) - 1:
        whole = utf8(escaped(joined)).split(_NUL) if labels else []
    else:
        whole = [utf8(escaped(label)) for label in labels]
    return whole, [text if len(label) <= LABEL_CHARS else _cut(label)
                   for label, text in zip(labels, whole, strict=True)]


_NUL = "\x00"


def _cut(label: str) -> str:
    """A long label cut to LABEL_CHARS characters (not bytes), escaped ``utf8`` text."""
    return utf8(escaped(short_text(label)))



@dataclass(frozen=True)
class Axis:
    """A time axis: epoch seconds -> x pixels, with tick marks and labels."""

    start: int
    end: int
    x0: int
    width: int
    zone: tzinfo

    def x(self, when: int) -> float:
        return round(self.x0 + (when - self.start) * self.width / max(self.end - self.start, 1), 1)

    def ticks(self) -> list[tuple[int, str]]:
        """Month starts (``Feb``, ``Jan 2024``) when the range spans months, else days."""
        first = datetime.fromtimestamp(self.start, self.zone).date()
        last = datetime.fromtimestamp(self.end, self.zone).date()
        return [(t, label) for t, label in _day_ticks(first, last, self.width, self.zone)
                if self.start <= t <= self.end]

    def draw(self, top: int, bottom: int) -> list[str]:
        return list(_axis_marks(self, top, bottom))


@functools.lru_cache(maxsize=1 << 10)  # the axes of most charts begin and end on the same days
def _day_ticks(first: date, last: date, width: int, zone: tzinfo) -> tuple[tuple[int, str], ...]:
    """The ticks of an axis from day ``first`` to day ``last`` (``Axis.ticks``, unclipped)."""
    months = (last.year - first.year) * 12 + last.month - first.month
    found: list[tuple[int, str]] = []
    if months >= 2:
        # At most about one label per 60 px; the year only on the first and in January.
        step = next((s for s in (1, 2, 3, 6) if months / s * 60 <= width), 12)
        year, month = first.year, first.month
        while True:
            month += 1
            if month > 12:
                year, month = year + 1, 1
            day = date(year, month, 1)
            if day > last:
                break
            if (month - 1) % step == 0:
                name = calendar.month_abbr[month]
                label = f"{name} {year}" if month == 1 or not found else name
                found.append((_epoch(day, zone), label))
    else:
        days = max((last - first).days, 1)
        step = next(s for s in (1, 2, 7, 14, 28) if days / s <= 10)
        day = first + timedelta(days=1)
        while day <= last:
            if (day - first).days % step == 0:
                found.append((_epoch(day, zone), day.strftime("%b %d")))
            day += timedelta(days=1)
    return tuple(found)


def _epoch(day: date, zone: tzinfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


@functools.lru_cache(maxsize=1 << 10)  # most playlists of an archive span the same days
def _axis_marks(axis: Axis, top: int, bottom: int) -> tuple[str, ...]:
    """The tick lines and labels of an axis."""
    out = []
    for when, label in axis.ticks():
        x = f"{axis.x(when):.1f}"  # its repr (a rounded float's), written once, for less
        out.append(f'<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="{GRID}"/>\n')
        out.append(f'<text x="{x}" y="{bottom + 14}" text-anchor="middle" '
                   f'fill="#5f6368">{escape_svg(label)}</text>\n')
    return tuple(out)


def pairs(values: list[float]) -> str:
    """``x,y x,y ...`` of ``values`` (x, y, x, y, ...), each as ``str(round(v, 1))`` writes
    it, in one C format of them all: a round and a float's repr per number was most of a
    year-long followers chart. The same text for every |v| < 1e15: both round the exact
    binary value, half to even, to one decimal, and that decimal is the shortest text of
    the float nearest it."""
    return ("%.1f,%.1f " * (len(values) // 2) % tuple(values))[:-1]


@functools.lru_cache(maxsize=1 << 14)  # a few distinct run times
def day_text(when: int, zone: tzinfo) -> str:
    return datetime.fromtimestamp(when, zone).strftime("%Y-%m-%d")


# ------------------------------------------------- weeks and days (charts.py)


@functools.lru_cache(maxsize=1 << 10)  # most playlists' charts span the same weeks
def mondays(first: date, last: date) -> tuple[date, ...]:
    """Every Monday from ``first`` to ``last`` (both Mondays)."""
    found = []
    while first <= last:
        found.append(first)
        first += WEEK
    return tuple(found)


WEEK = timedelta(days=7)


@functools.lru_cache(maxsize=1 << 14)  # a few distinct run times
def monday_of(when: int, zone: tzinfo) -> date:
    """The Monday of the week of a time."""
    day = datetime.fromtimestamp(when, zone).date()
    return day - timedelta(days=day.weekday())


def is_day(text: str) -> bool:
    """Whether the text is a ``YYYY-MM-DD`` day (the follower counts' keys)."""
    try:
        date.fromisoformat(text)
    except (TypeError, ValueError):
        return False
    return len(text) == 10


@functools.lru_cache(maxsize=1 << 14)  # the same days in every playlist's counts
def day_start(text: str) -> int | None:
    """The epoch of midnight UTC of a ``YYYY-MM-DD`` day; None for any other text."""
    if not is_day(text):
        return None
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@functools.lru_cache(maxsize=64)  # most playlists' charts span the same number of weeks
def week_heads(weeks: int) -> tuple[tuple[str, ...], float]:
    """Each week's bar up to its y (``<rect x=".." y="``) and the bars' width, for a chart
    of ``weeks`` weeks."""
    slot = (WIDTH - 80) / weeks
    bar = max(min(slot * 0.8, 24), 1)
    return (tuple(f'<rect x="{round(60 + n * slot + (slot - bar) / 2, 1)}" y="'
                  for n in range(weeks)), round(bar, 1))


def nice_step(top: float, ticks: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) for about ``ticks`` grid lines."""
    raw = max(top / ticks, 1e-9)
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if magnitude * factor >= raw:
            return magnitude * factor
    return magnitude * 10
