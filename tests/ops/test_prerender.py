"""The renders a forked process makes while the requests are out (gitarchive.ops.prerender)
are a fresh render's, byte for byte, whatever it does: renders, fails on a playlist whose
plain file needs its tracks, renders under a name the run then changes, or dies.

Each test fetches the twin archives of test_rendered (one keeps the record of what each
run rendered, the other renders everything afresh) with the forked renderer started from
one playlist on, and their trees must be equal after every day.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from cli_support import LONG, OLD_1970, SMALL
from conftest import StandInSetup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_rendered import DAYS, PIDS, _change, _pair, play_days

from gitarchive.ops import prerender, snapfiles


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The forked renderer from one playlist on; how many renders each fetch took from it."""
    monkeypatch.setattr(prerender, "FORK_MIN", 1)
    counts: list[int] = []
    original = prerender.Early.take

    def take(self: prerender.Early) -> dict[str, tuple[str, snapfiles.Made]]:
        found = original(self)
        counts.append(len(found))
        return found

    monkeypatch.setattr(prerender.Early, "take", take)
    return counts


@pytest.mark.parametrize("child", ["renders", "dies"])
def test_renders_made_while_the_requests_are_out_are_a_fresh_render(
    standin: StandInSetup, monkeypatch: pytest.MonkeyPatch, taken: list[int], child: str
) -> None:
    if child == "dies":
        parent, original = os.getpid(), snapfiles.snapshot_files

        def dying(*args: Any) -> snapfiles.Made:
            if os.getpid() != parent:
                os._exit(1)  # the forked renderer dies at its first playlist
            return original(*args)

        monkeypatch.setattr(snapfiles, "snapshot_files", dying)
    with _pair(standin) as pair:
        pair.fetch(0)  # nothing recorded yet: nothing offered (kept, fresh)
        assert taken == [0, 0]
        for day in (1, 2, 3):
            taken.clear()
            for pid in PIDS:
                _change(pair.served, pid, "followers", "")
            if day == 2:  # new tracks (not offered); a new description (the plain file
                _change(pair.served, SMALL, "drop", "")  # needs the tracks: not rendered)
                _change(pair.served, LONG, "description", "new words")
            if day == 3:  # two playlists of one name: one is renamed " (2)" by the run
                _change(pair.served, OLD_1970, "name", "Same")
                _change(pair.served, LONG, "name", "Same")
            pair.fetch(day)  # asserts the twins' trees equal
            expected = {1: 3, 2: 1, 3: 1}[day] if child == "renders" else 0
            assert taken == [expected, 0], day  # the fresh twin has no record: none offered


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(days=st.lists(DAYS, min_size=1, max_size=3))
def test_every_file_equals_a_fresh_render_with_the_forked_renderer(
    standin: StandInSetup, taken: list[int], days: list[dict[str, Any]]
) -> None:
    play_days(standin, days)
