"""Text the query commands print: aligned tables, CSV, log and diff lines.

Kept apart from the questions (query.py) so that what is asked and how it is
shown change for different reasons.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

from gitarchive.visible import columns, is_one_line, one_line, same_width
from gitarchive.visible import cut as visible_cut

if TYPE_CHECKING:  # search's table needs none of these (nor pygit2 and jinja2 behind them)
    from gitarchive.archive.model import Playlist, Track
    from gitarchive.questions.changes import Change
    from gitarchive.questions.index import TrackRow
    from gitarchive.questions.query import Diff, DiffEntry, Snapshot

SHOW_FORMATS = ("table", "md", "json", "csv", "plain")

DateFn = Callable[[int | None], str | None]


def artists(track: Track) -> str:
    return ", ".join(a.name for a in track.artists)


def days(zone: tzinfo) -> DateFn:
    """Epoch seconds -> YYYY-MM-DD in ``zone``, each distinct time converted once."""

    @functools.cache
    def day(epoch: int | None) -> str | None:
        return None if epoch is None else datetime.fromtimestamp(epoch, zone).strftime("%Y-%m-%d")

    return day


def known_zone(name: str | None) -> tzinfo | None:
    """The zone ``name`` (None or "UTC": UTC); None when zoneinfo does not know it."""
    if not name or name.upper() == "UTC":
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # the time zone database: when named

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int = 0) -> str:
    """Left-aligned columns separated by two spaces; the widest column shrinks to ``width``.

    Each cell is one line of text a terminal shows as it is (``visible.one_line``: a
    newline, tab or escape sequence in a name would break the row or be obeyed), and
    is measured in terminal columns (a CJK character takes two, a combining mark none).
    Both are checked a whole column at a time: a common word finds tens of thousands.
    """
    cols: list[Sequence[str]] = []
    same: list[bool] = []  # a column whose every character takes one terminal column
    changed = False  # a column's cells were rewritten: the rows are made from the columns
    for column in zip(headers, *rows, strict=True):
        col: Sequence[str] = column
        text = "".join(col)
        if not is_one_line(text):
            col, changed = tuple(map(one_line, col)), True
            text = "".join(col)
        cols.append(col)
        same.append(same_width(text))
    natural = [max(map(len if s else columns, col)) for col, s in zip(cols, same, strict=True)]
    widths = _shrunk(natural, width)
    # A column that is cut or holds wide characters is padded here, cell by cell; the
    # others by one %-format a row, cheaper than str.format's specs (the last column is
    # not padded: it is stripped).
    formats = []
    for i, (col, s, w) in enumerate(zip(cols, same, widths, strict=True)):
        if s and natural[i] <= w:
            formats.append(f"%-{w}s")
        else:
            cols[i], changed = [_fit(cell, w, len if s else columns) for cell in col], True
            formats.append("%s")
    line = "  ".join([*formats[:-1], "%s"])
    cells = zip(*cols, strict=True) if changed else (headers, *rows)
    return "\n".join([(line % tuple(row)).rstrip() for row in cells]) + "\n"


def _shrunk(widths: list[int], width: int) -> list[int]:
    """The columns' widths cut to fit ``width`` (0: as they are), the widest first, each
    kept at least 8 characters."""
    widths = list(widths)
    excess = sum(widths) + 2 * (len(widths) - 1) - width if width else 0
    for i in sorted(range(len(widths)), key=lambda i: -widths[i]):
        if excess <= 0:
            break
        cut = min(excess, max(widths[i] - 8, 0))
        widths[i] -= cut
        excess -= cut
    return widths


def _fit(cell: str, width: int, measure: Callable[[str], int]) -> str:
    if measure is len:
        return cell.ljust(width) if len(cell) <= width else cell[: width - 1] + "…"
    shown = cell if measure(cell) <= width else visible_cut(cell, width)
    return shown + " " * (width - measure(shown))


# -------------------------------------------------------------------- show


def show(snapshot: Snapshot, fmt: str, date: DateFn, width: int = 0,
         as_of: tuple[str, int | None] = ("", None)) -> str:
    """A snapshot in one of SHOW_FORMATS; ``as_of`` (query.as_of) heads the table."""
    from gitarchive.archive import render

    playlist = snapshot.playlist
    if fmt == "json":
        return (snapshot.raw_json or playlist.to_json().encode()).decode("utf-8")
    if fmt == "md":
        return render.pretty_md(playlist)
    if fmt == "plain":
        return render.plain(playlist)
    if fmt == "csv":
        return _show_csv(playlist)
    return _show_table(snapshot, date, width, as_of)


def _show_csv(playlist: Playlist) -> str:
    import csv

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("position", "track_id", "name", "artists", "album", "duration_ms",
                     "added_at", "url", "added_by"))
    for i, t in enumerate(playlist.tracks, 1):
        writer.writerow((i, t.id, t.name, artists(t), t.album.name, t.duration_ms,
                         t.added_at or "", t.url, t.added_by or ""))
    return out.getvalue()


def _archived(snapshot: Snapshot, date: DateFn, as_of: tuple[str, int | None]) -> str:
    """``as of the latest run, DAY; last changed DAY (commit C)``: what the table shows
    is the archive at one moment, holding a version written at another."""
    label, when = as_of
    said = (f"as of {label}" + (f", {date(when)}" if when is not None else "")
            if label else "as archived")
    if snapshot.changed is None:
        return f"{said} (commit {snapshot.commit[:12]})"
    changed, commit = snapshot.changed
    return f"{said}; last changed {date(changed)} (commit {commit[:12]})"


def _show_table(snapshot: Snapshot, date: DateFn, width: int,
                as_of: tuple[str, int | None]) -> str:
    from gitarchive.archive import render

    playlist = snapshot.playlist
    total = render.total_length(playlist.tracks)
    head = [
        f"{one_line(playlist.name)}  ({snapshot.pid})",
        f"{_archived(snapshot, date, as_of)}: "
        f"{render.plural(len(playlist.tracks), 'song')}, {render.format_total(total)}",
    ]
    if playlist.description.strip():
        head.append(one_line(" ".join(playlist.description.split())))
    by = any(t.added_by for t in playlist.tracks)  # the column only when Spotify said
    rows = [
        (str(i), t.name, artists(t), t.album.name, render.format_length(t.duration_ms),
         *((t.added_by or "",) if by else ()))
        for i, t in enumerate(playlist.tracks, 1)
    ]
    headers = ("No.", "Title", "Artist(s)", "Album", "Length", *(("Added by",) if by else ()))
    body = table(headers, rows, width)
    return "\n".join(head) + "\n\n" + body


# --------------------------------------------------------------------- log


def log_line(change: Change, date: DateFn) -> str:
    """``2024-03-01  +2 −1  name: "New name"``: one line per change."""
    parts = [date(change.time) or "", f"+{len(change.added)} −{len(change.removed)}"]
    if change.first:
        parts.append("first snapshot")
    if not change.archived:
        parts.append("snapshot deleted: no longer archived")
    if change.name is not None:
        parts.append(f"name: {change.name!r}")
    if change.description is not None:
        parts.append(f"description: {' '.join(change.description.split())!r}")
    return "  ".join(parts)


# -------------------------------------------------------------------- diff


def diff_text(result: Diff, date: DateFn, width: int = 0) -> str:
    """Added then removed tracks, each with the date it was added or removed."""
    before = (
        f"{date(result.before.time)} ({result.before.commit[:12]})"
        if result.before else "nothing (first snapshot)"
    )
    after = f"{date(result.after.time)} ({result.after.commit[:12]})"
    out = [
        f"{one_line(result.after.playlist.name)}  ({result.after.pid})",
        f"from {before} to {after}: +{len(result.added)} −{len(result.removed)}",
    ]
    for label, entries, sign in (("Added", result.added, "+"),
                                 ("Removed", result.removed, "−")):
        if entries:
            out.append("")
            out.append(f"{label}:")
            out.append(table(("", "Date", "Title", "Artist(s)", "Album"),
                             _diff_rows(entries, sign, date), width).rstrip("\n"))
    return "\n".join(out) + "\n"


def _diff_rows(entries: list[DiffEntry], sign: str, date: DateFn) -> list[tuple[str, ...]]:
    rows = [(sign, date(e.when) or "?", e.track.name, artists(e.track), e.track.album.name)
            for e in entries]
    return sorted(rows, key=lambda r: (r[1], r[2].lower()))


# ------------------------------------------------------------------ search


def search_text(hits: list[TrackRow], date: DateFn, width: int = 0) -> str:
    by = any(t.added_by for t in hits)  # the column only when some snapshot said
    rows = [  # a common word finds tens of thousands: each row unpacked once
        (playlist, name, artists, album, date(first) or "", date(last) or "",
         "yes" if present else f"no (removed {date(removed)})" if deleted is None
         else f"no (snapshot deleted {date(deleted)})", *((added_by or "",) if by else ()))
        for playlist, _, _, name, artists, album, first, last, removed, present, added_by, deleted
        in hits
    ]
    headers = ("Playlist", "Title", "Artist(s)", "Album", "First seen", "Last seen",
               "Still there", *(("Added by",) if by else ()))
    return table(headers, rows, width)
