"""The fork-and-merge helper: what the child sends arrives; a child that dies sends less."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pytest

from gitarchive.history.parallel import Forked, Meanwhile, in_halves


def test_every_message_of_the_child_arrives_in_order() -> None:
    def work() -> Iterator[tuple[int, str]]:
        for n in range(50):
            yield n, "x" * n

    with Forked(work) as child:
        early = child.poll()  # whatever has come so far, without waiting
        received = child.finish()
    assert received == [(n, "x" * n) for n in range(50)]
    assert early == received[: len(early)]


def test_a_child_that_dies_sends_what_it_had_sent() -> None:
    def work() -> Iterator[int]:
        yield 1
        yield 2
        os._exit(3)  # killed mid-way: no exception, no goodbye

    with Forked(work) as child:
        received = child.finish()
    assert received == [1, 2]  # the caller does the rest itself


def test_a_child_that_raises_sends_nothing_more() -> None:
    def work() -> Iterator[int]:
        yield 1
        raise RuntimeError("a bug in the child's half")

    with Forked(work) as child:
        assert child.finish() == [1]


def test_in_background_the_child_never_waits_on_a_full_pipe(tmp_path: Path) -> None:
    """This side, busy with its own half, takes nothing; the child still sends it all
    (many pipe buffers' worth) and finishes, and every message arrives in order."""
    done = tmp_path / "child-done"

    def work() -> Iterator[bytes]:
        for n in range(64):
            yield bytes([n]) * 100_000
        done.touch()

    with Forked(work, background=True) as child:
        deadline = time.monotonic() + 60
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # this side's own work: no poll()
        assert done.exists()
        received = child.finish()
    assert received == [bytes([n]) * 100_000 for n in range(64)]


def test_a_failure_here_does_not_wait_on_a_child_blocked_sending() -> None:
    """This side fails while the child still has much to send: leaving the ``with`` ends
    the child instead of waiting for it (it was blocked on a full pipe forever)."""

    def chatty() -> Iterator[bytes]:
        while True:
            yield b"x" * 65536

    class Failed(Exception):
        pass

    try:
        with Forked(chatty):
            time.sleep(0.2)  # the child fills the pipe and blocks
            raise Failed
    except Failed:
        pass


def test_a_half_given_up_ends_quietly(capfd: pytest.CaptureFixture[str]) -> None:
    """Closed here before the child is done (fetch gives up on a failure): the child's
    next send fails, and it ends without a traceback on the user's terminal."""

    def chatty() -> Iterator[bytes]:
        while True:
            yield b"x" * 65536

    child = Forked(chatty)
    time.sleep(0.2)  # the child fills the pipe and blocks
    child.close()  # joins it: it ended
    assert "Traceback" not in capfd.readouterr().err


def test_meanwhile_work_runs_once_in_a_thread_when_started_else_at_finish() -> None:
    where: list[str] = []

    def work() -> None:
        where.append(threading.current_thread().name)

    started = Meanwhile(work)
    started.start()
    started.start()  # once only
    started.finish()
    started.finish()
    assert where == ["meanwhile"]
    where.clear()
    here = Meanwhile(work)
    here.finish()  # never started: done here, at finish
    assert where == [threading.current_thread().name]
    Meanwhile(None).finish()  # nothing to do


def test_meanwhile_work_that_fails_raises_at_finish() -> None:
    def work() -> None:
        raise OSError("disk full")

    failing = Meanwhile(work)
    failing.start()
    with pytest.raises(OSError, match="disk full"):
        failing.finish()


def test_meanwhile_keeps_the_first_error_and_notes_its_own() -> None:
    """The drawing failed and the timelines' write too: the drawing's error is raised."""

    def work() -> None:
        raise OSError("disk full")

    with pytest.raises(ValueError, match="drawing broke") as raised, Meanwhile(work) as saving:
        saving.start()
        raise ValueError("drawing broke")
    assert any("disk full" in note for note in getattr(raised.value, "__notes__", []))
    with pytest.raises(OSError, match="disk full"), Meanwhile(work) as saving:
        saving.start()  # nothing else failed: the work's own error is raised


def test_meanwhile_that_cannot_start_a_thread_does_the_work_at_finish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    done: list[str] = []

    def refused(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refused)
    waiting = Meanwhile(lambda: done.append("saved"))
    with pytest.raises(RuntimeError):
        waiting.start()
    waiting.finish()
    assert done == ["saved"]


def test_in_halves_gives_the_child_the_items_split_names() -> None:
    here = os.getpid()

    def work(items: Iterable[int]) -> Iterator[tuple[str, int]]:
        for item in items:
            yield str(item), os.getpid()

    def split(items: Sequence[int]) -> tuple[list[int], list[int]]:
        return [i for i in items if i < 3], [i for i in items if i >= 3]

    made = dict(in_halves(list(range(8)), work, str, split=split))
    assert sorted(made, key=int) == [str(i) for i in range(8)]
    assert all((made[str(i)] == here) == (i < 3) for i in range(8))


def test_drain_starts_the_taking_thread_late_and_it_takes_everything() -> None:
    """Without ``background``, no thread runs here until ``drain()`` (this process may
    still fork, e.g. its blob reader); from then on the messages are taken without
    ``poll``, and ``finish`` has them all, in order."""

    def work() -> Iterator[bytes]:
        for n in range(32):
            yield bytes([n]) * 100_000  # more than the pipe holds

    before = threading.active_count()
    with Forked(work) as child:
        assert threading.active_count() == before  # nothing taken in a thread yet
        child.drain()
        child.drain()  # once is enough: no second thread
        assert threading.active_count() == before + 1
        received = child.finish()
    assert received == [bytes([n]) * 100_000 for n in range(32)]


def test_the_childs_after_runs_once_it_sent_everything(tmp_path: Path) -> None:
    """``finish`` returns once the child has sent all (its pipe closed), not once its
    ``after`` is done; ``wait`` waits for that and says whether it ended well."""
    go_on = tmp_path / "go on"
    done = tmp_path / "done"

    def after() -> None:
        while not go_on.exists():  # until this process has come back from finish
            time.sleep(0.01)
        done.write_text("done")

    with Forked(lambda: iter([1, 2]), after=after) as child:
        assert child.finish() == [1, 2]
    assert not done.exists()
    go_on.write_text("")
    assert child.wait() and done.read_text() == "done"
    assert child.wait()  # again: the same answer


def test_a_child_whose_after_fails_says_so() -> None:
    def after() -> None:
        raise OSError("disk full")

    with Forked(lambda: iter([1]), after=after) as child:
        assert child.finish() == [1]
    assert not child.wait()
