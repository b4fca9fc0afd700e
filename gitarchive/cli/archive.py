"""Commands that build an archive: init, add, remove, fetch, demo."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gitarchive import exitcodes
from gitarchive.archive import registry
from gitarchive.cli.common import open_store, repo_option
from gitarchive.cli.fetching import run_fetch
from gitarchive.cli.runs import fail, locked_run, parse_shard, push_after_fetch, views_allowed
from gitarchive.errors import CredentialsError
from gitarchive.git.store import Store
from gitarchive.ops.shard import Shard
from gitarchive.spotify.client import SpotifyClient


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--bare", is_flag=True, help="Create a bare repository (for a server).")
def init(directory: str, bare: bool) -> None:
    """Create a new archive in DIRECTORY, or adopt the repository already there.

    A new repository starts on branch main. Nothing is committed until the first
    'gitarchive add'.
    """
    existed = (Path(directory) / ".git").exists() or (Path(directory) / "HEAD").exists()
    try:
        store = Store.init(directory, bare=bare)
    except OSError as exc:
        raise click.ClickException(f"cannot create an archive in {directory}: "
                                   f"{exc.strerror or exc}") from exc
    where = store.workdir or store.git_dir
    click.echo(f"{'Adopted' if existed else 'Created'} archive repository {where}")
    click.echo("Next: gitarchive login, gitarchive add --mine (or add PLAYLIST_URL), "
               "then gitarchive fetch")


@click.command()
@click.argument("playlists", nargs=-1)
@click.option("--alias", help="A name to show instead of the playlist's own (one playlist only).")
@click.option("--mine", is_flag=True,
              help="Register every playlist the signed-in user owns or collaborates on.")
@click.option("--owned-only", is_flag=True, help="With --mine: only the ones the user owns.")
@repo_option
def add(
    playlists: tuple[str, ...], alias: str | None, mine: bool, owned_only: bool, repo_path: str
) -> None:
    """Register PLAYLISTS (IDs, open.spotify.com URLs or spotify:playlist: URIs).

    Commits the registry change. Nothing is registered if any argument is not a
    playlist. With --mine, asks Spotify for the signed-in user's playlists (see
    'gitarchive login'); running it again registers only the new ones.
    """
    if mine == bool(playlists) or (alias and mine) or (owned_only and not mine):
        raise click.UsageError("give PLAYLISTS, or --mine [--owned-only] (without --alias)")
    store = open_store(repo_path)
    if mine:
        from gitarchive.cli.account import add_mine

        return add_mine(store, owned_only)
    added = registry.add(store, list(playlists), alias)
    if added:
        click.echo(f"Registered {', '.join(added)}")
    else:
        click.echo("Already registered; nothing changed")


@click.command()
@click.argument("playlist")
@repo_option
def remove(playlist: str, repo_path: str) -> None:
    """Unregister PLAYLIST. Its snapshots and their history stay in the archive."""
    store = open_store(repo_path)
    pid = registry.remove(store, playlist)
    click.echo(f"Unregistered {pid}; its history stays")


@click.command(name="fetch")
@click.option(
    "--only", "only", multiple=True, metavar="PLAYLIST",
    help="Fetch only this registered playlist (repeatable).",
)
@click.option(
    "--no-cumulative", is_flag=True,
    help="Do not update the cumulative views in the same commit.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing unless something failed.")
@click.option(
    "--log-file", type=click.Path(dir_okay=False), metavar="PATH",
    help="Append a timestamped record of the run to PATH (never any secret).",
)
@click.option(
    "--push", "push_remote", is_flag=False, flag_value="origin", default=None,
    metavar="[REMOTE]",
    help="Then push the branch to REMOTE (default origin), merging if it moved on.",
)
@click.option(
    "--shard", callback=parse_shard, metavar="K/N",
    help="Fetch only shard K of N (1..N): a stable subset of the registry by playlist ID.",
)
@click.option(
    "--jobs", "-j", default=4, show_default=True, type=click.IntRange(1, 32),
    help="How many playlists to request from Spotify at once.",
)
@click.option(
    "--no-follow", is_flag=True,
    help="Do not bring followed sources up to date (see 'gitarchive follow').",
)
@repo_option
def fetch_command(
    only: tuple[str, ...], no_cumulative: bool, quiet: bool, log_file: str | None,
    push_remote: str | None, shard: Shard | None, jobs: int, no_follow: bool, repo_path: str,
) -> None:
    """Fetch every registered playlist and commit what changed, in one commit.

    Credentials come from SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET and the
    login 'gitarchive login' saved (or SPOTIFY_REFRESH_TOKEN): without a
    signed-in user, a development-mode app reads no playlist's tracks. Then
    followed archives are brought up to date (see 'gitarchive follow'). One run
    per repository at a time. Exit codes: 0 all fetched, 3 some failed (the rest
    committed), 4 nothing could be fetched, 5 another run holds the lock, 6
    committed but the push failed, 1 other errors, 2 usage errors.
    """
    store = open_store(repo_path)
    with locked_run(store, "gitarchive fetch", log_file=log_file, quiet=quiet):
        cumulative = views_allowed(store, not no_cumulative)
        if registry.load(store) == ({}, []):
            code = False if no_follow else follow_step(store, cumulative, quiet)
            if code is False and not quiet:  # before credentials: a new archive's first question
                click.echo("No playlists registered; add one with 'gitarchive add PLAYLIST'")
            sys.exit(code or exitcodes.OK)
        try:
            client = SpotifyClient.from_env()
        except CredentialsError as exc:
            fail(str(exc), exc.exit_code)
        with client:
            report = run_fetch(
                store, client, only=only, shard=shard, cumulative=cumulative, quiet=quiet,
                jobs=jobs,
            )
        code = report.exit_code
        followed = None if no_follow else follow_step(store, cumulative, quiet)
        code = code or followed or exitcodes.OK
        if push_remote is not None:
            code = push_after_fetch(store, push_remote, cumulative=cumulative,
                                    quiet=quiet) or code
        sys.exit(code)


def follow_step(store: Store, cumulative: bool, quiet: bool) -> int | bool | None:
    """Followed sources after the local fetch, under its lock; False when there are none."""
    from gitarchive.cli.follow import follow_step as step

    return step(store, cumulative=cumulative, quiet=quiet)


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--days", default=7, show_default=True, type=click.IntRange(2, 365),
              help="How many simulated days of history to write.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the final summary.")
def demo(directory: str, days: int, quiet: bool) -> None:
    """Build a browsable demo archive in DIRECTORY, offline.

    Starts a local stand-in for the Spotify Web API serving the bundled
    fixtures, then runs the real fetch code path (real HTTP through requests)
    once per simulated day while the playlists change.
    """
    from gitarchive.cli.demo import run_demo

    run_demo(Path(directory), days=days, quiet=quiet)


COMMANDS: list[click.Command] = [init, add, remove, fetch_command, demo]
