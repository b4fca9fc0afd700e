"""The fork-and-merge helper: what the child sends arrives; a child that dies sends less."""

from __future__ import annotations

import os
from collections.abc import Iterator

from gitarchive.history.parallel import Forked


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
