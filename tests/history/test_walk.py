"""A whole history's events read on both cores (history/walk.py) are the events one walk
of every commit gives, with the same generations; a child that dies changes nothing."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pygit2
import pytest
from history_support import History, json_files, pid, plain_files, playlist, registry, track

from gitarchive.history import walk
from gitarchive.history.events import Event, EventReader, sorted_events, walk_events

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
    gens: dict[str, int] = {}
    return sorted_events(walk_events(repo, repo.head.target, None, gens)), gens


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
