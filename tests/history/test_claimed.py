"""A whole-history rebuild shared out a group at a time (history/claimed.py): whichever
process is free takes the next group, so a slow side does less; each group is done once,
and a child that dies has its groups done here; the result is one replay's."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest
from history_support import (
    History,
    json_files,
    pid,
    playlist,
    read_alone_timelines,
    registry,
    track,
)

from gitarchive.history import claimed, grouped, timeline_record
from gitarchive.history import sync as sync_module
from gitarchive.history.state import state_to_dict
from gitarchive.history.sync import sync

T0 = 1_700_000_000
DAY = 86_400
COUNT = 24  # playlists


def archive(path: Path) -> History:
    """COUNT playlists over three days, each day's tracks their own."""
    h = History(str(path))
    pids = [pid(n) for n in range(1, COUNT + 1)]
    for day in range(3):
        files = {name: data for n, p in enumerate(pids)
                 for name, data in json_files(playlist(p, f"P{n}", [
                     track(n), track(100 + day), track(200 + n * day)])).items()}
        h.commit({**files, **registry(*pids)}, T0 + day * DAY)
    return h


def drawer(log: Path, slow_in: int | None, dies: bool = False) -> timeline_record.DrawFn:
    """Pictures of one byte, each playlist's noted with the process drawing it; the process
    ``slow_in`` takes a tenth of a second a group; ``dies``: other processes' pictures kill
    them as they are sent."""

    def draw(lookup: object, pids: list[str], state: object, tree: str
             ) -> dict[str, dict[str, bytes]]:
        with log.open("a") as out:
            out.writelines(f"{os.getpid()} {p}\n" for p in pids)
        if os.getpid() == slow_in:
            time.sleep(0.1)
        elif dies:
            return {p: {f"{p}.svg": DiesWhenSent()} for p in pids}  # type: ignore[dict-item]
        return {p: {f"{p}.svg": b"x"} for p in pids}

    return draw


class DiesWhenSent:
    """A picture that kills the process sending it."""

    def __reduce__(self) -> tuple[object, ...]:
        os._exit(3)

    def __len__(self) -> int:
        return 1  # counted as held (claimed.HELD)


def drawn_by(log: Path) -> dict[str, list[str]]:
    """process id -> the playlists it drew."""
    found: dict[str, list[str]] = {}
    for line in log.read_text().split("\n"):
        if line:
            who, p = line.split()
            found.setdefault(who, []).append(p)
    return found


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0)  # two processes
    monkeypatch.setattr(sync_module, "two_cores", lambda: True)
    monkeypatch.setattr(grouped, "GROUP", 2)  # twelve groups of two
    monkeypatch.setattr(grouped, "LEAST", 2)


@pytest.mark.usefixtures("shared")
def test_the_free_process_takes_the_next_group(tmp_path: Path) -> None:
    """This process, slowed, draws few groups and the child most (a fixed half each gave
    each process about half), each playlist once; the state is one replay's."""
    h = archive(tmp_path / "a")
    whole = state_to_dict(sync(h.store, full=True).state)
    log = tmp_path / "drawn"
    split = sync(h.store, full=True, timelines=True, draw=drawer(log, slow_in=os.getpid()))
    assert state_to_dict(split.state) == whole
    by = drawn_by(log)
    here = by.pop(str(os.getpid()), [])
    [theirs] = by.values()
    assert sorted(here + theirs) == sorted(split.drawn) == [pid(n) for n in range(1, 25)]
    assert 2 <= len(here) <= 8 < 16 <= len(theirs)  # the first group, and a few more


@pytest.mark.usefixtures("shared")
def test_a_dead_childs_groups_are_done_here(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The child takes most groups, then dies sending its pictures: every group it took is
    replayed and drawn here, and the state and pictures are those of one replay."""
    h = archive(tmp_path / "a")
    whole = state_to_dict(sync(h.store, full=True).state)
    log = tmp_path / "drawn"
    # kept as made (not written to the objects where made), so that sending them kills it
    monkeypatch.setattr(timeline_record, "store_all", lambda repo, contents: list(contents))
    split = sync(h.store, full=True, timelines=True,
                 draw=drawer(log, slow_in=os.getpid(), dies=True))
    assert state_to_dict(split.state) == whole
    assert sorted(split.drawn) == sorted(t.pid for t in read_alone_timelines(h.store))
    assert all(split.drawn[p] == {f"{p}.svg": b"x"} for p in split.drawn)
    by = drawn_by(log)
    here = by.pop(str(os.getpid()))
    [died] = by.values()
    assert len(died) >= 16  # it had taken most groups
    assert sorted(here) == sorted(split.drawn)  # first this side's groups, then the child's


def test_each_group_is_taken_once(tmp_path: Path) -> None:
    """Two processes taking numbers as fast as they can: each number once, all of them."""
    claims = claimed.Claims(500)
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)

    def take() -> None:
        sender.send(list(claims.mine(1)))

    child = context.Process(target=take)
    child.start()
    here = list(claims.mine(0))
    theirs = receiver.recv()
    child.join()
    claims.close()
    assert here[0] == 0 and theirs[0] == 1
    assert sorted(here + theirs) == list(range(500))
    assert here == claims.taken


@pytest.mark.parametrize("count", [0, 1, 2, 3, 8, 63, 64, 100, 1000, 10**6])
def test_groups_taper_to_the_end(count: int) -> None:
    """Groups of GROUP while much is left, then smaller (a quarter of the rest, down to
    LEAST), never growing; two at least when there are two playlists; never too many
    for the pipe of numbers."""
    sizes = grouped.tapered(count)
    most = max(grouped.GROUP, -(-count // 8000))  # larger only past half a million
    assert sum(sizes) == count
    assert sizes == sorted(sizes, reverse=True)
    assert all(0 < size <= most for size in sizes)
    assert len(sizes) >= min(count, 2)
    assert 4 * len(sizes) <= 1 << 16
    if count >= 4 * grouped.GROUP:
        assert sizes[0] == most and grouped.LEAST <= sizes[-2] < most
