"""fetch's incremental cumulative views, charts and timelines equal a full rebuild's.

fetch keeps the cumulative files current in its own commit from the snapshots it
holds in memory (history/pending.py) instead of reading the history again; day
after day, with every kind of change, what it commits and the state it saves must
be exactly what a whole-history rebuild of the same commits gives.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygit2
import pytest
from cli_support import KPOP, LONG, OLD_1970, SMALL, run
from conftest import StandInSetup
from history_support import timelines_as_dict

from gitarchive.archive import registry
from gitarchive.git.store import Store
from gitarchive.history import saved, timeline_read
from gitarchive.history.rebuild import rebuild
from gitarchive.ops import snapfiles
from gitarchive.ops.fetch import fetch
from gitarchive.spotify.fixtures import load_fixture_playlists

DAY = 86_400
START = 1_772_344_800  # 2026-03-01 06:00 UTC


def _entries(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data["items"]["items"]  # type: ignore[no-any-return]


def _day2(served: dict[str, dict[str, Any]]) -> None:
    _entries(served[SMALL]).pop()  # a track removed
    served[OLD_1970]["followers"] = {"total": 400}  # a follower count alone
    first = _entries(served[LONG])[0]["item"]
    first["name"] = first["name"] + " (Remastered)"  # same track, new name


def _day3(served: dict[str, dict[str, Any]]) -> None:
    served[SMALL]["name"] = "Renamed mix"
    served[SMALL]["description"] = "A new description"
    entries = _entries(served[SMALL])
    entries.insert(0, entries.pop())  # reordered


def _day4(served: dict[str, dict[str, Any]]) -> None:
    _entries(served[KPOP]).pop(0)  # back after failing, one track fewer
    entries = _entries(served[LONG])
    entries.append(copy.deepcopy(entries[3]))  # a duplicate entry
    _entries(served[SMALL]).append(copy.deepcopy(_entries(served[OLD_1970])[0]))


def _same_as_a_full_rebuild(repo: Path, tmp_path: Path, day: int) -> None:
    """A copy without the saved state, rebuilt from the whole history, changes nothing,
    follower charts included (a count that moved alone is drawn by the fetch itself);
    the timelines fetch saved are those a whole-history read gives."""
    copy_path = tmp_path / f"copy-{day}"
    shutil.copytree(repo, copy_path, symlinks=True)
    shutil.rmtree(copy_path / ".git" / "gitarchive", ignore_errors=True)
    from_fetch = timelines_as_dict(timeline_read.update(Store(repo), save=False))
    fresh = Store(copy_path)  # no saved state: a whole-history read
    assert from_fetch == timelines_as_dict(timeline_read.update(fresh, save=False)), day
    rebuilt = rebuild(fresh, full=True)
    assert rebuilt.commit is None and rebuilt.pictures == [], (day, rebuilt.pictures)


def test_views_kept_by_fetch_equal_a_full_rebuild(standin: StandInSetup, tmp_path: Path) -> None:
    repo = tmp_path / "archive"
    assert run("init", str(repo))[0] == 0
    store = Store(repo)
    registry.add(store, [OLD_1970, KPOP, SMALL, LONG], when=(START - DAY, 0))
    served = copy.deepcopy(load_fixture_playlists())
    days: list[Callable[[dict[str, dict[str, Any]]], None] | None] = [
        None, _day2, _day3, _day4,
    ]
    for day, change in enumerate(days, start=1):
        if change is not None:
            change(served)
        for pid, data in served.items():
            standin.server.set_playlist(pid, copy.deepcopy(data))
        if day == 3:
            standin.server.remove_playlist(KPOP)  # fails today: a gap, not a removal
        kept = saved.load(store)
        report = fetch(store, standin.client, when=(START + day * DAY, 0), jobs=2)
        assert report.commit is not None, day
        assert [o.pid for o in report.failed] == ([KPOP] if day == 3 else []), day
        if day == 2:  # its follower count alone moved: its saved file is not rewritten
            after = saved.load(store)
            assert kept is not None and after is not None
            assert after.state.files[OLD_1970] == kept.state.files[OLD_1970]
            assert after.state.files[SMALL] != kept.state.files[SMALL]
            commit = store.repo[report.commit].peel(pygit2.Commit)
            written = {d.new_file.path for d in
                       commit.parents[0].tree.diff_to_tree(commit.tree).deltas}
            assert f"playlists/charts/{OLD_1970}-followers.svg" in written  # its chart alone
            assert f"playlists/charts/{OLD_1970}-tenure.svg" not in written
        _same_as_a_full_rebuild(repo, tmp_path, day)


@pytest.mark.parametrize("child", ["renders", "dies"])
def test_snapshots_rendered_in_a_forked_process_give_the_same_commits(
    standin: StandInSetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child: str
) -> None:
    """From snapfiles.FORK_MIN playlists a forked process renders half of them; the
    commits are the same either way, and when the child dies its half is done here."""
    parent = os.getpid()
    original = snapfiles.snapshot_files

    def dying(*args: Any) -> dict[str, bytes]:
        if os.getpid() != parent:
            os._exit(1)  # the child dies at its first playlist
        return original(*args)

    runs = []
    for fork_min in (10_000, 1):
        monkeypatch.setattr(snapfiles, "FORK_MIN", fork_min)
        monkeypatch.setattr(snapfiles, "CHUNK", 1)
        if child == "dies":
            monkeypatch.setattr(snapfiles, "snapshot_files", dying)
        repo = tmp_path / str(fork_min)
        assert run("init", str(repo))[0] == 0
        store = Store(repo)
        registry.add(store, [OLD_1970, KPOP, SMALL, LONG], when=(START - DAY, 0))
        served = copy.deepcopy(load_fixture_playlists())
        for day, change in enumerate([None, _day2], start=1):
            if change is not None:
                change(served)
            for pid, data in served.items():
                standin.server.set_playlist(pid, copy.deepcopy(data))
            fetch(store, standin.client, when=(START + day * DAY, 0), jobs=2)
        head = store.head()
        assert head is not None
        runs.append([(c.tree_id, c.message) for c in store.repo.walk(head.id)])
    assert runs[0] == runs[1]
