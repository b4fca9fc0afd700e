"""The charts' and feeds' shortcuts (memos shared across charts, text escaped in one pass)
against plain statements of what they must write, on hand-made timelines."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from gitarchive.archive.snapshots import TrackMeta
from gitarchive.history import charts, feeds, svg
from gitarchive.history.timeline import Change, Timeline

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
    a = _history("a", 0)
    text = charts.followers_svg(a, {"2024-03-02": 2700, "2024-3-2": 1, "junk": 5,
                                    "2024-01-01": 1000, "2024-02-01T00:00": 4}).decode("utf-8")
    (line,) = re.findall(r'<polyline points="([^"]*)"', text)
    assert len(line.split()) == 2 and "2,700 on 2024-03-02" in text


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
