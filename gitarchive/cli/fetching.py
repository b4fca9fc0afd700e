"""A fetch run as a person sees it: progress, one line per problem, the summary.

Shared by ``fetch`` and ``demo`` (which runs a fetch per simulated day), so neither
command module imports the other.
"""

from __future__ import annotations

import click

from gitarchive.archive.render import plural
from gitarchive.cli.runs import fail, writes_said
from gitarchive.errors import CredentialsError, GitarchiveError
from gitarchive.git.store import Store
from gitarchive.ops.fetch import FetchReport, Outcome, fetch
from gitarchive.ops.runlog import logger
from gitarchive.ops.shard import Shard
from gitarchive.progress import above, terminal_bar
from gitarchive.spotify.client import SpotifyClient
from gitarchive.visible import one_line


def run_fetch(
    store: Store, client: SpotifyClient, *, only: tuple[str, ...] = (), cumulative: bool = True,
    quiet: bool = False, when: tuple[int, int] | None = None, shard: Shard | None = None,
    jobs: int = 4,
) -> FetchReport:
    """Run a fetch with terminal progress and the printed summary (shared with the demo)."""
    with writes_said(store):  # a full disk: one line, saying whether the commit was made
        try:
            report = fetch(
                store, client, only=only, shard=shard, cumulative=cumulative, when=when,
                progress=terminal_bar(quiet=quiet),
                on_playlist=lambda outcome: _report_outcome(outcome, quiet), jobs=jobs,
            )
        except CredentialsError as exc:
            fail(f"{exc}; nothing was written", exc.exit_code)
        except GitarchiveError as exc:
            fail(str(exc), exc.exit_code)
    for problem in report.problems:
        message = f"registry file {problem}; that playlist was not fetched"
        logger.error(message)
        click.echo(f"error: {message}", err=True)
    for outcome in report.emptied:  # known once the run has compared the snapshots
        logger.warning("%s (%s): served empty, had %d tracks; archived as served",
                       outcome.pid, outcome.name, outcome.emptied_from)
        click.echo(
            f"warning: {outcome.pid} ({one_line(outcome.name)}): Spotify served it EMPTY, where "
            f"the last snapshot had {plural(outcome.emptied_from or 0, 'track')}; archived as "
            "served (see 'gitarchive status')",
            err=True,
        )
    logger.info(summary(report))
    failed = bool(report.failed or report.problems)
    if not quiet or failed:
        click.echo(summary(report), err=failed and quiet)
    return report


def _report_outcome(outcome: Outcome, quiet: bool) -> None:
    if outcome.error is not None:
        logger.error("%s (%s): %s", outcome.pid, outcome.name, outcome.error)
        above(f"error: {outcome.pid} ({outcome.name}): {outcome.error}")
    elif outcome.skipped and not quiet:
        above(
            f"note: {outcome.pid}: kept what could be kept, skipped "
            f"{plural(len(outcome.skipped), 'entry').replace('entrys', 'entries')}: "
            + "; ".join(outcome.skipped)
        )


def summary(report: FetchReport) -> str:
    """One line: fetched, changed (+added -removed), failed, and the commit."""
    unusable = (f"{plural(len(report.problems), 'registry file')} unusable"
                if report.problems else "")
    if not report.outcomes:
        if report.problems:
            return f"Fetched nothing: {unusable}"
        if report.registered:
            return (f"None of the {plural(report.registered, 'registered playlist')} "
                    "is selected (--shard / --only); nothing fetched")
        return "No playlists registered; add one with 'gitarchive add PLAYLIST'"
    fetched = len(report.outcomes) - len(report.failed)
    changed = report.changed
    parts = [f"Fetched {fetched} of {plural(len(report.outcomes), 'playlist')}"]
    if changed:
        added = sum(o.added for o in changed)
        removed = sum(o.removed for o in changed)
        parts.append(f"{len(changed)} changed (+{added} -{removed} tracks)")
    if report.emptied:
        parts.append(f"{len(report.emptied)} came back empty")
    if report.failed:
        parts.append(f"{len(report.failed)} failed")
    if unusable:
        parts.append(unusable)
    tail = f"committed {report.commit[:10]}" if report.commit else "nothing to commit"
    return ", ".join(parts) + f"; {tail}"
