"""Many playlists' saved files written at once go into shelves (history/shelf.py): the state
loaded back is the one saved, a day's run leaves the other entries where they are, a shelf
goes once no entry is named, and a damaged shelf means a replay, never a wrong state."""

from __future__ import annotations

from pathlib import Path

import pytest
from history_support import History, json_files, pid, playlist, registry, track

from gitarchive.history import rebuild as rebuild_module
from gitarchive.history import saved, shelf
from gitarchive.history import sync as sync_module
from gitarchive.history.state import state_to_dict
from gitarchive.questions.indexing import state_rows

T0 = 1_700_000_000
DAY = 86_400
PIDS = [pid(n) for n in range(1, 9)]


def archive(path: Path, days: int = 4) -> History:
    h = History(str(path))
    for day in range(days):
        h.commit({**{name: data for n, p in enumerate(PIDS)
                     for name, data in json_files(playlist(p, f"P{n}", [
                         track(n), track(10 + day), track(20 + n + day)])).items()},
                  **registry(*PIDS)}, T0 + day * DAY)
    return h


@pytest.fixture
def small_shelves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shelf, "SHELF_MIN", 2)  # two playlists at once are shelved
    monkeypatch.setattr(shelf, "SHELF", 3)


def on_disk(h: History) -> set[str]:
    return {p.name for p in saved.state_dir(h.store).glob("*.pickle")} - {"manifest.pickle"}


def loaded_files(h: History) -> dict[str, str]:
    loaded = saved.load(h.store)
    assert loaded is not None
    return loaded.state.files


def alone(h: History) -> dict[str, object]:
    return state_to_dict(sync_module.sync(h.store, full=True).state)


@pytest.mark.usefixtures("small_shelves")
@pytest.mark.parametrize("split", [True, False])
def test_a_whole_replay_saves_its_playlists_in_shelves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, split: bool) -> None:
    h = archive(tmp_path)
    expected = alone(h)
    if split:  # halves in two processes: the child's and this process's files written ahead
        monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0)
        result = rebuild_module.rebuild(h.store, full=True, rows=state_rows)
    else:  # one process: the save writes them all
        result = rebuild_module.rebuild(h.store, full=True)
    assert result.full
    files = loaded_files(h)
    assert sorted(files) == PIDS and all(shelf.SEP in name for name in files.values())
    assert shelf.files_of(files.values()) == on_disk(h)
    assert len(on_disk(h)) < len(PIDS)
    loaded = saved.load(h.store)
    assert loaded is not None and state_to_dict(loaded.state) == expected
    # a day changing one playlist: its own file; the others stay in their shelves
    h.commit(json_files(playlist(PIDS[0], "P0", [track(0), track(99)])), T0 + 9 * DAY)
    day = rebuild_module.rebuild(h.store)
    assert not day.full
    after = loaded_files(h)
    assert shelf.SEP not in after[PIDS[0]]
    assert {p: after[p] for p in PIDS[1:]} == {p: files[p] for p in PIDS[1:]}
    assert shelf.files_of(after.values()) == on_disk(h)  # a shelf no entry names is gone
    loaded = saved.load(h.store)
    assert loaded is not None and state_to_dict(loaded.state) == alone(h)


@pytest.mark.usefixtures("small_shelves")
def test_a_shelf_overwritten_or_cut_short_means_a_replay(tmp_path: Path) -> None:
    h = archive(tmp_path)
    rebuild_module.rebuild(h.store, full=True)
    name, offset, length, _ = loaded_files(h)[PIDS[0]].split(shelf.SEP)
    path = saved.state_dir(h.store) / name
    data = bytearray(path.read_bytes())
    data[int(offset) + int(length) // 2] ^= 1  # the same size, another byte in its entry
    path.write_bytes(bytes(data))
    h.commit(json_files(playlist(PIDS[0], "P0", [track(0), track(77)])), T0 + 9 * DAY)
    result = rebuild_module.rebuild(h.store)
    assert result.full  # its entry failed its digest: the whole history replayed
    loaded = saved.load(h.store)
    assert loaded is not None and state_to_dict(loaded.state) == alone(h)
    name = sorted(shelf.files_of(loaded_files(h).values()))[0]
    path = saved.state_dir(h.store) / name
    path.write_bytes(path.read_bytes()[:-5])  # cut short: the manifest's size differs
    assert saved.load(h.store) is None


@pytest.mark.usefixtures("small_shelves")
def test_a_shelf_less_than_half_alive_is_emptied_by_the_save(tmp_path: Path) -> None:
    h = archive(tmp_path)
    rebuild_module.rebuild(h.store, full=True)
    files = loaded_files(h)
    shelves: dict[str, list[str]] = {}
    for p, name in sorted(files.items()):
        shelves.setdefault(shelf.file_of(name), []).append(p)
    full_shelf, members = next((s, m) for s, m in sorted(shelves.items()) if len(m) == 3)
    changed, kept = members[:2], members[2]
    # a day rewrites two of its three playlists: a third of the shelf is still named
    h.commit({name: data for n, p in enumerate(changed)
              for name, data in json_files(playlist(p, f"C{n}", [track(50 + n)])).items()},
             T0 + 9 * DAY)
    day = rebuild_module.rebuild(h.store)
    assert not day.full
    after = loaded_files(h)
    assert shelf.file_of(after[kept]) != full_shelf  # moved out, its bytes as they were
    assert full_shelf not in on_disk(h) and shelf.files_of(after.values()) == on_disk(h)
    others = [p for p in PIDS if p not in members]
    assert {p: after[p] for p in others} == {p: files[p] for p in others}  # the rest stay
    loaded = saved.load(h.store)
    assert loaded is not None and state_to_dict(loaded.state) == alone(h)
    # this process's state, its playlist not read yet, reads it under its new name
    assert day.synced is not None and day.synced.state.playlists.on_disk(kept)
    assert day.synced.state.playlists[kept].pid == kept


def test_compact_leaves_a_shelf_it_cannot_read(tmp_path: Path) -> None:
    written = shelf.write_all(tmp_path, "t", [("a", b"x" * 10), ("b", b"y" * 30)],
                              shelved=True)
    (name_a, size), (name_b, _) = written["a"], written["b"]
    sizes = {shelf.file_of(name_a): size}
    assert shelf.compact(tmp_path, "u", {"a": name_a}, sizes).keys() == {"a"}  # 10 of 40 bytes
    (tmp_path / shelf.file_of(name_a)).write_bytes(b"z" * size)  # overwritten: digests differ
    assert shelf.compact(tmp_path, "u", {"a": name_a}, sizes) == {}
    assert shelf.compact(tmp_path, "u", {"a": name_a, "b": name_b}, sizes) == {}  # 40 of 40
