"""The saved replay state keeps every registry as it was: none, empty, or some ids; a daily
rebuild writes its changed playlists' files ahead, each once, and leaves no stray one."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from history_support import History, json_files, pid, playlist, track
from history_support import registry as registry_files

from gitarchive.archive.snapshots import TrackMeta
from gitarchive.errors import StoreError
from gitarchive.git.store import Store
from gitarchive.history import saved
from gitarchive.history.rebuild import rebuild
from gitarchive.history.state import HistoryState, PlaylistHistory, TrackHistory

DAY = 86_400
T0 = 1_700_000_000


def test_registries_survive_saving_and_loading_twice(tmp_path: Path) -> None:
    store = History(str(tmp_path)).store
    state = HistoryState()
    registries = [None, frozenset(), frozenset({pid(2), pid(1)}), frozenset({pid(3)})]
    for when, registry in enumerate(registries):
        state.add_run(1_700_000_000 + when, registry)
    saved.save(store, saved.SavedState("0" * 40, {}, state))
    loaded = saved.load(store)
    assert loaded is not None and loaded.state.registries == registries
    assert loaded.state.runs == state.runs
    # saved again with one more registry: the ones loaded are written as they were read
    loaded.state.add_run(1_700_000_009, frozenset({pid(4), pid(1)}))
    saved.save(store, saved.SavedState("0" * 40, {}, loaded.state))
    again = saved.load(store)
    assert again is not None
    assert again.state.registries == [*registries, frozenset({pid(4), pid(1)})]


class Counted(frozenset[str]):
    """A registry that counts how often one is compared with another by value."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        Counted.compared += 1
        return frozenset.__eq__(self, other)

    def __hash__(self) -> int:
        return frozenset.__hash__(self)


def test_runs_find_their_registry_object_without_comparing_it_again() -> None:
    """Equal registries made apart (each half of a split walk makes its own) get one index,
    and each object is compared by value once, not once per run: a registry holds every
    playlist's ID, and a whole replay adds a run per commit to each group's state."""
    state = HistoryState()
    first, second = Counted({pid(1), pid(2)}), Counted({pid(2), pid(1)})
    Counted.compared = 0
    for when in range(10):
        state.add_run(T0 + when, first if when % 2 else second)
    assert Counted.compared == 1
    assert [registry for _, registry in state.runs] == [0] * 10
    assert state.registries == [frozenset({pid(1), pid(2)})]


def _state_files(store: Store) -> tuple[set[str], set[str]]:
    """(the playlist files the manifest names, the playlist files in the folder)."""
    loaded = saved.load(store)
    assert loaded is not None
    folder = saved.state_dir(store)
    on_disk = {p.name for p in folder.iterdir() if p.name != "manifest.pickle"}
    return set(loaded.state.files.values()), on_disk


def test_a_daily_rebuild_writes_the_changed_playlists_ahead_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A daily rebuild writes the state files of the playlists that changed while it draws
    (saved.write_ahead), each once; the manifest names them, and a run that fails before
    saving leaves none of them behind."""
    h = History(str(tmp_path))
    h.commit({**json_files(playlist(pid(1), "One", [track(1), track(2)])),
              **json_files(playlist(pid(2), "Two", [track(3)])), **registry_files(pid(1), pid(2))},
             T0)
    rebuild(h.store)
    ahead: list[saved.Ahead] = []
    real = saved.write_ahead

    def recorded(store: Store, state: HistoryState) -> saved.Ahead:
        ahead.append(real(store, state))
        return ahead[-1]

    monkeypatch.setattr(saved, "write_ahead", recorded)
    h.commit(json_files(playlist(pid(1), "One", [track(2), track(4)])), T0 + DAY)
    result = rebuild(h.store)
    assert not result.full and result.commit is not None
    assert list(ahead[0]) == [pid(1)]
    loaded = saved.load(h.store)
    assert loaded is not None
    assert loaded.state.files[pid(1)] == ahead[0][pid(1)][2]  # not written again
    named, on_disk = _state_files(h.store)
    assert named == on_disk
    h.commit(json_files(playlist(pid(2), "Two", [track(5)])), T0 + 2 * DAY)

    def refused(*args: object, **kwargs: object) -> None:
        raise StoreError("the branch moved")

    monkeypatch.setattr(Store, "commit", refused)
    with pytest.raises(StoreError):
        rebuild(h.store)
    assert list(ahead[1]) == [pid(2)]
    assert _state_files(h.store) == (named, on_disk)  # the old state, nothing more


def test_files_a_killed_run_wrote_ahead_are_removed_by_the_next_save(tmp_path: Path) -> None:
    """A run killed while it drew or committed leaves the files it wrote ahead, named by
    no manifest; the next daily save removes them (they piled up a run at a time)."""
    h = History(str(tmp_path))
    h.commit({**json_files(playlist(pid(1), "One", [track(1)])),
              **json_files(playlist(pid(2), "Two", [track(3)])), **registry_files(pid(1), pid(2))},
             T0)
    rebuild(h.store)
    folder = saved.state_dir(h.store)
    named, _ = _state_files(h.store)
    stray = next(iter(named)).split(".")[0] + ".0123456789ab.deadbeef.pickle"
    (folder / stray).write_bytes(b"left by a killed run")
    h.commit(json_files(playlist(pid(1), "One", [track(1), track(2)])), T0 + DAY)
    result = rebuild(h.store)
    assert not result.full
    named, on_disk = _state_files(h.store)
    assert stray not in on_disk
    assert named == on_disk


def test_a_whole_replay_on_two_cores_writes_every_playlist_file_ahead(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole-history rebuild split over two processes writes each playlist's state file
    as its half has it (the child's from the bytes it sent, this process's while it waits
    for the child): the save names those files, writes none again, and loads back the
    state a one-process replay builds; a run that fails before saving leaves none."""
    from gitarchive.history import sync as sync_module
    from gitarchive.history.state import state_to_dict

    h = History(str(tmp_path))
    pids = [pid(n) for n in range(1, 9)]
    for day in range(4):
        h.commit({**{name: data for n, p in enumerate(pids)
                     for name, data in json_files(playlist(p, f"P{n}", [
                         track(n), track(10 + day), track(20 + n + day)])).items()},
                  **registry_files(*pids)}, T0 + day * DAY)
    alone = state_to_dict(sync_module.sync(h.store, full=True).state)
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0)  # halves in two processes
    result = rebuild(h.store, full=True)
    assert result.full and result.synced is not None
    ahead = result.synced.ahead
    assert sorted(ahead) == pids
    loaded = saved.load(h.store)
    assert loaded is not None
    assert loaded.state.files == {p: ahead[p][2] for p in pids}  # none written again
    assert state_to_dict(loaded.state) == alone
    named, on_disk = _state_files(h.store)
    assert named == on_disk

    def refused(*args: object, **kwargs: object) -> None:
        raise StoreError("the branch moved")

    h.commit(json_files(playlist(pids[0], "P0", [track(99)])), T0 + 9 * DAY)
    monkeypatch.setattr(Store, "commit", refused)
    with pytest.raises(StoreError):
        rebuild(h.store, full=True)
    assert _state_files(h.store) == (named, on_disk)  # the old state, nothing more


def test_a_saved_playlist_reads_back_equal_with_its_metas_as_track_metas() -> None:
    """A playlist's saved bytes (``pickled``) read back (``unpickled``) as an equal playlist,
    each track's meta a TrackMeta (made as the tuple it is); a meta saved with fewer
    fields (TrackMeta's defaults after them) still reads, its defaults filled in."""
    meta = TrackMeta("u", "Song", ("Album", ""), (("Artist", ""),), 1000, "me")
    short = TrackMeta("", "Other", ("Album", ""), (), None)
    p = PlaylistHistory(pid(1), None, "b" * 40, "Name", "", "About", 10, 20,
                        {"k1": TrackHistory(meta, 10, None, None, 1, None, True, True, True),
                         "k2": TrackHistory(short, 10, 15, 20, 2, 5, False, False, False)},
                        {"k1"}, True, 3, chunks={"line": "k1"}, counts={"k1": 1},
                        gaps=[[1, 2, 0]])
    back = saved.unpickled(saved.pickled(p))
    assert back == p and back.changed
    assert all(type(t.meta) is TrackMeta for t in back.tracks.values())
    row = pickle.loads(saved.pickled(p))
    shorter = (*row[:12], [(key, meta[:5], *rest) for key, meta, *rest in row[12]], *row[13:])
    again = saved.unpickled(pickle.dumps(shorter, protocol=5))
    assert again.tracks["k1"].meta == meta[:5] + (None,) and again.tracks["k2"].meta == short
    assert all(type(t.meta) is TrackMeta for t in again.tracks.values())
