"""Progress for long loops: a bar on a terminal, silence in cron, pipes and logs."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

import click


class Progress:
    """A progress bar on stderr, shown only when stderr is a terminal and not quiet.

    Library code calls ``start(total)`` once the amount of work is known and
    ``advance()`` per item; with the bar disabled both cost nothing.
    """

    def __init__(self, label: str, *, quiet: bool = False, enabled: bool | None = None) -> None:
        self.label = label
        self.enabled = (not quiet and sys.stderr.isatty()) if enabled is None else enabled
        self._bar: Any = None

    def start(self, total: int) -> None:
        if self.enabled and self._bar is None and total > 1:
            self._bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self._bar.__enter__()

    def advance(self, steps: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(steps)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


SILENT = Progress("", enabled=False)
