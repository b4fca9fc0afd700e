"""``gitarchive status``: what is stale, what was never fetched (offline, from the archive)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

import click

from gitarchive import exitcodes, health
from gitarchive.cli.common import friendly_errors, open_store, repo_option
from gitarchive.query_output import table


@click.command()
@click.option("--stale-days", default=health.DEFAULT_STALE_DAYS, show_default=True,
              type=click.IntRange(1, 3650),
              help="A playlist with no successful fetch for this many days is stale.")
@repo_option
@friendly_errors
def status(stale_days: int, repo_path: str) -> None:
    """Per registered playlist: when it was last fetched; which are stale or never fetched.

    Reads the archive only (no request to Spotify). Exit codes: 0 all fresh, 7
    something is stale or was never fetched (so cron mail and CI notice), 1 errors.
    """
    store = open_store(repo_path)
    found = health.report(store, int(time.time()), stale_days)
    if not found.playlists:
        click.echo("No playlists registered; add one with 'gitarchive add PLAYLIST'")
        return
    rows = [(p.name, p.pid, _day(p.last_fetched), _state(p, found.now))
            for p in found.playlists]
    click.echo(table(("Playlist", "ID", "Last fetched", "State"), rows), nl=False)
    problems = found.problems
    stale = sum(p.stale for p in problems)
    never = len(problems) - stale
    click.echo(f"\n{len(found.playlists) - len(problems)} fresh, {stale} stale "
               f"(no successful fetch for {stale_days} days or more), {never} never fetched; "
               f"last run {_day(found.last_run) or 'never'}")
    if problems:
        sys.exit(exitcodes.STALE)


def _day(epoch: int | None) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d") if epoch is not None else ""


def _state(playlist: health.PlaylistHealth, now: int) -> str:
    if playlist.last_fetched is None:
        return "never fetched"
    days = (now - playlist.last_fetched) // health.DAY
    return f"stale: {days} days" if playlist.stale else "ok"


COMMANDS: list[click.Command] = [status]
