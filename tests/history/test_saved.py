"""The saved replay state keeps every registry as it was: none, empty, or some ids."""

from __future__ import annotations

from pathlib import Path

from history_support import History, pid

from gitarchive.history import saved
from gitarchive.history.state import HistoryState


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
