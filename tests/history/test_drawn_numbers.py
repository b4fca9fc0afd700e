"""The drawing's bulk shortcuts (numbers formatted in one C call, labels escaped joined,
turning points picked by C passes) against plain statements of what they must write."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from html import escape

from hypothesis import example, given, settings
from hypothesis import strategies as st

from gitarchive.archive.snapshots import TrackMeta
from gitarchive.history import charts, followers_chart, svg
from gitarchive.history.timeline import Change, Timeline

NUMBERS = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)


def _one_decimal(value: float) -> str:
    """The exact binary value rounded half to even to one decimal, written out."""
    return str(Decimal(value).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(NUMBERS, NUMBERS), max_size=12))
@example([(0.25, 0.35), (0.15, 2.675), (-0.04, -0.05), (1e9 - 0.05, 5.0), (0.0, -0.0)])
@example([(123.45, 99.95), (60.0, 180.0), (1.05, 0.45)])
def test_pairs_write_each_number_as_its_round_to_one_decimal(
        points: list[tuple[float, float]]) -> None:
    flat = [v for point in points for v in point]
    want = " ".join(f"{round(x, 1)},{round(y, 1)}" for x, y in points)
    assert svg.pairs(flat) == want
    assert want == " ".join(f"{_one_decimal(x)},{_one_decimal(y)}" for x, y in points)


def _day(n: int) -> str:
    return (datetime(2025, 1, 1) + timedelta(days=n)).date().isoformat()


def _turning(followers: Mapping[str, object]) -> list[tuple[int, int]]:
    """The days' counts in order; kept: the first, each whose count differs from the day
    before's, and each the day after which differs from it."""
    points = sorted((svg.day_start(day) or 0, count) for day, count in followers.items()
                    if type(count) is int and svg.day_start(day) is not None)
    return [(when, count) for i, (when, count) in enumerate(points)
            if i == 0 or count != points[i - 1][1]
            or (i + 1 < len(points) and points[i + 1][1] != count)]


_COUNTS = st.dictionaries(
    st.one_of(st.integers(0, 60).map(_day), st.sampled_from(["junk", "2025-1-2", "2025-W02-3",
                                                             "20250105", "2025-01-02T00:00"])),
    st.one_of(st.integers(0, 4), st.integers(0, 10**7), st.sampled_from([True, 2.5, "3", None])),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(_COUNTS, st.randoms())
def test_turning_points_are_the_days_the_line_turns(followers: dict[str, int],
                                                   rng: object) -> None:
    assert followers_chart.turning_points(followers) == _turning(followers)
    shuffled = list(followers.items())
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert followers_chart.turning_points(dict(shuffled)) == _turning(followers)


@settings(max_examples=300, deadline=None)
@given(_COUNTS)
def test_followers_line_goes_through_each_turning_point(followers: dict[str, int]) -> None:
    """x: the time across the 820 pixels from the first point to the last (a day at
    least); y: the count up the 140 pixels of the grid's range; both as ``round(v, 1)``."""
    points = _turning(followers)
    text = followers_chart.followers_svg(followers).decode()
    line = re.findall(r'<polyline points="([^"]*)"', text)
    if not points:
        assert not line
        return
    start, end = points[0][0], max(points[-1][0], points[0][0] + svg.DAY)
    counts = [c for _, c in points]
    step = svg.nice_step(max(max(counts) - min(counts), 1))
    lo = (min(counts) // step) * step
    hi = lo + step * max(1, -(-(max(counts) - lo) // step))
    want = [f"{round(60 + (t - start) * 820 / (end - start), 1)},"
            f"{round(180 - (c - lo) * (140 / max(hi - lo, 1)), 1)}" for t, c in points]
    assert line == [" ".join(want)]


_TEXT = st.text(alphabet=st.sampled_from("ab &<>\"'é—😀\x00 "), max_size=50)


def _label(meta: TrackMeta | None, key: str) -> tuple[str, str]:
    """A lane's label: name — artists (or the key), escaped, as UTF-8 bytes a character;
    cut to 42 characters with an ellipsis."""
    if meta is None:
        real = key
    else:
        artists = ", ".join(a[0] for a in meta.artists)
        real = f"{meta.name} — {artists}" if artists else meta.name
    short = real if len(real) <= 42 else real[:41].rstrip() + "…"
    return (escape(real).encode().decode("latin-1"), escape(short).encode().decode("latin-1"))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.none(), st.tuples(_TEXT, st.lists(_TEXT, max_size=3))),
                max_size=8))
@example([("A name long enough to be cut short: ñandú", ["Señor"]), ("x" * 40, ["y"]),
          ("ASCII, cut ASCII, cut ASCII, cut ASCII", ["Artist"]), ("", [""]), None])
def test_lane_labels_are_each_track_named_escaped_and_cut(
        tracks: list[tuple[str, list[str]] | None]) -> None:
    metas = {f"k{n}": TrackMeta("u", t[0], ("a", "u"), tuple((a, "u") for a in t[1]), None)
             for n, t in enumerate(tracks) if t is not None}
    keys = [f"k{n}" for n in range(len(tracks))]
    whole, short = svg.lane_labels(metas, keys)
    assert list(zip(whole, short, strict=True)) == [_label(metas.get(k), k) for k in keys]


def test_lanes_are_ordered_by_first_seen_then_key() -> None:
    at = int(datetime(2024, 5, 1, tzinfo=UTC).timestamp())
    tracks = {k: TrackMeta("", k, ("", ""), (), None) for k in ("b", "a", "d", "c", "e")}
    timeline = Timeline(pid="p", name="p", tracks=tracks, changes=[
        Change(at, "", "b0", added=["d", "b"], first=True),
        Change(at + 86_400, "", "b1", added=["c", "a"], removed=["d"]),
        Change(at + 2 * 86_400, "", "b2", added=["d", "e"]),  # d back: its lane stays first
    ])
    text = charts.tenure_svg(timeline).decode()
    assert re.findall(r"<text [^>]*><title>(\w)</title>", text) == ["b", "d", "a", "c", "e"]


@settings(max_examples=300, deadline=None)
@given(_COUNTS)
def test_a_followers_file_keeps_the_days_counts(followers: dict[str, object]) -> None:
    """Its days (``YYYY-MM-DD`` text) with a whole count each: nothing else, whatever the
    file holds (a file of only those is read as it is)."""
    data = json.dumps(followers).encode()
    want = {day: count for day, count in followers.items()
            if type(count) is int and svg.day_start(day) is not None}
    assert followers_chart.parse_followers(data) == want
    assert followers_chart.parse_followers(json.dumps(want).encode()) == want
