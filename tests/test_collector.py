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
