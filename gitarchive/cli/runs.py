"""What an unattended run needs around a command: the lock, the log file, clear write errors.

Used by ``fetch`` and ``rebuild`` (and the git hooks), so cron, a hook and a person
never run into each other, and a refused run says so with its own exit code.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import sys
from collections.abc import Iterator
from typing import NoReturn

import click
import pygit2

from gitarchive import exitcodes
from gitarchive.cli.autopack import after_run
from gitarchive.cli.common import lost_output
from gitarchive.errors import GitarchiveError, LockedError, LockWriteError, PushError, ShardError
from gitarchive.git.depth import WHY, history_cut
from gitarchive.git.lock import RepoLock
from gitarchive.git.store import Store
from gitarchive.ops.push import push
from gitarchive.ops.runlog import close_log, logger, open_log
from gitarchive.ops.shard import Shard


@contextlib.contextmanager
def locked_run(
    store: Store, command: str, *, log_file: str | None = None, quiet: bool = False,
    maintain: bool = True,
) -> Iterator[RepoLock]:
    """Open the log, take the repository's lock (or exit LOCKED at once), log the exit code.

    When the run ends with its work done (exit 0, 3 or 6: its commit is made), the packs
    it may have left are consolidated before the lock is released (cli/packs.py), unless
    ``maintain`` is False.
    """
    handler = None
    if log_file:
        try:
            handler = open_log(log_file)
        except OSError as exc:
            fail(f"cannot write the log file {log_file}: {exc.strerror}", exitcodes.ERROR)
    where = store.workdir or store.git_dir
    logger.info("%s started in %s", command, where)
    code: int | str | None = 0
    try:
        try:
            lock = RepoLock(store, command).acquire()
        except LockedError as exc:
            fail(str(exc), exitcodes.LOCKED)
        except LockWriteError as exc:
            fail(write_error(exc, store), exitcodes.ERROR)
        if lock.previous is not None:
            note = f"took over the lock left by {lock.previous.describe()}, which is gone"
            logger.warning(note)
            if not quiet:
                click.echo(f"note: {note}", err=True)
        try:
            try:
                yield lock
            except SystemExit as exc:
                if maintain and exc.code in _COMMITTED:
                    after_run(store, quiet=quiet)
                raise
            if maintain:
                after_run(store, quiet=quiet)
        finally:
            lock.release()
    except SystemExit as exc:
        code = exc.code
        raise
    except GitarchiveError as exc:
        code = exc.exit_code
        logger.error(str(exc))
        raise
    except Exception as exc:
        code = exitcodes.ERROR
        if isinstance(exc, OSError) and lost_output(exc):  # its work done or undone as
            if exc.errno == errno.EPIPE:  # usual: no bug (cli.common.report_output_error)
                code = exitcodes.STOPPED + exitcodes.SIGPIPE
            logger.error("cannot write the output: %s", exc.strerror or exc)
        else:
            logger.exception("unexpected error: this is a bug in gitarchive")
        raise
    finally:
        logger.info("%s finished: exit %s", command, code if code is not None else 0)
        if handler is not None:
            close_log(handler)


# Exit codes of runs whose work was committed: the packs they wrote are worth consolidating.
_COMMITTED = (None, exitcodes.OK, exitcodes.PARTIAL, exitcodes.PUSH_FAILED)


def fail(message: str, code: int) -> NoReturn:
    """Print ``Error: message`` to stderr, log it, and exit with ``code``."""
    logger.error(message)
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


_WRITE_ERRNOS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the repository is on a read-only file system",
    errno.EACCES: "no permission to write to the repository",
    errno.EPERM: "no permission to write to the repository",
}


# What a write to the repository can raise: the OS, libgit2, and SQLite for the caches kept
# in the git directory (its "database or disk is full" is a full disk too).
WRITE_ERRORS = (OSError, pygit2.GitError, sqlite3.OperationalError)


@contextlib.contextmanager
def writes_said(store: Store) -> Iterator[None]:
    """A write to the repository that fails (a full disk ...): one line and ERROR, saying
    whether the run's commit was made before it (the branch moved since the start)."""
    start = store.head()
    try:
        yield
    except WRITE_ERRORS as exc:
        head = store.head()
        made = head if head is not None and (start is None or head.id != start.id) else None
        fail(write_error(exc, store, made), exitcodes.ERROR)


def write_error(exc: OSError | LockWriteError | pygit2.GitError | sqlite3.OperationalError,
                store: Store, made: pygit2.Commit | None = None) -> str:
    """A sentence for a failed write to the repository; ``made``: the commit the run made
    before it failed (``writes_said``), if any."""
    reason = None
    if isinstance(exc, OSError | LockWriteError):
        reason = _WRITE_ERRNOS.get(exc.errno or 0)
    text = str(exc)
    lowered = text.lower()
    if reason is None:
        for number, sentence in _WRITE_ERRNOS.items():
            if os.strerror(number).lower() in lowered:
                reason = sentence
                break
    if reason is None and "disk is full" in lowered:  # SQLITE_FULL
        reason = _WRITE_ERRNOS[errno.ENOSPC]
    where = store.workdir or store.git_dir
    if made is not None:
        return (f"cannot write to {where}: {reason or text}. The run's commit "
                f"{str(made.id)[:10]} is made; what is derived from it (caches, views) is "
                "made again by the next run")
    return (
        f"cannot write to {where}: {reason or text}. Nothing was committed; the "
        "branch is where it was, and the next run starts from there"
    )


def parse_shard(ctx: click.Context, param: click.Parameter, value: str | None) -> Shard | None:
    """click callback for ``--shard K/N``: a usage error (exit 2) when malformed."""
    if value is None:
        return None
    try:
        return Shard.parse(value)
    except ShardError as exc:
        raise click.BadParameter(str(exc)) from exc


def push_after_fetch(store: Store, remote: str, *, cumulative: bool, quiet: bool) -> int | None:
    """Push the branch; PUSH_FAILED (message printed and logged) or None when pushed."""
    from gitarchive.history.rebuild import rebuild as rebuild_views

    def rebuild(target: Store) -> None:
        rebuild_views(target)

    try:
        result = push(store, remote, rebuild=rebuild if cumulative else None)
    except PushError as exc:
        logger.error(str(exc))
        click.echo(f"Error: {exc}", err=True)
        return exitcodes.PUSH_FAILED
    merged = f", after merging {len(result.merges)} remote change(s)" if result.merges else ""
    done = f"Pushed {result.branch} to {result.remote}{merged}"
    if result.up_to_date:
        done = f"{result.remote} already had everything; {result.branch} is up to date with it"
    logger.info(done)
    if not quiet:
        click.echo(done)
    return None


def views_allowed(store: Store, cumulative: bool) -> bool:
    """Whether a run may write the cumulative views: asked to, and the whole history is
    here (git/depth.py); when it is not, the run's snapshots are still committed, and a
    warning says why the views were left as they are."""
    cut = history_cut(store.repo) if cumulative else None
    if cut is None:
        return cumulative
    message = (f"this repository is {cut}, then 'gitarchive rebuild'. The cumulative views "
               f"were left as they are: {WHY}")
    logger.warning(message)
    click.echo(f"warning: {message}", err=True)
    return False
