"""Commands: history (``rebuild``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gitarchive.archive import layout
from gitarchive.cli import adopting
from gitarchive.cli.common import open_store, repo_option
from gitarchive.cli.runs import locked_run, writes_said
from gitarchive.errors import PlaylistRefError, TimezoneError
from gitarchive.heal import forget_database
from gitarchive.history.rebuild import rebuild
from gitarchive.progress import terminal_bar
from gitarchive.questions.index import index_path

if TYPE_CHECKING:
    from gitarchive.git.store import Store
    from gitarchive.history.pieces import IndexRows
    from gitarchive.history.sync import Synced


def _playlist_ids(refs: tuple[str, ...]) -> list[str] | None:
    if not refs:
        return None
    try:
        return [layout.parse_playlist_ref(ref) for ref in refs]
    except PlaylistRefError as exc:
        raise click.BadParameter(str(exc), param_hint="'--only'") from exc


@click.command("rebuild")
@click.option(
    "--only", "only", multiple=True, metavar="PLAYLIST",
    help="Write only this playlist's files (ID, URL or URI); repeatable.",
)
@click.option("--full", is_flag=True, help="Replay the whole history, ignoring the saved state.")
@click.option(
    "--timezone", "timezone", metavar="TZ",
    help="Show dates in this IANA time zone (default: git config gitarchive.timezone, else UTC).",
)
@click.option(
    "--views-branch", "views_branch", metavar="NAME",
    help="Publish the files as one root commit on branch NAME instead of committing them "
    "(default: git config gitarchive.viewsBranch).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors and warnings.")
@click.option("--verbose", "-v", is_flag=True,
              help="List every unreadable snapshot version (default: a one-line summary).")
@repo_option
def rebuild_command(
    only: tuple[str, ...],
    full: bool,
    timezone: str | None,
    views_branch: str | None,
    quiet: bool,
    verbose: bool,
    repo_path: str,
) -> None:
    """Rebuild the cumulative views from the history of the snapshots.

    Walks the commits, works out for every playlist and track when it was first
    and last seen, removed, and how many separate times it was in the playlist,
    and writes playlists/cumulative/<id>.json and <id>.md for every playlist that
    has a snapshot anywhere in history, in one commit (none when nothing changed).

    Dates are commit dates. Only commits that changed a snapshot count as runs of
    the archiver. The walk's state is kept in the git directory, so the next run
    reads only new commits; after a rewritten history, or with --full, the whole
    history is replayed, with the same result.
    """
    store = open_store(repo_path)
    ids = _playlist_ids(only)
    if full:  # every derived cache is rebuilt: the query index follows on the next question
        forget_database(index_path(store))
    progress = terminal_bar(quiet=quiet)
    try:
        with locked_run(store, "gitarchive rebuild", quiet=quiet), writes_said(store):
            result = rebuild(  # a full disk: one line, as fetch says it (writes_said)
                store, only=ids, full=full, timezone=timezone, views_branch=views_branch,
                progress=progress, rows=index_rows(),
            )
    except TimezoneError as exc:
        raise click.BadParameter(str(exc), param_hint="'--timezone'") from exc
    if result.full and result.synced is not None:
        index_for_questions(store, result.synced)
    adopting.report_problems(result.problems, verbose)
    if quiet:
        return
    adopting.report_suggestions(result.suggestions)
    how = "whole history" if result.full else f"{result.events} new snapshot commit(s)"
    click.echo(f"Replayed {how}; rendered the views of {result.playlists} playlist(s).")
    if result.views_branch is not None:
        if result.views_commit is None:
            click.echo(f"Branch {result.views_branch} is up to date.")
        else:
            click.echo(
                f"Published {len(result.changed)} changed file(s) to branch "
                f"{result.views_branch} ({str(result.views_commit)[:12]})."
            )
    elif result.commit is None:
        click.echo("Cumulative views are up to date; nothing committed.")
    else:
        drawn = f" and {len(result.pictures)} chart/feed file(s)" if result.pictures else ""
        click.echo(f"Committed {len(result.changed)} file(s){drawn} ({str(result.commit)[:12]}).")


def index_rows() -> IndexRows:
    """A playlist's rows in the questions' index: a whole replay's forked half makes its
    own playlists' (which then stay on disk here), and begins the index file with its
    writes, for ``index_for_questions``."""
    from gitarchive.questions.indexing import Rows

    return Rows()


def index_for_questions(store: Store, synced: Synced) -> None:
    """After a whole replay, build the questions' index from the same state now, so the
    first question needs neither a second replay nor the saved state, and leave the
    record that lets it see, without loading git code, that the index is current."""
    from gitarchive.cli.query import QUESTION_CONFIG
    from gitarchive.questions import current
    from gitarchive.questions.indexing import open_index

    with open_index(store, synced=synced) as index:
        current.remember(store, index, QUESTION_CONFIG)


COMMANDS: list[click.Command] = [rebuild_command]
