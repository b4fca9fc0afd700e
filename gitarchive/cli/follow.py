"""Commands that follow other archives: follow, unfollow (and the step ``fetch`` adds)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
import pygit2

from gitarchive import exitcodes
from gitarchive.cli.common import open_store, repo_option
from gitarchive.cli.runs import fail, locked_run, views_allowed, write_error
from gitarchive.errors import FollowError, GitarchiveError
from gitarchive.git.store import Store
from gitarchive.history.rebuild import rebuild
from gitarchive.ops.follow.commands import add_source, remove_source, status, update_all
from gitarchive.ops.follow.importer import UpdateResult
from gitarchive.ops.follow.sources import load_sources, parse_since
from gitarchive.ops.runlog import logger
from gitarchive.progress import CountFn, terminal_bar, terminal_counter
from gitarchive.redact import redact


@click.command()
@click.argument("source", required=False, metavar="[URL_OR_PATH]")
@click.option("--name", help="Name of the source in this archive (default: from the URL).")
@click.option(
    "--playlist", "playlists", multiple=True, metavar="PLAYLIST",
    help="A playlist of the source to follow (ID, URL or URI); repeatable.",
)
@click.option("--all", "all_playlists", is_flag=True, help="Follow every playlist of the source.")
@click.option(
    "--depth", type=click.IntRange(min=1), metavar="N",
    help="Import only versions from the source's last N commits.",
)
@click.option("--since", metavar="DATE", help="Import only versions from DATE on (YYYY-MM-DD).")
@click.option("--update", "update_", is_flag=True,
              help="Only bring every followed source up to date.")
@click.option("--list", "list_", is_flag=True,
              help="List the sources: last update, newest snapshot, playlists behind.")
@click.option("--no-cumulative", is_flag=True,
              help="Do not update the cumulative views afterwards.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing unless something failed.")
@repo_option
def follow(
    source: str | None, name: str | None, playlists: tuple[str, ...], all_playlists: bool,
    depth: int | None, since: str | None, update_: bool, list_: bool, no_cumulative: bool,
    quiet: bool, repo_path: str,
) -> None:
    """Follow playlists of another archive (a git URL or a local path).

    Fetches the source into refs/gitarchive/follow/NAME and imports each version
    of each followed playlist as its own commit carrying the source's dates, on a
    side history merged into the branch in one commit; the cumulative views then
    date them as if fetched here. The source is recorded in
    playlists/follow/NAME.json, and 'gitarchive fetch' keeps it current. A
    playlist this archive also fetches keeps its own snapshot on a day both have.
    """
    store = open_store(repo_path)
    if list_:
        if source or update_ or playlists or all_playlists or depth or since or name:
            raise click.UsageError("--list takes no other option")
        _print_list(store)
        return
    if update_ and (source or playlists or all_playlists or depth or since or name):
        raise click.UsageError("--update brings every source up to date; it takes no source")
    if not update_ and not source:
        raise click.UsageError("give the source's URL or path (or --update, or --list)")
    since_epoch = None
    if since is not None:
        try:
            since_epoch = parse_since(since)
        except FollowError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from exc
    with locked_run(store, "gitarchive follow", quiet=quiet):
        cumulative = views_allowed(store, not no_cumulative)
        if update_:
            code = follow_step(store, cumulative=cumulative, quiet=quiet)
            if code is False and not quiet:
                click.echo("No followed sources; follow one with 'gitarchive follow URL "
                           "--playlist ID'")
            sys.exit(code or exitcodes.OK)
        assert source is not None
        try:
            result = add_source(
                store, source, name=name, playlists=playlists, all_playlists=all_playlists,
                since=since_epoch, depth=depth, progress=terminal_bar(quiet=quiet),
                count=_counter(quiet),
            )
        except GitarchiveError as exc:
            fail(redact(str(exc)), exc.exit_code)
        except (OSError, pygit2.GitError) as exc:
            fail(write_error(exc, store), exitcodes.ERROR)
        _report([result], quiet)
        if cumulative:
            _rebuild(store, quiet)


@click.command()
@click.argument("name")
@repo_option
def unfollow(name: str, repo_path: str) -> None:
    """Stop following the source NAME. What was imported stays in the history."""
    store = open_store(repo_path)
    with locked_run(store, "gitarchive unfollow"):
        source = remove_source(store, name)
    click.echo(f"Unfollowed {source.name} ({redact(source.url)}); its imported history stays")


def follow_step(store: Store, *, cumulative: bool, quiet: bool) -> int | bool | None:
    """Bring every followed source up to date (called by fetch, under its lock).

    Returns PARTIAL when a source could not be updated (the others were), False when
    nothing is followed, else None.
    """
    try:
        if not load_sources(store):
            return False
        results = update_all(store, progress=terminal_bar(quiet=quiet), count=_counter(quiet))
    except GitarchiveError as exc:
        fail(redact(str(exc)), exc.exit_code)
    except (OSError, pygit2.GitError) as exc:
        fail(write_error(exc, store), exitcodes.ERROR)
    _report(results, quiet)
    if cumulative and any(r.merge for r in results):
        _rebuild(store, quiet)
    return exitcodes.PARTIAL if any(r.error for r in results) else None


def _counter(quiet: bool) -> CountFn:
    """The bar of objects brought from a source (one source after the other)."""
    return terminal_counter("Fetching objects", quiet=quiet)


def _report(results: list[UpdateResult], quiet: bool) -> None:
    for result in results:
        line = redact(result.summary())
        if result.error is not None:
            logger.error(line)
            click.echo(f"error: {line}", err=True)
            continue
        logger.info(line)
        if not quiet:
            click.echo(line)
            for problem in result.malformed[:10]:
                click.echo(f"  malformed: {problem}", err=True)


def _rebuild(store: Store, quiet: bool) -> None:
    """The cumulative views after a merge (the imported versions are older: a full replay)."""
    result = rebuild(store, progress=terminal_bar(quiet=quiet))
    if not quiet and result.commit is not None:
        click.echo(f"Updated the cumulative views of {result.playlists} playlist(s); "
                   f"committed {str(result.commit)[:10]}")


def _date(epoch: int | None) -> str:
    if epoch is None:
        return "never"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _print_list(store: Store) -> None:
    rows = status(store)
    if not rows:
        click.echo("No followed sources; follow one with 'gitarchive follow URL --playlist ID'")
        return
    for row in rows:
        source = row.source
        followed = "all playlists" if source.playlists is None else ", ".join(source.playlists)
        click.echo(f"{source.name}  {redact(source.url)}")
        click.echo(f"  follows: {followed}")
        click.echo(f"  last update here: {_date(row.updated)}")
        newest = row.newest
        click.echo(f"  newest snapshot: {_date(newest) if newest is not None else 'none yet'}")
        if not row.fetched:
            click.echo("  playlists behind: unknown (not fetched in this clone yet)")
        else:
            behind = ", ".join(row.behind) if row.behind else "none"
            click.echo(f"  playlists behind: {behind}")


COMMANDS: list[click.Command] = [follow, unfollow]
