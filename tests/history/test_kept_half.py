"""A whole-history rebuild whose command builds the questions' index next (``rows``): the
forked half's playlists stay on disk in this process (their saved files written there,
their index rows made there), and everything made from them is what reading them gives."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from history_support import History, eight_playlists, json_files, pid, playlist, track

from gitarchive.history import rebuild as rebuild_module
from gitarchive.history import saved, timeline
from gitarchive.history import sync as sync_module
from gitarchive.history.publish import render_all
from gitarchive.history.state import state_to_dict
from gitarchive.questions.index import index_path
from gitarchive.questions.indexing import build, open_index, state_rows

T0 = 1_700_000_000
DAY = 86_400


def archive(path: Path) -> History:
    return eight_playlists(str(path), T0)


def table(db: Path, name: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as con:
        return list(con.execute(f"SELECT * FROM {name} ORDER BY 1, 2, 3"))


def test_the_forked_half_stays_on_disk_and_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = archive(tmp_path / "a")
    alone = sync_module.sync(h.store, full=True)
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0)  # halves in two processes
    result = rebuild_module.rebuild(h.store, full=True, rows=state_rows)
    synced = result.synced
    assert synced is not None and synced.viewed  # the child's rows came
    kept = sorted(synced.viewed)
    assert all(synced.state.playlists.on_disk(p) for p in kept)  # never read here
    assert set(synced.extra) == set(synced.state.playlists)  # this half's made here
    # the index from the rows the child made is the one made from the playlists
    with open_index(h.store, synced=synced):
        pass
    fresh = tmp_path / "fresh.sqlite"
    build(fresh, [], alone.state, None)
    for name in ("playlists", "tracks"):
        assert table(index_path(h.store), name) == table(fresh, name)
    # the saved state and the views are those of a replay in one process
    loaded = saved.load(h.store)
    assert loaded is not None
    assert state_to_dict(loaded.state) == state_to_dict(alone.state)
    assert state_to_dict(synced.state) == state_to_dict(alone.state)  # read when asked
    expected = render_all(alone.state, timezone=None, githistory_base=None)
    assert {p: h.store.read(p) for p in expected} == expected
    # again, over the views just committed: nothing is stale, nothing changes
    again = rebuild_module.rebuild(h.store, full=True, rows=state_rows)
    assert again.commit is None and again.changed == []


def _pickles(h: History) -> tuple[set[str], set[str]]:
    """(the playlist files the saved manifest names, the playlist files in the folder)."""
    loaded = saved.load(h.store)
    named = set(loaded.state.files.values()) if loaded is not None else set()
    folder = saved.state_dir(h.store)
    return named, {p.name for p in folder.glob("*.pickle") if p.name != "manifest.pickle"}


def test_a_failed_rebuild_leaves_none_of_the_forked_halfs_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child wrote its playlists' files and this process kept them on disk; the
    rebuild then fails before its save: none of them stays, the old state is intact."""
    h = archive(tmp_path / "a")
    rebuild_module.rebuild(h.store, full=True, rows=state_rows)
    before = _pickles(h)
    assert before[0] == before[1]
    h.commit(json_files(playlist(pid(1), "P0", [track(99)])), T0 + 9 * DAY)
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0)  # halves in two processes

    def refused(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(rebuild_module.Store, "commit", refused)
    with pytest.raises(OSError, match="disk full"):
        rebuild_module.rebuild(h.store, full=True, rows=state_rows)
    assert _pickles(h) == before


def test_a_rebuild_killed_after_the_forked_half_wrote_its_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed between the child's files and the save (no cleanup runs): the files stay,
    named by no manifest; the next rebuild's save removes them, and its state is right."""
    h = archive(tmp_path / "a")
    alone = sync_module.sync(h.store, full=True)
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0)  # halves in two processes

    def killed(*args: object, **kwargs: object) -> None:
        os._exit(9)

    pid_ = os.fork()
    if pid_ == 0:  # the run to kill, in a process of its own
        try:
            monkeypatch.setattr(rebuild_module.Store, "commit", killed)
            rebuild_module.rebuild(h.store, full=True, rows=state_rows)
        finally:
            os._exit(3)  # not killed where meant: the parent's assertion says so
    assert os.waitpid(pid_, 0)[1] >> 8 == 9
    named, on_disk = _pickles(h)
    assert not named and len(on_disk) == 8  # every playlist's file, named by no manifest
    rebuild_module.rebuild(h.store, full=True, rows=state_rows)
    named, on_disk = _pickles(h)
    assert named == on_disk and len(named) == 8
    loaded = saved.load(h.store)
    assert loaded is not None
    assert state_to_dict(loaded.state) == state_to_dict(alone.state)


def test_a_split_rebuild_saves_every_playlists_snapshot_beside_its_timelines(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The timelines' meta row names each playlist's current snapshot blobs (``sources``:
    a daily fetch then moves a follower-count-only version without reading the row), both
    processes' playlists, as a rebuild in one process saves them."""
    alone, split = archive(tmp_path / "alone"), archive(tmp_path / "split")
    rebuild_module.rebuild(alone.store, full=True, rows=state_rows)
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0)  # halves in two processes
    result = rebuild_module.rebuild(split.store, full=True, rows=state_rows)
    assert result.synced is not None and result.synced.viewed  # the child's came
    found = []
    for h in (alone, split):
        head = h.store.head()
        assert head is not None
        timelines = timeline.load_meta(h.store, head)
        assert timelines is not None
        found.append(timelines.sources)
    assert found[1] == found[0] and set(found[0]) == set(result.synced.state.playlists)
