"""Progress for long loops: a bar on a terminal, silence in cron, pipes and logs.

Every long loop takes the same shape of helper, a ``ProgressFn``: it is handed a
label and the items, and gives the items back (through a bar, or as they are).
Library code takes one and defaults to ``no_progress``; the command line makes one
with ``terminal_bar``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, TypeVar

import click

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
