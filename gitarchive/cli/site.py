"""Command: ``site`` (a static website of the archive)."""

from __future__ import annotations

from pathlib import Path

import click

from gitarchive.cli.common import note_cut, open_store, repo_option
from gitarchive.cli.runs import locked_run
from gitarchive.errors import TimezoneError
from gitarchive.progress import terminal_bar
from gitarchive.questions import site


@click.command("site")
@click.argument("output", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--base-url", metavar="URL",
              help="Where the site is served (e.g. https://me.github.io/archive): absolute "
              "links in the feeds.")
@click.option("--branch", metavar="NAME",
              help="Also publish the site as one root commit on branch NAME (for GitHub "
              "Pages); replaced on each run.")
@click.option("--timezone", "timezone", metavar="TZ",
              help="Show dates in this IANA time zone (default: git config "
              "gitarchive.timezone, else UTC).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@repo_option
def site_command(output: Path | None, base_url: str | None, branch: str | None,
                 timezone: str | None, quiet: bool, repo_path: str) -> None:
    """Write a static website of the archive to OUTPUT (a new or earlier site's directory).

    An index of the playlists and a page per playlist with tenure, churn and
    follower charts, the list as of any archived day, every track ever, and Atom
    feeds. It works opened from disk (file://) and on GitHub Pages. Only the
    playlists that changed since the last run into OUTPUT are rendered again.
    """
    if output is None and branch is None:
        raise click.UsageError("give an OUTPUT directory, --branch NAME, or both")
    store = open_store(repo_path)
    note_cut(store)
    try:
        with locked_run(store, "gitarchive site", quiet=quiet):
            result = site.build(store, output, base_url=base_url, branch=branch,
                                timezone=timezone, progress=terminal_bar(quiet=quiet))
    except TimezoneError as exc:
        raise click.BadParameter(str(exc), param_hint="'--timezone'") from exc
    if quiet:
        return
    click.echo(f"Rendered {len(result.rendered)} of {result.playlists} playlist page(s).")
    if result.output is not None:
        click.echo(f"Open {(result.output / 'index.html').resolve().as_uri()}")
    if result.branch is not None:
        state = (f"published as {str(result.commit)[:12]}" if result.commit is not None
                 else "already up to date")
        click.echo(f"Branch {result.branch}: {state}.")


COMMANDS: list[click.Command] = [site_command]
