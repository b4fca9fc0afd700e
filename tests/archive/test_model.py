"""The snapshot schema: parsing errors, and the fast JSON writer equal to json.dumps."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitarchive.archive.model import Link, Playlist, Track, dump_json, new_link, new_track
from gitarchive.errors import SnapshotError

text = st.text(max_size=12)
links = st.builds(Link, name=text, url=text)
tracks = st.builds(
    Track,
    url=text,
    name=text,
    album=links,
    artists=st.lists(links, max_size=3).map(tuple),
    duration_ms=st.integers(min_value=0, max_value=10**9),
    added_at=st.none() | text,
    added_by=st.none() | text,
)
playlists = st.builds(
    Playlist,
    url=text,
    original_name=text,
    description=text,
    owner=links,
    tracks=st.lists(tracks, max_size=4).map(tuple),
    snapshot_id=text,
    num_followers=st.none() | st.integers(min_value=0, max_value=10**9),
    unique_name=text,
)


@settings(max_examples=300, deadline=None)
@given(playlists)
def test_fast_json_writer_equals_json_dumps(playlist: Playlist) -> None:
    assert playlist.to_json() == dump_json(playlist.to_dict())
    assert Playlist.from_json(playlist.to_json()).to_json() == playlist.to_json()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "snapshot: expected an object"),
        ('{"url": "u"}', "missing field 'original_name'"),
        (
            '{"url": "u", "original_name": "n", "owner": {"name": "o"}, "tracks": [{"name": 1}]}',
            "tracks[0].name: expected str",
        ),
    ],
)
def test_parse_errors_say_where(data: str, message: str) -> None:
    with pytest.raises(SnapshotError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Playlist.from_json(data)


def test_optional_fields_default() -> None:
    data = {"url": "u", "original_name": "n", "owner": {"name": "o"}, "tracks": []}
    playlist = Playlist.from_json(json.dumps(data))
    assert playlist.num_followers is None and playlist.description == ""


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
        max_leaves=8,
    ),
    st.sampled_from(["name", "url", "album", "artists", "duration_ms", "added_at"]),
)
def test_fast_track_parser_accepts_exactly_what_the_checked_one_does(
    junk: object, field: str
) -> None:
    """Corrupt one field of a valid track: both parsers agree on the result or the error."""
    from gitarchive.archive.model import parse_track, parse_track_checked

    good = {
        "added_at": "2020-01-01 00:00:00", "album": {"name": "A", "url": "u"},
        "artists": [{"name": "B", "url": "v"}], "duration_ms": 1, "name": "N", "url": "w",
    }
    data = {**good, field: junk}
    try:
        expected: object = parse_track_checked(data, "t")
    except SnapshotError as exc:
        expected = str(exc)
    try:
        got: object = parse_track(data, "t")
    except SnapshotError as exc:
        got = str(exc)
    assert got == expected


@settings(max_examples=200, deadline=None)
@given(tracks)
def test_direct_constructors_make_the_same_frozen_objects(track: Track) -> None:
    """new_track/new_link (the fetch's fast path) give what Track/Link give: equal, same
    hash and repr, frozen, ordinary dataclasses to every caller."""
    artists = tuple(new_link(a.name, a.url) for a in track.artists)
    made = new_track(track.url, track.name, new_link(track.album.name, track.album.url),
                     artists, track.duration_ms, track.added_at, track.added_by)
    assert made == track and hash(made) == hash(track) and repr(made) == repr(track)
    assert dataclasses.asdict(made) == dataclasses.asdict(track)
    assert dataclasses.replace(made, name="x") == dataclasses.replace(track, name="x")
    assert pickle.dumps(made) == pickle.dumps(track) and pickle.loads(pickle.dumps(made)) == track
    assert copy.copy(made) == track and copy.deepcopy(made) == track
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.album.url = "changed"  # type: ignore[misc]

