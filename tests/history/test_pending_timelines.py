"""fetch's charts' timelines are recorded by the replay of its coming commit (one pass).

history/pending.py replays the new snapshot tree as one more commit and records the
timelines as that replay reads each new version, as the daily rebuild does; it never
reads the history a second time (timeline_read.update) when the saved timelines go
on from the saved state. Every path — a usual day, a commit that writes no snapshot,
a clock that went back, an unreadable saved timeline — leaves the timelines a
whole-history read gives, saved as of fetch's commit, and the charts a rebuild draws.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pygit2
import pytest
from history_support import (
    History,
    json_files,
    pid,
    playlist,
    read_alone,
    registry,
    timelines_as_dict,
    track,
)

from gitarchive.history import saved, timeline, timeline_read
from gitarchive.history.pending import pending_views
from gitarchive.history.rebuild import rebuild

DAY = 86_400
T0 = 1_700_000_000


def _fetch(h: History, changes: dict[str, bytes | None], clock: int) -> pygit2.Oid:
    """fetch's way: views computed on the coming tree, committed with it, state saved."""
    tree = h.store.write_tree(h.store.tree(), changes)
    views, pending = pending_views(h.store, tree, (clock, 0), githistory_base=None)
    oid = h.store.commit({**changes, **views}, "fetch", when=(clock, 0))
    assert oid is not None and pending.save(oid)
    return oid


def _as_a_whole_read(h: History, oid: pygit2.Oid) -> None:
    """Saved as of ``oid`` with the replay state (the next run goes on from both), equal
    to a whole-history read; a full rebuild changes nothing (same views and charts)."""
    commit = h.repo[oid].peel(pygit2.Commit)
    kept = timeline.load_meta(h.store, commit)
    state = saved.load(h.store)
    assert kept is not None and state is not None
    assert kept.head == state.head == str(oid)
    assert kept.gens == state.gens and kept.last_key == state.state.last_key
    assert timelines_as_dict(timeline_read.update(h.store, save=False)) == read_alone(h.store)
    assert rebuild(h.store, full=True).commit is None


def _days(h: History, first: int) -> list[tuple[dict[str, bytes | None], int]]:
    return [
        (json_files(playlist(pid(1), "One", [track(n) for n in (1, 2, 3)])), first),
        (json_files(playlist(pid(2), "Two", [track(7), track(8)])), first + DAY),
        (json_files(playlist(pid(1), "One, renamed", [track(n) for n in (2, 3, 4)])),
         first + 2 * DAY),
    ]


@pytest.fixture
def history(tmp_path: Path) -> History:
    h = History(str(tmp_path))
    h.commit({**json_files(playlist(pid(1), "One", [track(0), track(1)])),
              **json_files(playlist(pid(2), "Two", [track(7)])), **registry(pid(1), pid(2))},
             T0)
    return h


def test_daily_fetches_never_read_the_history_twice(history: History,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    h = history
    first = json_files(playlist(pid(1), "One", [track(0)]))
    _as_a_whole_read(h, _fetch(h, first, T0 + DAY))  # the first: a whole replay

    def second_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("the history read a second time for the timelines")

    for changes, clock in _days(h, T0 + 2 * DAY):
        with monkeypatch.context() as patched:
            patched.setattr(timeline_read, "update", second_read)
            oid = _fetch(h, changes, clock)
        _as_a_whole_read(h, oid)


def test_a_commit_without_snapshots_moves_the_timelines_along(history: History) -> None:
    h = history
    _fetch(h, *_days(h, T0 + DAY)[0])
    oid = _fetch(h, {"README.md": b"an archive\n"}, T0 + 2 * DAY)  # no snapshot written
    _as_a_whole_read(h, oid)
    for changes, clock in _days(h, T0 + 3 * DAY)[1:]:
        _as_a_whole_read(h, _fetch(h, changes, clock))


def test_a_fetch_dated_before_the_newest_commit(history: History) -> None:
    """A clock that went back: the whole history replayed in order, every timeline recorded."""
    h = history
    h.commit(json_files(playlist(pid(2), "Two", [track(7), track(9)])), T0 + 3 * DAY)
    _as_a_whole_read(h, _fetch(h, *_days(h, T0 + DAY)[0]))  # sorts before the newest
    for changes, clock in _days(h, T0 + 4 * DAY)[1:]:
        _as_a_whole_read(h, _fetch(h, changes, clock))


def test_an_unreadable_saved_timeline_is_read_again(history: History) -> None:
    h = history
    _fetch(h, *_days(h, T0 + DAY)[0])
    with closing(sqlite3.connect(timeline.state_path(h.store))) as db, db:
        db.execute("UPDATE timelines SET data = 'not json' WHERE pid = ?", (pid(2),))
    for changes, clock in _days(h, T0 + 2 * DAY)[1:]:
        _as_a_whole_read(h, _fetch(h, changes, clock))
