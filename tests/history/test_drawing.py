"""The charts' and feeds' shortcuts (memos shared across charts, text escaped in one pass)
against plain statements of what they must write, on hand-made timelines."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from gitarchive.archive.snapshots import TrackMeta
from gitarchive.history import charts, feeds, followers_chart, svg
from gitarchive.history.timeline import Change, Timeline
from gitarchive.ops.snapfiles import followers_json

ATOM = "{http://www.w3.org/2005/Atom}"
NEW_YORK = ZoneInfo("America/New_York")
HOSTILE = ["Plain", "Rock & Roll", "<b>bold</b>", 'say "hi"', "Don't", "&amp; already", ""]


def _at(day: str, hour: int = 2) -> int:
    """A time on ``day`` at ``hour`` UTC (2 am: the evening before in New York)."""
    return int((datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(hours=hour))
               .timestamp())


def _timeline(pid: str, names: list[str], changes: list[Change]) -> Timeline:
    tracks = {
        f"t{n}": TrackMeta(
            "" if n % 3 == 2 else f"https://open.spotify.com/track/{n}?a=1&b='2'",
            name, ("Album", "https://open.spotify.com/album/1"),
            () if n % 4 == 3 else tuple((f"{name} Artist {k}", "u") for k in range(n % 3)),
            1000 * n,
        )
        for n, name in enumerate(names)
    }
    return Timeline(pid=pid, name=f"{pid} & <co>", url="https://open.spotify.com/playlist/x",
                    tracks=tracks, changes=changes)


def _history(pid: str, shift: int) -> Timeline:
    """Seven tracks over two months; ``shift`` days later for a second playlist."""
    day = datetime(2024, 1, 1 + shift).date()
    when = [_at(str(day + timedelta(days=d))) for d in (0, 1, 9, 20, 40, 58)]
    return _timeline(pid, HOSTILE, [
        Change(when[0], "", "b0", added=["t0", "t1", "t2"], name=pid, first=True),
        Change(when[1], "", "b1", added=["t3"], removed=["t1"], name=f"{pid} 'again'"),
        Change(when[2], "", "b2", added=["t4", "t1"], description="<p>new</p> & more"),
        Change(when[3], "", "b3", removed=["t0", "t4"]),
        Change(when[4], "", "b4", added=["t5", "t6", "t0"]),
        Change(when[5], "", "b5", removed=["t3"], added=["t9"]),  # t9: no metadata kept
    ])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab &<>\"'é;#x"), max_size=12))
def test_needs_escape_is_whether_escape_changes_the_text(text: str) -> None:
    assert svg.needs_escape(text) == (escape(text, quote=True) != text)


def _reference_html(timeline: Timeline, change: Change) -> str:
    """The entry's html as the feed's readers get it (before it is escaped for XML)."""
    parts = []
    if change.name is not None and not change.first:
        parts.append(f"<p>Renamed to “{escape(change.name)}”</p>")
    if change.description is not None:
        parts.append(f"<p>New description: {escape(change.description)}</p>")
    for label, keys in (("Added", change.added), ("Removed", change.removed)):
        items = []
        for key in keys:
            meta = timeline.tracks.get(key)
            if meta is None:
                continue
            artists = ", ".join(a[0] for a in meta.artists)
            name = (f'<a href="{escape(meta.url)}">{escape(meta.name)}</a>' if meta.url
                    else escape(meta.name))
            items.append(f"<li>{name} — {escape(artists)}</li>" if artists
                         else f"<li>{name}</li>")
        if keys:
            parts.append(f"<h3>{label}</h3><ul>{''.join(items)}</ul>")
    return "".join(parts) or "<p>No change of tracks.</p>"


def test_feed_content_is_the_html_escaped_once_more() -> None:
    a = _history("a", 0)
    for change in a.changes:
        content = feeds.change_content(a, change).encode("latin-1").decode("utf-8")  # utf8 text
        assert content == escape(_reference_html(a, change))
    odd = _timeline("odd", ["a\x00<b>", "&\x00\x00'"], [Change(1, "", "b", added=["t0", "t1"])])
    for change in odd.changes:  # names holding a NUL (what joins the texts escaped together)
        content = feeds.change_content(odd, change).encode("latin-1").decode("utf-8")
        assert content == escape(_reference_html(odd, change))
    root = ET.fromstring(feeds.playlist_feed(a))
    contents = [e.findtext(f"{ATOM}content") for e in root.findall(f"{ATOM}entry")]
    assert contents == [_reference_html(a, c) for c in reversed(a.changes)]


def _tenure_bars(text: str) -> list[tuple[str, str, str]]:
    """(x, width, title) of every stint's bar, top to bottom."""
    return re.findall(r'<rect x="([\d.]+)" y="\d+" width="([\d.]+)" height="8" rx="2" '
                      r'fill="#[0-9a-f]+"><title>([^<]*)</title>', text)


def test_charts_are_the_same_whatever_was_drawn_before() -> None:
    """Bars, ticks and weeks are memoised across charts (by axis, days, weeks): a chart
    is the same drawn first or after others on the same or another axis and zone."""
    a, b = _history("a", 0), _history("b", 0)  # the same runs: the same axis
    b.changes[3].removed = ["t0"]  # but another stint
    c = _history("c", 3)
    drawn = {}
    order = [(t, z) for z in (UTC, NEW_YORK) for t in (a, b, c)]
    for kind in (charts.tenure_svg, charts.churn_svg):
        first = [kind(t, z).decode("utf-8") for t, z in order]
        again = [kind(t, z).decode("utf-8") for t, z in reversed(order)][::-1]
        assert first == again
        drawn[kind] = dict(zip([(t.pid, str(z)) for t, z in order], first, strict=True))
    tenure = drawn[charts.tenure_svg]
    assert tenure["a", "UTC"] != tenure["b", "UTC"] != tenure["c", "UTC"]
    bars = _tenure_bars(tenure["a", "UTC"])
    assert [title for _, _, title in bars] == [
        "2024-01-01 – 2024-01-21", "2024-02-10 – still there",  # t0, twice
        "2024-01-01 – 2024-01-02", "2024-01-10 – still there",  # t1, twice
        "2024-01-01 – still there", "2024-01-02 – 2024-02-28", "2024-01-10 – 2024-01-21",
        "2024-02-10 – still there", "2024-02-10 – still there", "2024-02-28 – still there"]
    assert _tenure_bars(tenure["a", "America/New_York"])[0][2] == "2023-12-31 – 2024-01-20"
    assert bars[0][0] == bars[2][0] == "290.0"  # the first run: the axis start


def test_weekly_churn_has_every_week_from_the_first_change_to_the_last() -> None:
    a = _history("a", 0)
    weeks = charts.weekly_churn(a)
    mondays = [w[0] for w in weeks]
    assert (mondays[0], mondays[-1]) == (datetime(2024, 1, 1).date(), datetime(2024, 2, 26).date())
    assert all(later - earlier == timedelta(days=7)
               for earlier, later in zip(mondays, mondays[1:], strict=False))
    assert [w[1:] for w in weeks if w[1] or w[2]] == [(1, 1), (2, 0), (0, 2), (3, 0), (1, 1)]
    # 2 am UTC on Monday 1 January is Sunday evening in New York: the week before.
    assert charts.weekly_churn(a, NEW_YORK)[0][0] == datetime(2023, 12, 25).date()
    churn = charts.churn_svg(a).decode("utf-8")
    assert churn.count("<title>week of 2024-01-01: +1 −1</title>") == 2  # a bar up, one down
    assert churn.count("<title>week of 2024-01-08: +2 −0</title>") == 1


def test_followers_keep_only_days() -> None:
    text = followers_chart.followers_svg({"2024-03-02": 2700, "2024-3-2": 1, "junk": 5,
                                         "2024-01-01": 1000, "2024-02-01T00:00": 4}
                                ).decode("utf-8")
    (line,) = re.findall(r'<polyline points="([^"]*)"', text)
    assert len(line.split()) == 2 and "2,700 since 2024-03-02" in text
    assert "<title>Follower count over time</title>" in text  # no name: drawn from counts alone


def _day(n: int) -> str:
    return (datetime(2025, 1, 1) + timedelta(days=n)).date().isoformat()


def test_followers_chart_goes_through_the_turning_points() -> None:
    """Days that only repeat the count are left out, the last change is "since"."""
    counts = [390, 390, 390, 395, 399, 399, 399, 399]
    points = followers_chart.turning_points({_day(n): c for n, c in enumerate(counts)})
    assert [(svg.day_text(t, UTC), c) for t, c in points] == [
        (_day(0), 390), (_day(2), 390), (_day(3), 395), (_day(4), 399)]
    text = followers_chart.followers_svg({_day(n): c for n, c in enumerate(counts)}).decode()
    assert f"399 since {_day(4)}" in text
    assert followers_chart.turning_points({_day(0): 5, _day(9): 5}) == [(svg.day_start(_day(0)), 5)]
    assert followers_chart.turning_points({}) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=40), st.integers(0, 3))
def test_a_repeated_count_draws_the_same_followers_chart(counts: list[int], extra: int) -> None:
    """What lets the daily runs skip nothing: a day that repeats the last count changes no
    byte; one with another count changes the chart (a full rebuild draws it)."""
    followers = {_day(n): c for n, c in enumerate(counts)}
    before = followers_chart.followers_svg(followers)
    after = followers_chart.followers_svg({**followers, _day(len(counts)): extra})
    assert (after == before) == (extra == counts[-1])
    # The line through the turning points passes through every day's count.
    points = dict(followers_chart.turning_points(followers))
    days = sorted(svg.day_start(d) or 0 for d in followers)
    for day, count in zip(days, counts, strict=True):
        earlier = max(t for t in points if t <= day)
        later = min((t for t in points if t >= day), default=earlier)
        assert count in (points[earlier], points[later]) or points[earlier] == points[later]


_COUNTS = st.lists(st.integers(0, 3), min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(_COUNTS, st.integers(-3, 40), st.integers(0, 3), st.sampled_from(["sorted", "shuffled"]))
def test_a_count_seen_to_repeat_draws_the_same_chart(counts: list[int], day: int, count: int,
                                                     order: str) -> None:
    """repeats_the_count lets a daily run skip a chart: only where it draws the same bytes,
    and it does see the usual day (the next one, at the last count)."""
    followers = {_day(n): c for n, c in enumerate(counts)}
    if order == "shuffled":  # not as the archive writes it: nothing is seen at a glance
        old = ("{\n" + ",\n".join(f'  "{d}": {c}' for d, c in reversed(followers.items()))
               + "\n}\n").encode()
    else:
        old = followers_json(followers).encode()
    grown = {**followers, _day(day): count}
    new = old[:-3] + f',\n  "{_day(day)}": {count}\n}}\n'.encode()
    assert json.loads(new) == grown  # what a later run writes, or something like it
    seen = followers_chart.repeats_the_count(old, new)
    if seen:
        assert followers_chart.followers_svg(grown) == \
            followers_chart.followers_svg(followers)
    in_order = order == "sorted" or len(counts) == 1
    assert seen == (in_order and day >= len(counts) and count == counts[-1])
    assert not followers_chart.repeats_the_count(old, followers_json(grown).encode()) or seen


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.one_of(st.integers(0, 30).map(_day), st.text(max_size=11)),
                       st.one_of(st.integers(0, 3), st.booleans(), st.text(max_size=2)),
                       max_size=12),
       st.one_of(st.integers(0, 40).map(_day), st.text(max_size=11)), st.integers(0, 3))
def test_a_count_the_fetch_knows_to_repeat_draws_the_same_chart(
    counts: dict[str, object], day: str, count: int
) -> None:
    """repeats_in (fetch: the counts it read, and today's) only where the chart stays."""
    seen = followers_chart.repeats_in(counts, day, count)
    old = followers_chart.parse_followers(json.dumps(counts).encode())
    new = followers_chart.parse_followers(json.dumps({**counts, day: count}).encode())
    if seen:
        assert followers_chart.followers_svg(new) == followers_chart.followers_svg(old)
    if old and set(counts) == set(old) and day > max(old) and svg.is_day(day):
        assert seen == (count == old[max(old)])  # the usual day is seen


def test_a_count_repeated_in_other_texts_is_not_seen() -> None:
    """Anything but the archive's own text with one line added is left to the drawing."""
    old = followers_json({"2026-01-01": 5, "2026-01-02": 5}).encode()
    seen = followers_chart.repeats_the_count
    assert seen(old, old[:-3] + b',\n  "2026-01-03": 5\n}\n')
    assert not seen(old, old[:-3] + b',\n  "2026-01-03": 6\n}\n')  # the count moved
    assert not seen(old, old[:-3] + b',\n  "2026-01-02": 5\n}\n')  # not a later day
    assert not seen(old, old[:-3] + b',\n  "2026-02-30": 5\n}\n')  # no such day
    assert not seen(old, old[:-3] + b',\n  "2026-01-03": 05\n}\n')  # no JSON
    assert not seen(old, old[:-3] + b',\n  "2026-01-03": 5,\n  "2026-01-04": 5\n}\n')
    assert not seen(old, old) and not seen(None, old) and not seen(old, None)
    assert not seen(b'{\n  "2026-01-01": 5\n}', b'{\n  "2026-01-01": 5,\n  "2026-01-02": 5\n}')
    bad_last = followers_json({"2026-01-01": 5, "2026-02-30": 7}).encode()  # dropped day
    assert not seen(bad_last, bad_last[:-3] + b',\n  "2026-03-01": 7\n}\n')


def test_followers_files_beyond_the_archives_layout() -> None:
    """Texts the regular expression must leave to json: leading zeros (no JSON), a
    negative count, a day twice (the last wins), an escaped key, junk."""
    assert followers_chart.parse_followers(b'{\n  "2026-01-01": 007\n}\n') == {}
    assert followers_chart.parse_followers(b'{\n  "2026-01-01": -7\n}\n') == {"2026-01-01": -7}
    assert followers_chart.parse_followers(
        b'{\n  "2026-01-01": 1,\n  "2026-01-01": 2\n}\n') == {"2026-01-01": 2}
    assert followers_chart.parse_followers(b'{\n  "\\u0032026-01-01": 1\n}') == {"2026-01-01": 1}
    assert followers_chart.parse_followers(b'{\n  "2026-02-30": 1\n}\n') == {}
    for junk in (b"[1, 2]", b"{", None, b""):
        assert followers_chart.parse_followers(junk) == {}


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_utf8_text_is_a_character_per_byte(text: str) -> None:
    """Charts and feeds are written in it and encoded as Latin-1: the bytes of UTF-8."""
    try:
        expected = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: fails as the UTF-8 encoding did
        return
    assert svg.utf8(text).encode("latin-1") == expected
    assert svg.escape_svg(text).encode("latin-1") == escape(text, quote=True).encode("utf-8")
