"""The followers chart: a playlist's follower count over time, from ``followers/<id>.json``.

Drawn through the days the count changed (``turning_points``), so, like the other
charts (charts.py), it holds no "now": it ends at the last change of the count, and
a daily run that repeats the count (most days, for most playlists) leaves its bytes
as they are. The site's sparkline reads the same counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, tzinfo
from itertools import compress
from operator import lt, ne
from typing import cast

from gitarchive.history.svg import (
    DAY,
    GREEN,
    GRID,
    WIDTH,
    Axis,
    day_start,
    day_text,
    is_day,
    nice_step,
    pairs,
    svg_document,
)


def thousands(value: float) -> str:
    """An axis label in thousands: 0, 0.45k, 12.5k, 1,250k."""
    if value == 0:
        return "0"
    k = value / 1000
    if k >= 100 or k == int(k):
        return f"{k:,.0f}k"
    return f"{k:,.2f}".rstrip("0").rstrip(".") + "k"


def _value_axis(low: float, high: float, top: int, bottom: int) -> tuple[
    list[str], float, float
]:
    """Grid lines and thousands labels; returns them and the (low, high) the y scale uses."""
    step = nice_step(max(high - low, 1))
    lo = (low // step) * step
    hi = lo + step * max(1, -(-(high - lo) // step))
    out = []
    value = lo
    while value <= hi + step / 2:
        y = round(bottom - (value - lo) * (bottom - top) / max(hi - lo, 1), 1)
        out.append(f'<line x1="60" y1="{y}" x2="{WIDTH - 20}" y2="{y}" stroke="{GRID}"/>\n')
        out.append(f'<text x="54" y="{y + 4}" text-anchor="end" fill="#5f6368">'
                   f"{thousands(value)}</text>\n")
        value += step
    return out, lo, hi


def followers_svg(followers: Mapping[str, int], zone: tzinfo = UTC) -> bytes:
    """Follower count over time (from ``followers/<id>.json``: day -> count), drawn
    through its turning points, so it ends where the count last changed ("399 since
    ...") and a run that only repeats the count leaves the same bytes. It holds nothing
    else (no name: it is shown beside the playlist's), so a daily run draws it from the
    followers file alone."""
    points = turning_points(followers)
    title = "Follower count over time"
    height, top, bottom = 220, 40, 180
    body = ['<text x="10" y="18" font-size="14" font-weight="600">Followers</text>\n']
    if not points:
        body.append(f'<text x="60" y="{top + 40}" fill="#5f6368">No follower counts archived'
                    "</text>\n")
        return svg_document(WIDTH, height, title, body)
    start, end = points[0][0], max(points[-1][0], points[0][0] + DAY)
    axis = Axis(start, end, 60, WIDTH - 80, UTC)
    counts = [c for _, c in points]
    grid, lo, hi = _value_axis(min(counts), max(counts), top, bottom)
    body += grid
    body += axis.draw(top, bottom)
    scale = (bottom - top) / max(hi - lo, 1)
    x0, width, span = axis.x0, axis.width, max(axis.end - axis.start, 1)  # as Axis.x has them
    line = pairs([v for t, c in points
                  for v in (x0 + (t - start) * width / span, bottom - (c - lo) * scale)])
    body.append(f'<polyline points="{line}" fill="none" stroke="{GREEN}" stroke-width="2"/>\n')
    last_t, last_c = points[-1]
    body.append(f'<text x="{WIDTH - 20}" y="18" text-anchor="end">{last_c:,} since '
                f"{day_text(last_t, UTC)}</text>\n")
    return svg_document(WIDTH, height, title, body)


def turning_points(followers: Mapping[str, int]) -> list[tuple[int, int]]:
    """(midnight UTC, count) of the days a followers chart needs, in order: the first,
    each day the count changed and the day before it. A day repeating the count
    between those lies on the line drawn anyway, and one after the last change adds
    nothing "since" does not say: a daily run that repeats the count (most days, for
    most playlists) draws the same chart."""
    starts, counts = list(map(day_start, followers)), list(followers.values())
    if None in starts or set(map(type, counts)) - {int}:  # what is not a day's count: left out
        kept = [(when, count) for when, count in zip(starts, counts, strict=True)
                if when is not None and type(count) is int]
        whens, counts = [when for when, _ in kept], [count for _, count in kept]
    else:
        whens = cast(list[int], starts)
    if not all(map(lt, whens, whens[1:])):  # a file's days are in order: no tuples to sort
        ordered = sorted(zip(whens, counts, strict=True))
        whens, counts = [when for when, _ in ordered], [count for _, count in ordered]
    if not whens:
        return []
    # The first, and each day whose count differs from the day before's, and that day.
    changed = list(compress(range(1, len(counts)), map(ne, counts, counts[1:])))
    return [(whens[i], counts[i]) for i in sorted({0, *changed, *[i - 1 for i in changed]})]


def repeats_in(counts: Mapping[str, object], day: str, count: int) -> bool:
    """Whether adding ``day: count`` to the counts read from a followers file leaves its
    chart as it is: a day after the last at the last count (a flat tail, which
    ``turning_points`` leaves out). Exact for what ``parse_followers`` keeps of them:
    the greatest key, if a day with a count, is the last day it keeps (days sort as
    their text)."""
    if not counts or day in counts:
        return False
    last = max(counts)
    return (last < day and type(counts[last]) is int and counts[last] == count
            and is_day(last) and is_day(day))


def parse_followers(data: bytes | None) -> dict[str, int]:
    """``followers/<id>.json`` as day -> count; anything else in it (or no file) is ignored."""
    try:
        parsed = json.loads(data) if data else {}
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    # day_start: is_day memoised (a year of days in each of 1,000 files are the same days);
    # a file of days and counts only (the archive's own) is kept as parsed, not copied.
    if set(map(type, parsed.values())) <= {int} and None not in map(day_start, parsed):
        return parsed
    return {k: v for k, v in parsed.items() if type(v) is int and day_start(k) is not None}


# A followers file as the archive writes it (snapfiles.followers_json), and one of its lines.
# Possessive (*+): a line ending in ",\n" is never the last one, so nothing is given back.
_FILE = re.compile(rb'\{\n(?:  "\d{4}-\d\d-\d\d": (?:0|[1-9]\d*+),\n)*+'
                   rb'  "\d{4}-\d\d-\d\d": (?:0|[1-9]\d*+)\n\}\n')
_LINE = re.compile(rb'  "\d{4}-\d\d-\d\d": (?:0|[1-9]\d*)')
_END = b"\n}\n"


def repeats_the_count(old: bytes | None, new: bytes | None) -> bool:
    """Whether ``new`` is ``old`` with one day added after its last at its last count,
    both as the archive writes them (sorted days, one a line): then their charts are
    the same bytes (``turning_points``: the day is flat tail), and a daily run need not
    draw it. False where that is not seen at a glance: the caller draws and compares.
    The rule a daily run's check applies in two steps (pictures.py): the line added
    (``day_added``), and the earlier text (``layouts_own``, unless seen before)."""
    found = day_added(new)
    return found is not None and found[1] and found[0] == old and layouts_own(old)


def day_added(new: bytes | None) -> tuple[bytes, bool] | None:
    """(the text ``new`` had before its last line was added, whether that line repeats
    the count) when that line is a later day than the one before, as the archive writes
    it; else None. Not checked: that earlier text is the layout's own (``layouts_own``);
    when it is, so is ``new``, and its chart is the earlier one's if the count repeats.

    Why exact: the lines of such a file compare as their days do (each is
    ``  "YYYY-MM-DD": N``), so lines in order put the latest day last, whose count the
    parse keeps (a day twice: the last line wins in JSON too)."""
    if not new or not new.endswith(_END):
        return None
    body = new.rfind(b",\n", 0, len(new) - len(_END))
    if body < 0:
        return None
    added = new[body + 2:len(new) - len(_END)]
    last = new[new.rfind(b"\n", 0, body) + 1:body]  # the earlier text's last line
    if _LINE.fullmatch(added) is None or added[3:13] <= last[3:13] \
            or not is_day(added[3:13].decode()):
        return None
    return new[:body] + _END, added[16:] == last[16:]


def layouts_own(data: bytes | None) -> bool:
    """Whether a followers file is as the archive writes it: one day a line (``_FILE``),
    in order, the last a real day (``parse_followers`` keeps it: the greatest). A file
    seen so need not be scanned again: the next day's is checked against it by its last
    line (``day_added``), its blob id kept in the saved state (state.followers)."""
    if not data or _FILE.fullmatch(data) is None:
        return False
    lines = data[2:len(data) - len(_END)].split(b",\n")
    return lines == sorted(lines) and is_day(lines[-1][3:13].decode())


def sparkline_svg(followers: Mapping[str, int], width: int = 120, height: int = 24) -> str:
    """A tiny follower line for the site's index (inline; empty when no counts)."""
    counts = [c for _, c in sorted(followers.items()) if isinstance(c, int)]
    if len(counts) < 2:
        return ""
    lo, hi = min(counts), max(counts)
    span = max(hi - lo, 1)
    step = width / (len(counts) - 1)
    line = " ".join(
        f"{round(i * step, 1)},{round(height - 2 - (c - lo) * (height - 4) / span, 1)}"
        for i, c in enumerate(counts)
    )
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" aria-hidden="true"><polyline points="{line}" '
            f'fill="none" stroke="{GREEN}" stroke-width="1.5"/></svg>')
