"""The publish command: a past version or the cumulative list, as a Spotify playlist."""

from __future__ import annotations

import datetime
import os
import sys
from typing import TYPE_CHECKING

import click

from gitarchive.archive import layout
from gitarchive.cli.common import repo_option
from gitarchive.cli.query import open_archive, timezone_option
from gitarchive.errors import PlaylistRefError
from gitarchive.questions import query

if TYPE_CHECKING:
    from gitarchive.git.store import Store
    from gitarchive.questions.publish_plan import Plan


@click.command()
@click.argument("playlist")
@click.option("--at", "at", metavar="DATE|REV",
              help="Publish the playlist as archived on this day or at this git revision.")
@click.option("--cumulative", is_flag=True,
              help="Publish every track ever in the playlist, by date added.")
@click.option("--removed-only", is_flag=True,
              help="With --cumulative: only the tracks no longer in the playlist.")
@click.option("--since", metavar="DATE", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="With --cumulative: only the tracks added on or after DATE.")
@click.option("--name", help="Name of a new playlist (default: '<name> as of <date>', "
              "'<name> — every song ever').")
@click.option("--public/--private", default=False,
              help="Whether a new playlist is public.  [default: private]")
@click.option("--into", metavar="PLAYLIST",
              help="Replace the items of this playlist of yours instead (ID, URL or URI).")
@click.option("--search-missing", type=click.IntRange(0, 1000), default=0, metavar="N",
              help="Look up at most N tracks that have no ID in the archive with Spotify's "
              "search (one request each).")
@click.option("--dry-run", is_flag=True,
              help="Print what would be sent to Spotify; send nothing.")
@click.option("--quiet", "-q", is_flag=True,
              help="No progress lines on a terminal; only the result and errors.")
@timezone_option
@repo_option
def publish(
    playlist: str, at: str | None, cumulative: bool, removed_only: bool,
    since: datetime.datetime | None,
    name: str | None, public: bool, into: str | None, search_missing: int, dry_run: bool,
    quiet: bool, timezone: str | None, repo_path: str,
) -> None:
    """Publish PLAYLIST as archived --at a date or revision, or --cumulative, to Spotify.

    The tracks go to a playlist in the signed-in user's account (SPOTIFY_CLIENT_ID,
    SPOTIFY_CLIENT_SECRET and the user's refresh token, with the playlist-modify
    scopes). Running the same publish again updates the same playlist, and an
    interrupted run is finished by the next one: the target is remembered in
    .git/gitarchive/publish.json and by a [gitarchive:KEY] marker in its
    description. Tracks known only from plain-text history are matched to the
    archive's JSON snapshots by title, artists and album; the others are listed
    and skipped.
    """
    if (at is None) == (not cumulative):
        raise click.UsageError("give either --at DATE|REV or --cumulative")
    if (removed_only or since) and not cumulative:
        raise click.UsageError("--removed-only and --since go with --cumulative")
    target = None
    if into is not None:
        try:
            target = layout.parse_playlist_ref(into)
        except PlaylistRefError as exc:
            raise click.UsageError(f"--into: {exc}") from exc
    # Only this command needs them.
    from gitarchive.questions import publish as publishing
    from gitarchive.questions import publish_plan as planning

    store, index, date = open_archive(repo_path, timezone)
    with index:
        pid = query.find_playlist(store, index, playlist)
        if cumulative:
            snapshot = point = None
        else:
            point = query.parse_point(store, at, date.zone)
            snapshot = query.snapshot_at(store, index, pid, point)
    if snapshot is not None and point is not None:
        plan = planning.plan_at(store, snapshot, point, name=name, public=public, into=target)
    else:
        plan = planning.plan_cumulative(store, pid, date.zone, removed_only=removed_only,
                                        since=since.date().isoformat() if since else None,
                                        name=name, public=public, into=target)
    talk = sys.stderr.isatty() and not quiet
    if dry_run:
        for line in publishing.dry_run(store, plan):
            click.echo(line)
        if search_missing and plan.missing:
            click.echo(f"Would search Spotify for {min(search_missing, len(plan.missing))} "
                       "of the tracks below (one request each)", err=True)
        _list_missing(plan)
        return
    _send(store, plan, search_missing, talk)


def _send(store: Store, plan: Plan, search_missing: int, talk: bool) -> None:
    from gitarchive.errors import SpotifyError
    from gitarchive.questions import publish as publishing
    from gitarchive.questions import publish_plan as planning
    from gitarchive.spotify.writes import PlaylistWriter, user_client

    def report(text: str) -> None:
        if talk:
            click.echo(f"  {text}", err=True)

    try:
        with user_client(os.environ) as client:
            writer = PlaylistWriter(client)
            if search_missing and plan.missing:
                found = planning.search_missing(plan, writer, search_missing)
                report(f"search found {found} of the tracks with no ID")
            if not plan.uris:
                _list_missing(plan)
                raise click.ClickException(
                    f"nothing to publish: no track of {plan.title} has a Spotify ID")
            outcome = publishing.execute(store, plan, writer, report)
    except SpotifyError as exc:
        raise click.ClickException(
            f"{exc}. Nothing is lost: the same command finishes the job when run again"
        ) from exc
    _list_missing(plan)
    what = "already up to date" if outcome.unchanged else outcome.how
    click.echo(f"Published {len(plan.uris)} tracks of {plan.title} to '{plan.name}' "
               f"({what}): {outcome.url}")


def _list_missing(plan: Plan) -> None:
    missing = plan.missing
    if missing:
        click.echo(f"Skipped {len(missing)} tracks with no Spotify ID in the archive "
                   "(plain-text history that matches no JSON snapshot):", err=True)
        for track in missing:
            click.echo(f"  {track.line}", err=True)


COMMANDS: list[click.Command] = [publish]
