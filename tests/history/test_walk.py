"""A whole history's events read on both cores (history/walk.py) are the events one walk
of every commit gives, with the same generations; a child that dies changes nothing."""

from __future__ import annotations

import os
import pickle
import threading
from pathlib import Path

import pygit2
import pytest
from history_support import (
    History,
    json_files,
    pid,
    plain_files,
    playlist,
    registry,
    snapshot_changes,
    track,
)

from gitarchive.archive import layout
from gitarchive.history import pictures, walk
from gitarchive.history.events import KIND_FOLLOWERS, Event, EventReader, sorted_events, walk_events
from gitarchive.history.sync import sync

T0 = 1_700_000_000
DAY = 86_400


def branchy(path: Path) -> History:
    """Plain days, then JSON, on a main branch and a side branch merged back twice."""
    h = History(str(path))
    h.commit({**plain_files(playlist(pid(1), "One", [track(1)])), **registry(pid(1), pid(2))},
             T0)
    for day in range(1, 13):
        files = (plain_files if day < 6 else json_files)(
            playlist(pid(1), "One", [track(1), track(day + 1)]))
        h.commit(files, T0 + day * DAY)
        if day in (3, 8):
            h.repo.references.create("refs/heads/side", h.tip(), force=True)
        if day in (4, 9):
            h.commit(json_files(playlist(pid(2), "Two", [track(50 + day)])),
                     T0 + day * DAY + 60, branch="side")
        if day in (5, 11):
            h.merge("main", "side", T0 + day * DAY + 120)
    return h


def one_walk(repo: pygit2.Repository) -> tuple[list[Event], dict[str, int]]:
    """One walk's events as whole_history reads them (followers files left out)."""
    gens: dict[str, int] = {}
    reader = EventReader(repo, followers=False)
    return sorted_events(walk_events(repo, repo.head.target, None, gens, reader)), gens


@pytest.mark.parametrize("block", [1, 3, 100])
def test_both_cores_give_the_events_of_one_walk(tmp_path: Path, block: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    h = branchy(tmp_path)
    h.repo.set_head("refs/heads/main")
    monkeypatch.setattr(walk, "PARALLEL_MIN_COMMITS", 0)
    monkeypatch.setattr(walk, "BLOCK", block)
    gens: dict[str, int] = {}
    events = walk.whole_history(h.repo, h.repo.head.target, gens)
    expected, expected_gens = one_walk(h.repo)
    assert events == expected
    assert gens == expected_gens
    assert any(len(h.repo[oid].peel(pygit2.Commit).parents) == 2 for oid in gens)  # merges


def test_a_child_that_dies_is_read_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = branchy(tmp_path)
    h.repo.set_head("refs/heads/main")
    monkeypatch.setattr(walk, "PARALLEL_MIN_COMMITS", 0)
    monkeypatch.setattr(walk, "BLOCK", 2)
    parent = os.getpid()

    class DiesInTheChild(EventReader):
        def event(self, commit: pygit2.Commit, gen: int) -> Event | None:
            if os.getpid() != parent:
                os._exit(3)
            return super().event(commit, gen)

    monkeypatch.setattr(walk, "EventReader", DiesInTheChild)
    gens: dict[str, int] = {}
    assert walk.whole_history(h.repo, h.repo.head.target, gens) == one_walk(h.repo)[0]


def test_with_another_thread_running_one_process_reads_them_all(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread that may hold a lock (fetch's HTTP pool) means no fork: the child would
    inherit the lock held."""
    h = branchy(tmp_path)
    h.repo.set_head("refs/heads/main")
    monkeypatch.setattr(walk, "PARALLEL_MIN_COMMITS", 0)

    def no_fork(*args: object, **kwargs: object) -> None:
        raise AssertionError("forked beside a running thread")

    monkeypatch.setattr(walk, "Forked", no_fork)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert walk.whole_history(h.repo, h.repo.head.target, {}) == one_walk(h.repo)[0]
    finally:
        stop.set()
        other.join()


def test_this_process_reads_four_blocks_of_every_seven(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The forked child also pickles its events and has them unpickled here: it reads the
    fewer blocks (three of every seven, in turn), and the events are one walk's still."""
    h = branchy(tmp_path)
    h.repo.set_head("refs/heads/main")
    monkeypatch.setattr(walk, "PARALLEL_MIN_COMMITS", 0)
    monkeypatch.setattr(walk, "BLOCK", 1)
    expected = one_walk(h.repo)[0]
    read_here: list[str] = []
    real = walk.EventReader.event

    def event(self: EventReader, commit: pygit2.Commit, gen: int) -> Event | None:
        if os.getpid() == parent:
            read_here.append(str(commit.id))
        return real(self, commit, gen)

    parent = os.getpid()
    monkeypatch.setattr(walk.EventReader, "event", event)
    gens: dict[str, int] = {}
    assert walk.whole_history(h.repo, h.repo.head.target, gens) == expected
    order = list(gens)  # the commits in walk order, as whole_history lists them
    assert read_here == [oid for n, oid in enumerate(order) if n % 7 in (0, 2, 4, 6)]


def with_followers(path: Path) -> History:
    """Followers files written beside snapshots, alone, beside deletions only, deleted
    alone, and on both sides of a merge."""
    h = History(str(path))
    one, two = playlist(pid(1), "One", [track(1)]), playlist(pid(2), "Two", [track(2)])

    def followers(n: int, day: int) -> dict[str, bytes | None]:
        return {layout.followers_path(pid(n)): f'{{"2024-01-{day:02d}": {day}}}\n'.encode()}

    h.commit({**plain_files(one), **json_files(two), **followers(1, 1), **followers(2, 1),
              **registry(pid(1), pid(2))}, T0)
    h.commit({**followers(1, 2), **followers(2, 2)}, T0 + DAY)  # followers alone: a run
    h.commit({**snapshot_changes("delete", pid(2), [], 0), **followers(1, 3)}, T0 + 2 * DAY)
    h.commit({layout.followers_path(pid(2)): None}, T0 + 3 * DAY)  # deleted alone: no run
    h.repo.references.create("refs/heads/side", h.tip(), force=True)
    h.commit({**json_files(one), **followers(1, 5)}, T0 + 5 * DAY)
    h.commit({**followers(1, 6)}, T0 + 6 * DAY, branch="side")
    h.merge("main", "side", T0 + 7 * DAY)
    h.commit({**snapshot_changes("json-followers", pid(1), [1], 8), **followers(1, 8)},
             T0 + 8 * DAY)
    return h


def test_events_without_followers_are_the_same_commits_and_runs(tmp_path: Path) -> None:
    """EventReader(followers=False) leaves out the followers files of an event that writes
    a snapshot (a whole-history replay reads none); any other is read whole, so the
    events, their order and which are runs are the same."""
    h = with_followers(tmp_path)
    full = sorted_events(walk_events(h.repo, h.repo.head.target, None, {}))
    lean = sorted_events(walk_events(h.repo, h.repo.head.target, None, {},
                                     EventReader(h.repo, followers=False)))
    assert [(e.key, e.is_run, e.registry, e.observed) for e in lean] == [
        (e.key, e.is_run, e.registry, e.observed) for e in full]
    left_out = 0
    for a, b in zip(lean, full, strict=True):
        if a.followers:
            assert a == b  # read whole: followers alone, or deletions only
        else:
            assert a.writes == tuple(w for w in b.writes if w.kind != KIND_FOLLOWERS)
            left_out += len(b.writes) - len(a.writes)
    assert left_out >= 4
    assert any(e.followers and {w.kind for w in e.writes} == {KIND_FOLLOWERS} and e.is_run
               for e in lean)
    assert any(e.followers and not e.is_run for e in lean)


def test_followers_written_sees_the_same_files_in_events_without_them(tmp_path: Path) -> None:
    """pictures.followers_written given a whole-history walk's events (followers files left
    out) looks at every file in either tree: the same playlists as from every write."""
    h = with_followers(tmp_path)
    head = h.repo.head.peel(pygit2.Commit)
    state = sync(h.store, full=True).state
    full = list(walk_events(h.repo, head.id, None, {}))
    lean = list(walk_events(h.repo, head.id, None, {}, EventReader(h.repo, followers=False)))
    assert not all(e.followers for e in lean)
    commits = list(h.repo.walk(head.id, pygit2.enums.SortMode.REVERSE))
    for before in (None, commits[0].tree, commits[2].tree):
        a = pictures.followers_written(h.store, full, state, [], before=before, after=head.tree)
        b = pictures.followers_written(h.store, lean, state, [], before=before, after=head.tree)
        assert a == b and a


@pytest.mark.parametrize("block", [1, 100])
def test_every_write_of_a_playlist_holds_one_id_string(tmp_path: Path, block: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole history's writes, read on both cores (the child's pickled to this process),
    hold one ``pid`` string per playlist and no ``__dict__`` each: both processes of a
    rebuild hold every write of the history."""
    h = branchy(tmp_path)
    h.repo.set_head("refs/heads/main")
    monkeypatch.setattr(walk, "PARALLEL_MIN_COMMITS", 0)
    monkeypatch.setattr(walk, "BLOCK", block)
    events = walk.whole_history(h.repo, h.repo.head.target, {})
    writes = [w for event in events for w in event.writes]
    assert len(writes) > len({w.pid for w in writes}) >= 2
    assert len({id(w.pid) for w in writes}) == len({w.pid for w in writes})
    assert not any(hasattr(w, "__dict__") for w in writes)
    assert [pickle.loads(pickle.dumps(w)) for w in writes] == writes
