"""Progress for long loops: a bar on a terminal, silence in cron, pipes and logs.

Every long loop takes the same shape of helper, a ``ProgressFn``: it is handed a
label and the items, and gives the items back (through a bar, or as they are).
Library code takes one and defaults to ``no_progress``; the command line makes one
with ``terminal_bar``. Work that counts for itself (libgit2's transfer callbacks)
takes a ``CountFn`` instead: ``no_count`` / ``terminal_counter``.

The bar is drawn here, not by click: click's is 36 columns of bar whatever the
terminal's width (on 40 columns each redraw wrapped onto a new line), and it hides the
cursor with escape sequences that a killed run leaves hidden. This one fits the
terminal stderr is, redraws with a carriage return only, and ends its line when done
or abandoned (Ctrl-C).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, TypeVar

from gitarchive.visible import shown

T = TypeVar("T")


class ProgressFn(Protocol):
    """``progress(label, items)`` -> the same items, perhaps shown as a bar while they pass."""

    def __call__(self, label: str, items: Sequence[T], /) -> Iterable[T]: ...


def no_progress(label: str, items: Sequence[T], /) -> Iterable[T]:
    """The ProgressFn that shows nothing (libraries' default, quiet runs)."""
    return items


def terminal_bar(*, quiet: bool = False, min_items: int = 2, delay: float = 0.0) -> ProgressFn:
    """A bar on stderr when it is a terminal, not ``quiet``, and there are ``min_items``;
    drawn once ``delay`` seconds have passed (a loop that ends sooner shows nothing: a
    question answered at once prints no bar, the first one, which builds the index from
    a few long steps, does)."""

    def progress(label: str, items: Sequence[T], /) -> Iterable[T]:
        if quiet or len(items) < min_items or not sys.stderr.isatty():
            return items
        return _through_bar(label, items, delay)

    return progress


def _through_bar(label: str, items: Sequence[T], delay: float = 0.0) -> Iterator[T]:
    bar = Bar(label, len(items), delay)
    try:
        for done, item in enumerate(items, 1):
            yield item
            bar.show(done)
    finally:  # finished, or abandoned (an error, Ctrl-C): the line ends either way
        bar.close()


class Bar:
    """One progress line on stderr: ``label  [####----]   40%  00:00:05``, as wide as the
    terminal allows (the time left first to go, then the bar, then the label's end)."""

    def __init__(self, label: str, total: int, delay: float = 0.0) -> None:
        global _open
        self.label, self.total, self.delay = label, total, delay
        self.started = time.monotonic()
        self.last = ""
        _open = self
        self.show(0)

    def show(self, done: int) -> None:
        """Redraw for ``done`` of ``total`` (written only when the line changes)."""
        elapsed = time.monotonic() - self.started
        if not self.last and elapsed < self.delay:
            return
        line = fit(self.label, done, self.total, elapsed, _columns())
        if line != self.last:
            pad = " " * max(0, len(self.last) - len(line))  # what a longer line left
            sys.stderr.write("\r" + line + pad)
            sys.stderr.flush()
            self.last = line

    def close(self) -> None:
        global _open
        if self.last:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.last = ""
        if _open is self:
            _open = None


_open: Bar | None = None  # the bar drawn last, until its line is ended


def above(text: str) -> None:
    """A line on stderr, above the bar being drawn (drawn again below it): a note printed
    in the middle of a fetch was glued to the bar's end (``75%note: ...``). It quotes
    names from Spotify: what a terminal would obey in them is shown (``visible.shown``)."""
    text = shown(text)
    bar = _open
    if bar is None or not bar.last:
        sys.stderr.write(text + "\n")
    else:
        pad = " " * max(0, len(bar.last) - len(text))
        sys.stderr.write("\r" + text + pad + "\n" + bar.last)
    sys.stderr.flush()


def end_line() -> None:
    """End the line of a bar still drawn, before a message that ends the run (Ctrl-C, an
    error): the bar's own end comes later, when its loop is collected."""
    if _open is not None:
        _open.close()


BAR_MOST = 36  # columns of bar on a wide terminal (click's was the same)
BAR_LEAST = 10  # narrower than this, the time left goes first, then the bar


def fit(label: str, done: int, total: int, elapsed: float, columns: int) -> str:
    """The progress line, at most ``columns - 1`` wide (the last column untouched: a
    terminal that wraps there would start a new line at each redraw)."""
    room = max(columns - 1, 1)
    percent = f"{min(100, done * 100 // max(total, 1)):>3}%"
    left = ""
    if 0 < done < total and elapsed >= 1.0:
        seconds = int(elapsed / done * (total - done))
        left = f"  {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    for tail in (percent + left, percent):
        width = min(BAR_MOST, room - len(label) - len(tail) - 6)
        if width >= BAR_LEAST:
            filled = width * min(done, total) // max(total, 1)
            return f"{label}  [{'#' * filled}{'-' * (width - filled)}]  {tail}"
    line = f"{label}  {percent}"
    if len(line) > room:  # the label's end goes
        line = f"{label[:max(room - len(percent) - 1, 0)]} {percent}"[-room:]
    return line


def _columns() -> int:
    """The width of the terminal stderr is (not stdout's: that may be a pipe)."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return 80


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
        self.bar: Bar | None = None

    def __call__(self, done: int, total: int, /) -> None:
        if self.bar is None:
            if total < self.min_items or done >= total:
                return
            self.bar = Bar(self.label, total)
        self.bar.show(done)
        if done >= total:
            self.bar.close()
            self.bar = None
