"""Static SVG pictures of a playlist's history: tenure swimlanes, followers, weekly churn.

Plain SVG written by a small writer (no plotting stack, no script, no external
font or style), so GitHub, any browser and any image viewer show it. Every text
from Spotify is escaped. A chart is a pure function of the timeline (and the
follower counts): no "now", so re-rendering an unchanged playlist gives the same
bytes and the files change only when the playlist does. The time axis therefore
ends at the playlist's last change, and present tracks reach that right edge. The
followers chart is in followers_chart.py.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, date, tzinfo

from gitarchive.history.svg import (
    DAY,
    GREEN,
    GREY,
    GRID,
    INK,
    PLOT_W,
    PLOT_X,
    RED,
    WIDTH,
    Axis,
    day_text,
    escape_svg,
    lane_labels,
    monday_of,
    mondays,
    nice_step,
    short_text,
    svg_document,
    utf8,
    week_heads,
)
from gitarchive.history.timeline import Timeline

LANE_H = 14
TOP = 46  # the tenure chart's first lane
MAX_LANES = 400  # beyond this, the oldest removed tracks are summarised in one lane


def _range(timeline: Timeline, extra: Sequence[int] = ()) -> tuple[int, int]:
    """The time range shown: first version to last change, padded; never empty."""
    times = [c.time for c in timeline.changes] + list(extra)
    start, end = (min(times), max(times)) if times else (0, DAY)
    pad = max((end - start) // 25, DAY)
    return start, end + pad


# ------------------------------------------------------------------ tenure


def tenure_svg(timeline: Timeline, zone: tzinfo = UTC, gaps: Sequence[Sequence[int]] = ()
               ) -> bytes:
    """One lane per track ever in the playlist, a bar per stint, ordered by first seen.

    ``gaps``: the runs that failed to fetch it, ``(first, last, still failing)``
    (history/state.py), drawn as bands across every lane.
    """
    stints = timeline.stints()
    order = sorted(stints)  # by first seen, then key: keys sorted, then stably by time
    order.sort(key=lambda key: stints[key][0][0])
    lanes = [(key, stints[key]) for key in order]
    hidden: list[tuple[str, list[tuple[int, int | None]]]] = []
    if len(lanes) > MAX_LANES:
        removed = [lane for lane in lanes if lane[1][-1][1] is not None]
        excess = len(lanes) - (MAX_LANES - 1)
        hide = {k for k, _ in removed[:excess]}
        if len(hide) < excess:  # more present tracks than lanes: the oldest of those too
            rest = [k for k, s in lanes if k not in hide]
            hide |= set(rest[: excess - len(hide)])
        hidden = [lane for lane in lanes if lane[0] in hide]
        lanes = [lane for lane in lanes if lane[0] not in hide]
    # An open gap adds only its start: its last run moves daily, the file must not.
    start, end = _range(timeline, [t for g in gaps for t in (g[:1] if g[2] else g[:2])])
    axis = Axis(start, end, PLOT_X, PLOT_W, zone)
    top = TOP
    rows = len(lanes) + (1 if hidden else 0)
    bottom = top + max(rows, 1) * LANE_H
    height = bottom + 30
    now = len(timeline.order)
    title = f"Tenure of every track in {timeline.name}"
    body = [
        '<text x="10" y="18" font-size="14" font-weight="600">'
        f"{escape_svg(short_text(timeline.name, 80))}</text>\n",
        f'<text x="10" y="34" fill="#5f6368">{len(stints)} tracks ever, {now} now; '
        "one lane per track, a bar per stint, oldest first</text>\n",
    ]
    body += axis.draw(top - 4, bottom)
    body += _gap_bands(axis, gaps, top, bottom)
    row = 0
    if hidden:
        first = min(s[0][0] for _, s in hidden)
        y = top + row * LANE_H
        body.append(f'<rect x="0" y="{y}" width="{WIDTH}" height="{LANE_H}" fill="#f1f3f4"/>\n')
        body.append(f'<text x="10" y="{y + 11}" font-style="italic">{len(hidden)} older tracks '
                    "not shown</text>\n")
        body.append(f'<rect x="{axis.x(first)}" y="{y + 3}" width="'
                    f'{max(axis.x(end) - axis.x(first), 1)}" height="{LANE_H - 6}" '
                    f'fill="{GREY}" opacity="0.4"/>\n')
        row += 1
    body += _lanes(timeline, lanes, axis, row)
    if not lanes and not hidden:
        body.append(f'<text x="{PLOT_X}" y="{top + 11}" fill="#5f6368">No tracks archived'
                    "</text>\n")
    return svg_document(WIDTH, height, title, body)


def _lanes(timeline: Timeline, lanes: list[tuple[str, list[tuple[int, int | None]]]],
           axis: Axis, row: int) -> list[str]:
    """A label and a bar per stint for each lane, from ``row`` down: one text per lane.

    Every bar of one (start, end) stint is the same but for its y: those tails are
    made once per axis (charts of playlists that changed first and last on the same runs
    share it: tens of thousands of bars, a few thousand distinct); the rows' own texts
    (stripe, label's y, bars' y) are made once for every chart.
    """
    tails = _bar_tails(axis)
    whole, short = lane_labels(timeline.tracks, [key for key, _ in lanes])
    heads = _row_heads(row + len(lanes))[row:row + len(lanes)]
    out = []
    for (_, spans), full, cut, (head, bar_y) in zip(lanes, whole, short, heads, strict=True):
        if len(spans) == 1:  # most lanes: one stint, its bar written with its label
            span = spans[0]
            tail = tails[span]
            out.append(f"{head}{'' if span[1] is None else _SHADE}><title>{full}</title>"
                       f"{cut}</text>\n{tail[0]}{bar_y}{tail[1]}")
            continue
        bars: list[str] = []
        for span in spans:
            tail = tails[span]
            bars += tail[0], bar_y, tail[1]
        out.append(f"{head}{'' if spans[-1][1] is None else _SHADE}><title>{full}</title>"
                   f"{cut}</text>\n{''.join(bars)}")
    return out


_SHADE = ' fill="#5f6368"'  # the label of a track no longer in the playlist
_HEADS: list[tuple[str, str]] = []


def _row_heads(rows: int) -> list[tuple[str, str]]:
    """Per lane row: its stripe (every other row) and its label's start, and its bars' y."""
    while len(_HEADS) < rows:
        row = len(_HEADS)
        y = TOP + row * LANE_H
        stripe = (f'<rect x="0" y="{y}" width="{WIDTH}" height="{LANE_H}" fill="#f8f9fa"/>\n'
                  if row % 2 else "")
        _HEADS.append((f'{stripe}<text x="10" y="{y + 11}"', str(y + 3)))
    return _HEADS


Tail = tuple[str, str]  # a stint's bar but for its y: the text before it and after it


class _Tails(dict[tuple[int, int | None], Tail]):
    """The bars' tails drawn on one axis so far, by stint, each made when first asked for
    (``tails[span]``: a lookup in C when it is known), and the axis' x of each time so far."""

    def __init__(self, axis: Axis) -> None:
        super().__init__()
        self.axis, self.xs = axis, dict[int, float]()

    def __missing__(self, span: tuple[int, int | None]) -> Tail:
        """A stint's bar but for its y."""
        axis, xs = self.axis, self.xs
        begin, stop = span
        until = axis.end if stop is None else stop
        x0 = xs.get(begin)
        if x0 is None:
            x0 = xs[begin] = axis.x(begin)
        x1 = xs.get(until)
        if x1 is None:
            x1 = xs[until] = axis.x(until)
        tail = self[span] = (  # ':.1f': a rounded float's repr, in about half the time
            f'<rect x="{x0:.1f}" y="',
            f'" width="{max(round(x1 - x0, 1), 1.5):.1f}" height="{LANE_H - 6}" rx="2" '
            f'fill="{GREEN if stop is None else GREY}">'
            f"<title>{_span_title(begin, stop, axis.zone)}</title></rect>\n",
        )
        return tail


@functools.lru_cache(maxsize=64)  # charts drawn one after another share few axes
def _bar_tails(axis: Axis) -> _Tails:
    """The bars' tails drawn on ``axis`` so far."""
    return _Tails(axis)


def _gap_bands(axis: Axis, gaps: Sequence[Sequence[int]], top: int, bottom: int) -> list[str]:
    """A red band per stretch the playlist was not fetched: its dates do not move there."""
    out = []
    for first, last, still in gaps:
        x0, x1 = axis.x(first), axis.x(axis.end if still else last)
        tip = (f"not fetched since {day_text(first, axis.zone)}" if still
               else f"not fetched {day_text(first, axis.zone)} → {day_text(last, axis.zone)}")
        out.append(f'<rect class="gap" x="{x0}" y="{top}" width="{max(round(x1 - x0, 1), 2)}" '
                   f'height="{bottom - top}" fill="{RED}" opacity="0.15"><title>{escape_svg(tip)}'
                   "</title></rect>\n")
    return out


_EN_DASH = utf8(" – ")


@functools.lru_cache(maxsize=1 << 15)  # the same runs begin and end many playlists' stints
def _span_title(begin: int, stop: int | None, zone: tzinfo) -> str:
    """``first day – last day`` of a stint (dates and words: nothing to escape)."""
    until = day_text(stop, zone) if stop is not None else "still there"
    return f"{day_text(begin, zone)}{_EN_DASH}{until}"


# ------------------------------------------------------------------- churn


def weekly_churn(timeline: Timeline, zone: tzinfo = UTC) -> list[tuple[date, int, int]]:
    """(Monday, tracks added, tracks removed) per week; the first snapshot is not churn."""
    weeks: dict[date, list[int]] = {}
    for change in timeline.changes:
        if change.first:
            continue
        monday = monday_of(change.time, zone)
        counts = weeks.setdefault(monday, [0, 0])
        counts[0] += len(change.added)
        counts[1] += len(change.removed)
    if not timeline.changes:
        return []
    first, last = timeline.changes[0].time, timeline.changes[-1].time
    none = (0, 0)
    return [(monday, *weeks.get(monday, none))
            for monday in mondays(monday_of(first, zone), monday_of(last, zone))]


_LEGEND = utf8(f'<text x="{WIDTH - 20}" y="18" text-anchor="end"><tspan fill="{GREEN}">■ added'
               f'</tspan>  <tspan fill="{RED}">■ removed</tspan></text>\n')
_MINUS = utf8("−")


def churn_svg(timeline: Timeline, zone: tzinfo = UTC) -> bytes:
    """Tracks added (up) and removed (down) per week."""
    weeks = weekly_churn(timeline, zone)
    title = f"Tracks added and removed per week in {timeline.name}"
    height, top, bottom = 240, 40, 200
    body = ['<text x="10" y="18" font-size="14" font-weight="600">Churn per week</text>\n',
            _LEGEND]
    if not weeks:
        body.append(f'<text x="60" y="{top + 40}" fill="#5f6368">No changes archived</text>\n')
        return svg_document(WIDTH, height, title, body)
    peak = max([a for _, a, _ in weeks] + [r for _, _, r in weeks]) or 1
    step = max(nice_step(peak, 2), 1)
    peak = int(step * max(1, -(-peak // step)))
    middle = (top + bottom) / 2
    scale = (bottom - top) / 2 / peak
    halves = (-peak / 2, peak / 2) if peak % 2 == 0 else ()  # whole tracks only
    for value in (-peak, *halves, 0, peak):
        y = round(middle - value * scale, 1)
        body.append(f'<line x1="60" y1="{y}" x2="{WIDTH - 20}" y2="{y}" '
                    f'stroke="{INK if value == 0 else GRID}"/>\n')
        body.append(f'<text x="54" y="{y + 4}" text-anchor="end" fill="#5f6368">'
                    f"{'+' if value > 0 else _MINUS if value < 0 else ''}{abs(value):g}</text>\n")
    heads, width = week_heads(len(weeks))
    ups: dict[int, str] = {}  # a bar's text from its y to its colour, per count of tracks
    downs: dict[int, str] = {}
    for n, (monday, added, removed) in enumerate(weeks):
        if not (added or removed):
            continue
        head = heads[n]
        tip = f"<title>week of {monday.isoformat()}: +{added} {_MINUS}{removed}</title></rect>\n"
        if added:
            up = ups.get(added)
            if up is None:
                h = round(added * scale, 1)
                up = ups[added] = (f'{round(middle - h, 1)}" width="{width}" height="{h}" '
                                   f'fill="{GREEN}">')
            body.append(f"{head}{up}{tip}")
        if removed:
            down = downs.get(removed)
            if down is None:
                down = downs[removed] = (f'{middle}" width="{width}" '
                                         f'height="{round(removed * scale, 1)}" fill="{RED}">')
            body.append(f"{head}{down}{tip}")
    first_day, last_day = weeks[0][0], weeks[-1][0]
    body.append(f'<text x="60" y="{bottom + 24}" fill="#5f6368">week of {first_day}</text>\n')
    body.append(f'<text x="{WIDTH - 20}" y="{bottom + 24}" text-anchor="end" fill="#5f6368">'
                f"week of {last_day}</text>\n")
    return svg_document(WIDTH, height, title, body)
