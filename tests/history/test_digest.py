"""A JSON snapshot's digest leaves out its follower count line, and a comparison knows
two files' digests equal without hashing them (history/digest.py)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from gitarchive.archive.model import Link, Playlist, Track
from gitarchive.history.digest import same_snapshot, snapshot_digest


def _snapshot(followers: int | None, name: str = "One", tracks: int = 2) -> bytes:
    playlist = Playlist(
        url="https://open.spotify.com/playlist/p1", original_name=name, description="d",
        owner=Link("o", "https://open.spotify.com/user/o"),
        tracks=tuple(Track(url=f"https://open.spotify.com/track/t{n}", name=f"T{n}",
                           album=Link("A", "https://open.spotify.com/album/a"),
                           artists=(Link("B", "https://open.spotify.com/artist/b"),),
                           duration_ms=1000 * n) for n in range(tracks)),
        snapshot_id="s", num_followers=followers)
    return replace(playlist, unique_name=name).to_json().encode()


@given(st.one_of(st.none(), st.integers(0, 10**9)), st.one_of(st.none(), st.integers(0, 10**9)))
def test_files_equal_but_for_the_follower_count_have_one_digest(a: int | None,
                                                                 b: int | None) -> None:
    first, second = _snapshot(a), _snapshot(b)
    assert same_snapshot(first, second)
    assert snapshot_digest(first) == snapshot_digest(second)


def test_any_other_difference_is_not_the_same_snapshot() -> None:
    for other in (_snapshot(5, name="Two"), _snapshot(5, tracks=3), _snapshot(5) + b"\n",
                  _snapshot(5).replace(b'"num_followers"', b'"followers"')):
        assert not same_snapshot(_snapshot(5), other)
        assert snapshot_digest(_snapshot(5)) != snapshot_digest(other)
