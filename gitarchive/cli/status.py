"""Command: status (fetch health per playlist; a non-zero exit when something is stale)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import click

from gitarchive import exitcodes
from gitarchive.archive.render import plural
from gitarchive.cli.common import open_store, repo_option
from gitarchive.ops import health
from gitarchive.visible import one_line


def _day(when: int | None) -> str:
    if when is None:
        return "never"
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M")


def _line(item: health.PlaylistHealth) -> str:
    """One playlist: id, name, last fetched, and what is wrong (nothing when all is well)."""
    notes = []
    if item.never_fetched:
        notes.append("NEVER FETCHED")
    elif item.stale:
        notes.append("STALE")
    if item.failing_since is not None:
        notes.append(f"failing since {_day(item.failing_since)}: {one_line(item.last_error or '')}")
    if item.emptied_at is not None:
        notes.append(
            f"EMPTY since {_day(item.emptied_at)} "
            f"(had {plural(item.emptied_from or 0, 'track')})"
        )
    text = f"{item.pid}  {one_line(item.name)}  last fetched {_day(item.last_ok)}"
    return text + ("  " + "; ".join(notes) if notes else "")


@click.command("status")
@click.option("--stale-days", type=click.FloatRange(min=0), default=3, show_default=True,
              help="A playlist is stale when no fetch succeeded for this many days.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of lines.")
@repo_option
def status_command(stale_days: float, as_json: bool, repo_path: str) -> None:
    """Fetch health of every registered playlist.

    Per playlist: when it was last fetched successfully, since when it fails and
    the last error, whether it came back empty, and whether it is stale (no
    successful fetch for --stale-days days, or never). Read from the records fetch
    leaves in its commits and, for runs that changed nothing, in
    .git/gitarchive/fetch-runs.jsonl. Exit codes: 0 nothing stale, 7 something
    stale or never fetched, 1 errors.
    """
    store = open_store(repo_path)
    now = int(time.time())
    found = health.status(store, now=now, stale_days=stale_days)
    stale = [item for item in found if item.stale]
    if as_json:
        click.echo(json.dumps(
            {"now": health.iso(now), "stale_days": stale_days,
             "playlists": [item.to_json() for item in found]},
            indent=2, ensure_ascii=False,
        ))
    else:
        for item in found:
            click.echo(_line(item))
        failing = sum(1 for item in found if item.failing_since is not None)
        empty = sum(1 for item in found if item.emptied_at is not None)
        never = sum(1 for item in found if item.never_fetched)
        click.echo(
            f"{plural(len(found), 'playlist')}: {len(stale)} stale "
            f"(no successful fetch in the last {stale_days:g} days; {never} of them never "
            f"fetched), "
            f"{failing} failing, {empty} empty"
        )
    if stale:
        raise click.exceptions.Exit(exitcodes.STALE)


COMMANDS: list[click.Command] = [status_command]
