"""The rendered files reproduce spotify-playlist-archive's byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitarchive.archive import render
from gitarchive.archive.model import Link, Playlist, Track

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
OLD_ARCHIVE = "https://github.githistory.xyz/mackorone/spotify-playlist-archive-2/blob/main"


def test_pretty_md_reproduces_golden_file_from_its_json() -> None:
    snapshot = Playlist.from_json((GOLDEN / "pretty-09D0CKBRWkBBoPn46V6YTO.json").read_bytes())
    expected = (GOLDEN / "pretty-09D0CKBRWkBBoPn46V6YTO.md").read_text(encoding="utf-8")
    assert render.pretty_md(snapshot, OLD_ARCHIVE) == expected


def test_pretty_json_round_trips_golden_file() -> None:
    text = (GOLDEN / "pretty-09D0CKBRWkBBoPn46V6YTO.json").read_text(encoding="utf-8")
    assert Playlist.from_json(text).to_json() == text


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("B.J. Thomas", "B.J\\. Thomas"),
        ("M.C the Max", "M.C the Max"),
        ("Pt.5", "Pt.5"),
        ("a\\b", "a\\\\b"),
        (
            "#1 (live) [x] - *y* _z_ `c` |d| ~e~",
            "\\#1 \\(live\\) \\[x\\] \\- \\*y\\* \\_z\\_ \\`c\\` \\|d\\| \\~e\\~",
        ),
        ("two\nlines", "two<br/>lines"),
        ("K-Pop 벤", "K\\-Pop 벤"),
    ],
)
def test_escape_md(raw: str, escaped: str) -> None:
    assert render.escape_md(raw) == escaped


@pytest.mark.parametrize(
    ("ms", "length", "total"),
    [
        (0, "0:00", "0 sec"),
        (45_999, "0:45", "45 sec"),
        (59_500, "0:59", "59 sec"),
        (59_999, "0:59", "59 sec"),
        (60_000, "1:00", "1 min 0 sec"),
        (61_000, "1:01", "1 min 1 sec"),
        (3_599_999, "59:59", "59 min 59 sec"),
        (3_600_000, "1:00:00", "1 hr 0 min"),
        (10_907_371, "3:01:47", "3 hr 1 min"),
        (90_061_000, "25:01:01", "1 day 1 hr 1 min"),
    ],
)
def test_lengths(ms: int, length: str, total: str) -> None:
    assert render.format_length(ms) == length
    assert render.format_total(ms) == total


def test_counts() -> None:
    assert render.plural(1, "like") == "1 like"
    assert render.plural(309767, "like") == "309,767 likes"
    assert render.plural(None, "like") == "??? likes"
    assert render.plural(0, "song") == "0 songs"


def _playlist(**kw: object) -> Playlist:
    track = Track(
        url="", name="Local", album=Link("Tape"), artists=(Link("Me"), Link("You")),
        duration_ms=1000,
    )
    base = dict(
        url="https://open.spotify.com/playlist/09D0CKBRWkBBoPn46V6YTO",
        original_name="Mix", description="  hi\n", owner=Link("someone"), tracks=(track,),
    )
    base.update(kw)
    return Playlist(**base)  # type: ignore[arg-type]


def test_empty_urls_render_as_plain_text_and_unknown_counts() -> None:
    out = render.pretty_md(_playlist())
    assert "### [Mix](https://open.spotify.com/playlist/09D0CKBRWkBBoPn46V6YTO)" in out
    assert "| 1 | Local | Me, You | Tape | 0:01 |" in out
    assert "someone - ??? likes - 1 song - 1 sec" in out
    assert "> hi\n" in out
    assert "githistory" not in out.splitlines()[0]


def test_plain_is_sorted_case_insensitively_so_reorders_are_not_changes() -> None:
    a = Track(url="u1", name="beta", album=Link("A"), artists=(Link("X"),), duration_ms=1)
    b = Track(
        url="u2", name="Alpha", album=Link("B"), artists=(Link("Y"), Link("Z")), duration_ms=1
    )
    first = render.plain(_playlist(tracks=(a, b), description="line one\nline two"))
    assert first == "Mix\nline one line two\n\nAlpha -- Y, Z -- B\nbeta -- X -- A\n"
    assert render.plain(_playlist(tracks=(b, a), description="line one\nline two")) == first


def _reference_escape(text: str) -> str:
    """The escaping rules spelled out one replace at a time, in the old archiver's order
    (after gitarchive's one addition: a "<" that could open an HTML tag becomes "&lt;")."""
    text = re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)
    text = text.replace("\n", "<br/>").replace("\\", "\\\\").replace(". ", "\\. ")
    for char in "#()[]-*_`|~":
        text = text.replace(char, "\\" + char)
    return text


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab .\\\n#()[]-*_`|~<>é")), max_size=30))
def test_escape_md_equals_the_rules_applied_one_by_one(text: str) -> None:
    assert render.escape_md(text) == _reference_escape(text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab .\\\r\n#()[]-*_`|~<>é")), max_size=20),
       st.sampled_from(["https://x/a", "http://x/(b)", "https://x/a b\t<c>\r\n", "", "x:y"]))
def test_md_link_escapes_text_and_url_or_gives_plain_text(text: str, url: str) -> None:
    # md_link returns names with nothing to escape as they are: the same as escaping them.
    target = "".join(f"%{ord(c):02X}" if c in " ()<>\n\r\t" else c for c in url)
    expected = (f"[{render.escape_md(text)}]({target})" if url.startswith("http")
                else render.escape_md(text))
    assert render.md_link(text, url) == expected


_ODD = st.text(alphabet=st.sampled_from(list("aB .\\\n\r\x00#()[]-*_`|~<>/!?é\t")), max_size=12)
_URLS = st.one_of(
    st.just(""),
    st.builds(lambda u: f"https://open.spotify.com/x/{u}", _ODD),
    st.builds(lambda u: f"http://h/{u}", _ODD),
    _ODD,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_ODD, _URLS, _ODD, _URLS, st.lists(st.tuples(_ODD, _URLS),
                                                              max_size=3),
                          st.one_of(st.integers(0, 3_600_000), st.integers(-2**31, 2**31 - 1))),
                max_size=6))
def test_rows_escaped_in_bulk_equal_rows_escaped_one_by_one(
    specs: list[tuple[str, str, str, str, list[tuple[str, str]], int]],
) -> None:
    """Also the rows as one text (each row's newline), lengths by lookup under an hour."""
    tracks = tuple(
        Track(url=url, name=name, album=Link(album, album_url),
              artists=tuple(Link(n, u) for n, u in artists), duration_ms=ms)
        for name, url, album, album_url, artists, ms in specs
    )
    expected = [render.pretty_row(n, t) for n, t in enumerate(tracks, start=1)]
    assert render.pretty_rows_text(tracks).split("\n")[:-1] == expected  # no row holds a break
    assert render.pretty_rows_text(tracks) == "".join(f"{row}\n" for row in expected)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_ODD, _URLS), max_size=8))
def test_links_made_in_bulk_are_each_link(pairs: list[tuple[str, str]]) -> None:
    """md_links (the cumulative views' titles, escaped together) is md_link of each pair."""
    texts, urls = [t for t, _ in pairs], [u for _, u in pairs]
    assert render.md_links(texts, urls) == [render.md_link(t, u) for t, u in pairs]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_ODD, _ODD, st.lists(_ODD, max_size=3)), max_size=8))
def test_plain_equals_its_lines_made_and_sorted_one_by_one(
    specs: list[tuple[str, str, list[str]]],
) -> None:
    tracks = tuple(
        Track(url="", name=name, album=Link(album), artists=tuple(Link(a) for a in artists),
              duration_ms=1)
        for name, album, artists in specs
    )
    lines = sorted((render.one_line(t.plain_line) for t in tracks),
                   key=lambda line: (line.lower(), line))
    expected = "".join(f"{line}\n" for line in lines)
    assert render.plain(_playlist(tracks=tracks)).endswith("\n\n" + expected)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029é\u0800")),
               max_size=30))
def test_one_line_turns_every_line_break_into_a_space(text: str) -> None:
    assert render.one_line(text) == "".join(" " if c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
                                            else c for c in text)
    assert len(render.one_line(text).splitlines()) <= 1
