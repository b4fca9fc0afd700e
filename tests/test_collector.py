"""collector.paused: the garbage collector off inside, as it was after."""

from __future__ import annotations

import gc

import pytest

from gitarchive import collector


def test_collector_paused_restores_its_state() -> None:
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause found it off: leaves it off
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector.paused():
        raise RuntimeError
    assert gc.isenabled()


def test_collector_left_on_when_not_asked_to_pause() -> None:
    with collector.paused(False):
        assert gc.isenabled()
    assert gc.isenabled()


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_what_a_pause_made_is_aged_unexamined_and_still_collected() -> None:
    """After a pause, the objects made inside are in the oldest generation (no young
    collection examines them all at once), and a cycle among them is still collected."""
    import weakref

    with collector.paused():
        made = [[n] for n in range(100_000)]  # containers the collector tracks
        cycle = _Cycle()
        alive = weakref.ref(cycle)
    oldest = {id(obj) for obj in gc.get_objects(generation=2)}
    assert id(made) in oldest and id(made[-1]) in oldest  # not young, to be examined again
    assert gc.get_freeze_count() == 0  # none left aside for good
    del cycle
    assert alive() is not None  # a cycle: reference counting cannot free it
    gc.collect()
    assert alive() is None and len(made) == 100_000
