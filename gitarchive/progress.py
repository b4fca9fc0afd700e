"""Progress for long loops: a bar on a terminal, silence in cron, pipes and logs.

Every long loop takes the same shape of helper, a ``ProgressFn``: it is handed a
label and the items, and gives the items back (through a bar, or as they are).
Library code takes one and defaults to ``no_progress``; the command line makes one
with ``terminal_bar``. Work that counts for itself (libgit2's transfer callbacks)
takes a ``CountFn`` instead: ``no_count`` / ``terminal_counter``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

import click

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar  # what click.progressbar returns

T = TypeVar("T")


class ProgressFn(Protocol):
    """``progress(label, items)`` -> the same items, perhaps shown as a bar while they pass."""

    def __call__(self, label: str, items: Sequence[T], /) -> Iterable[T]: ...


def no_progress(label: str, items: Sequence[T], /) -> Iterable[T]:
    """The ProgressFn that shows nothing (libraries' default, quiet runs)."""
    return items


def terminal_bar(*, quiet: bool = False, min_items: int = 2) -> ProgressFn:
    """A bar on stderr when it is a terminal, not ``quiet``, and there are ``min_items``."""

    def progress(label: str, items: Sequence[T], /) -> Iterable[T]:
        if quiet or len(items) < min_items or not sys.stderr.isatty():
            return items
        return _through_bar(label, items)

    return progress


def _through_bar(label: str, items: Sequence[T]) -> Iterator[T]:
    with click.progressbar(items, label=label, file=sys.stderr) as bar:
        yield from bar


class CountFn(Protocol):
    """``count(done, total)``: the same helper for work that counts its own progress
    (libgit2's transfer callbacks, a loop over files) instead of handing us items."""

    def __call__(self, done: int, total: int, /) -> None: ...


def no_count(done: int, total: int, /) -> None:
    """The CountFn that shows nothing (libraries' default, quiet runs)."""


def terminal_counter(label: str, *, quiet: bool = False, min_items: int = 2) -> CountFn:
    """A bar on stderr for counted work, under the same rules as ``terminal_bar``.

    The bar opens at the first count of a ``total`` of at least ``min_items`` and
    closes when ``done`` reaches ``total``; the same counter can then show the next job.
    """
    if quiet or not sys.stderr.isatty():
        return no_count
    return _Counter(label, min_items)


class _Counter:
    """The state of a ``terminal_counter``: the open bar and how much of it is shown."""

    def __init__(self, label: str, min_items: int) -> None:
        self.label = label
        self.min_items = min_items
        self.bar: ProgressBar[int] | None = None
        self.shown = 0

    def __call__(self, done: int, total: int, /) -> None:
        if self.bar is None:
            if total < self.min_items or done >= total:
                return
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
            self.shown = 0
        self.bar.update(done - self.shown)
        self.shown = done
        if done >= total:
            self.bar.__exit__(None, None, None)
            self.bar = None
