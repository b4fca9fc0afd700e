"""What ``rebuild`` says about an adopted history: unreadable versions once, link suggestions."""

from __future__ import annotations

from collections.abc import Sequence

import click

from gitarchive.archive import links
from gitarchive.history.replay import Problem

SHOWN = 3  # unreadable versions named in the one-line summary


def problems_summary(problems: Sequence[Problem]) -> str | None:
    """One line for every unreadable version skipped (years of history can hold hundreds)."""
    if not problems:
        return None
    count = len(problems)
    first = "; ".join(f"{p.commit[:12]} {p.path}" for p in problems[:SHOWN])
    more = " ..." if count > SHOWN else ""
    noun = "version" if count == 1 else "versions"
    return (f"warning: {count} unreadable snapshot {noun} skipped ({first}{more}); "
            "--verbose lists them all")


def report_problems(problems: Sequence[Problem], verbose: bool) -> None:
    """On stderr: one summary line, or with ``verbose`` one line per version."""
    if verbose:
        for problem in problems:
            click.echo(f"warning: {problem}", err=True)
        return
    line = problems_summary(problems)
    if line is not None:
        click.echo(line, err=True)


def report_suggestions(suggestions: Sequence[tuple[str, str, str]]) -> None:
    """The exact command for each re-issued ID the replay noticed (nothing is linked)."""
    for old, new, commit in suggestions:
        click.echo(
            f"{new} may be {old} re-issued (commit {commit[:12]} deleted one and added the "
            f"other with the same name); to continue its history run: "
            f"{links.command(old, new)}"
        )
