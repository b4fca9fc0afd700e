"""Versions applied as differences of raw chunks hold exactly what parsing each whole gives."""

from __future__ import annotations

import json

import pytest
from history_support import pid, playlist, track
from hypothesis import given, settings
from hypothesis import strategies as st

from gitarchive.archive import render
from gitarchive.archive.model import Link, Track
from gitarchive.archive.snapshots import (
    ParseCache,
    TrackMeta,
    parse_json_model,
    parse_json_snapshot,
    parse_plain_line,
    parse_plain_snapshot,
)
from gitarchive.errors import SnapshotError
from gitarchive.history import delta
from gitarchive.history.events import KIND_JSON, KIND_PLAIN
from gitarchive.history.state import PlaylistHistory

P = pid(1)


def tyler(n: int) -> Track:
    """A track whose one artist's name holds ", " (its plain line reads as two artists)."""
    return Track(url=f"https://open.spotify.com/track/TY{n:020d}", name=f"Tyler song {n}",
                 album=Link("IGOR", "u"), artists=(Link("Tyler, The Creator", "a"),),
                 duration_ms=1000 + n, added_at="2021-01-01 00:00:00" if n % 2 else None)


def tracks_of(numbers: list[int]) -> list[Track]:
    return [tyler(n) if n >= 8 else track(n) for n in numbers]


version = st.tuples(
    st.sampled_from(["json", "json", "plain", "compact"]),  # compact: JSON in no known layout
    st.lists(st.integers(0, 11), max_size=8),
    st.sampled_from(["A", "B"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(version, min_size=1, max_size=8))
def test_delta_replay_is_parsing_every_version_whole(versions: list) -> None:
    history = PlaylistHistory(P)
    chunker = delta.Chunker(ParseCache())
    for form, numbers, name in versions:
        snap = playlist(P, name, tracks_of(numbers))
        if form == "plain":
            data = render.plain(snap).encode()
            whole = parse_plain_snapshot(P, data)
            got = chunker.plain_version(P, data)
            kind = KIND_PLAIN
        else:
            data = snap.to_json().encode()
            if form == "compact":
                data = json.dumps(json.loads(data)).encode()
            whole = parse_json_snapshot(P, data)
            got = chunker.json_version(data)
            kind = KIND_JSON
        try:
            delta.apply_version(history, got, chunker.parse, kind)
        except delta.NotChunked:
            delta.apply_version(history, chunker.json_whole(data), chunker.parse, kind)
        present = {k: t.meta for k, t in history.tracks.items() if t.in_snapshot}
        assert present == {key: meta for key, meta, _ in whole.tracks}
        assert set(history.counts) == set(present)
        assert (history.name, history.url, history.description) == (
            whole.name, whole.url, whole.description)
        added = {key: at for key, _, at in whole.tracks if at is not None}
        for key, at in added.items():
            assert history.tracks[key].added_at is not None
            assert history.tracks[key].added_at <= at


def test_a_changed_version_parses_only_the_new_chunks() -> None:
    history = PlaylistHistory(P)
    chunker = delta.Chunker(ParseCache())
    parsed: list[object] = []

    def parse(chunk: object) -> delta.Parsed:
        parsed.append(chunk)
        return chunker.parse(chunk)

    first = playlist(P, "A", [track(n) for n in range(50)])
    delta.apply_version(history, chunker.json_version(first.to_json().encode()), parse,
                        KIND_JSON)
    assert len(parsed) == 50
    parsed.clear()
    history.dirty.clear()  # as an observation does
    second = playlist(P, "A", [track(n) for n in range(1, 51)])  # one out, one in
    delta.apply_version(history, chunker.json_version(second.to_json().encode()), parse,
                        KIND_JSON)
    assert len(parsed) == 1
    assert history.dirty == {"TR00000000000000000000", "TR00000000000000000050"}


def with_member_after_tracks(data: bytes) -> bytes:
    """The snapshot with a member after ``tracks`` whose array of objects closes, in the
    pretty layout, exactly as the tracks do (``}\\n  ]``): a search from the end finds
    that close, not the tracks'."""
    return data.replace(b'\n  "unique_name": ',
                        b'\n  "tz": [\n    {\n      "a": 1\n    }\n  ],\n  "unique_name": ', 1)


def with_close_in_a_track(data: bytes) -> bytes:
    """A track holding the close in a member of its own (``[{}\\n  ]``, valid JSON)."""
    return data.replace(b'\n      "duration_ms": ',
                        b'\n      "d": [{}\n  ],\n      "duration_ms": ', 1)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["plain", "json", "after", "inside"]),
                          st.lists(st.integers(0, 11), max_size=8)), min_size=1, max_size=8))
def test_a_version_cut_from_the_end_is_the_one_cut_from_the_start(versions: list) -> None:
    """json_applied cuts from the end (the tracks' close searched back from the end), and
    the version it applies has exactly the chunks a cut from the start has (the same
    saved state), or is parsed whole where that one is; the tracks are the whole parse's."""
    history = PlaylistHistory(P)
    chunker = delta.Chunker(ParseCache())
    for form, numbers in versions:
        snap = playlist(P, "A", tracks_of(numbers))
        if form == "plain":
            delta.apply_version(history, chunker.plain_version(P, render.plain(snap).encode()),
                                chunker.parse, KIND_PLAIN)
            continue
        data = snap.to_json().encode()
        data = {"json": data, "after": with_member_after_tracks(data),
                "inside": with_close_in_a_track(data)}[form]
        start = delta.Chunker(ParseCache()).json_version(data)  # as a search from the start
        got, _ = chunker.json_applied(history, data)
        assert (got.chunks, got.seq, got.parsed) == (start.chunks, start.seq, start.parsed)
        assert got.parsed == (form == "inside" or not numbers)  # no tracks: no layout to cut
        present = {k: t.meta for k, t in history.tracks.items() if t.in_snapshot}
        assert present == {key: meta for key, meta, _ in parse_json_snapshot(P, data).tracks}
        assert all(b"}\n  ]" not in chunk for chunk in history.chunks if type(chunk) is bytes)


def test_a_close_after_the_tracks_is_cut_again_from_the_start() -> None:
    """A member after the tracks closing as they do: the cut from the end puts the tracks'
    close in its last chunk; that chunk is new, so the version is cut again from the start
    (chunked, as before), not parsed whole."""
    history = PlaylistHistory(P)
    chunker = delta.Chunker(ParseCache())
    data = with_member_after_tracks(playlist(P, "A", [track(n) for n in range(5)]).to_json()
                                    .encode())
    from_end = chunker.json_version(data, from_end=True)
    assert from_end.from_end and not from_end.parsed
    assert any(b"}\n  ]" in chunk for chunk in from_end.chunks)  # the wrong close
    got, _ = chunker.json_applied(history, data)
    assert not got.parsed and not got.from_end
    assert got.chunks == chunker.json_version(data).chunks and len(got.chunks) == 5
    assert set(history.counts) == {f"TR{n:020d}" for n in range(5)}


@pytest.mark.parametrize("tail", [b"", b"\n", b" \t\r\n", b"x", b"\n{}", b"\n\x00",
                                  b"\n\"\\ud800\""])
def test_the_text_around_the_tracks_is_read_as_json_loads_reads_it(tail: bytes) -> None:
    """Whitespace after the document is JSON's, anything else is not: the version is cut
    into chunks exactly when json.loads reads the whole text, else it is refused whole."""
    data = playlist(P, "A", tracks_of([1, 2, 9])).to_json().encode() + tail
    chunker = delta.Chunker(ParseCache())
    try:
        whole = json.loads(data)
    except ValueError:
        with pytest.raises(SnapshotError):
            chunker.json_version(data)
        return
    got = chunker.json_version(data)
    assert not got.parsed and len(got.chunks) == len(whole["tracks"]) == 3
    assert got.name == (whole.get("unique_name") or whole["original_name"])


def test_a_fast_read_track_is_the_schema_readers_track_meta() -> None:
    """The fast reader makes its TrackMeta as the tuple it is: the same fields, the same
    type, equal to what the schema's reader (parse_json_model) makes."""
    data = playlist(P, "A", tracks_of([1, 2, 9, 10])).to_json().encode()
    fast, model = parse_json_snapshot(P, data), parse_json_model(data)
    assert fast.tracks == model.tracks
    for (_, meta, _), (_, same, _) in zip(fast.tracks, model.tracks, strict=True):
        assert type(meta) is TrackMeta and (meta.url, meta.name, meta.album, meta.artists,
                                            meta.duration_ms, meta.added_by) == same


@pytest.mark.parametrize("line", [
    "Song -- Artist -- Album", "Song -- A, B -- Album", "Song -- Tyler, The Creator -- IGOR",
    "Song -- A -- B -- Album", "Song -- A --  -- Album", "Song --  -- Album", "Song -- , A, -- X",
    "Song -- Album", "no separator", "", " --  -- ", "Ünïcode -- Ärtist, Ω -- Älbum",
])
def test_a_plain_line_reads_as_the_track_meta_its_fields_make(line: str) -> None:
    """A plain line's TrackMeta, made as the tuple it is, is the one its fields name:
    ``Title -- Artist, Artist -- Album``, extra `` -- `` kept in the artists, empty
    artists dropped, no URL, length or adder; fewer than three parts: the line is the name."""
    parts = line.split(" -- ")
    if len(parts) < 3:
        want = TrackMeta(url="", name=line, album=("", ""), artists=(), duration_ms=None)
    else:
        names = " -- ".join(parts[1:-1]).split(", ")
        want = TrackMeta(url="", name=parts[0], album=(parts[-1], ""),
                         artists=tuple((a, "") for a in names if a), duration_ms=None)
    got = parse_plain_line(line)
    assert type(got) is TrackMeta and got == want and got.added_by is None
    assert type(got.artists) is tuple and all(type(a) is tuple for a in got.artists)


@pytest.mark.parametrize("tail", [b"\n", b"", b"\n\n", b"\n\nD -- E -- F\n"])
def test_a_plain_version_leaves_out_blank_lines_wherever_they_are(tail: bytes) -> None:
    """A plain version's chunks and its lines in order (``seq``) are its non-blank track
    lines, whether the file ends with a newline, none, or blank lines, also between
    tracks (the file's last newline is cut first, any other blank line after)."""
    data = b"Name\nAbout it\n\nA -- B -- C\n\nA -- B -- C\nG -- H -- I" + tail
    got = delta.Chunker(ParseCache()).plain_version(P, data)
    lines = [line for line in data.decode().split("\n")[3:] if line]
    assert got.seq == lines and got.chunks == set(lines)
    assert (got.name, got.description) == ("Name", "About it")
