"""Options and helpers every command shares: --repo, opening the store, the one error handler."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import click

from gitarchive import exitcodes
from gitarchive.errors import GitarchiveError
from gitarchive.progress import end_line
from gitarchive.visible import shown

if TYPE_CHECKING:  # pygit2 loads when a command opens the store, not when one is listed
    from gitarchive.git.store import Store


def repo_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--repo DIR``: the archive repository (default: the current directory)."""
    return click.option(
        "--repo",
        "repo_path",
        default=".",
        show_default=True,
        type=click.Path(file_okay=False),
        help="Archive repository (a checkout or a bare repository).",
    )(func)


def open_store(repo_path: str) -> Store:
    """The archive at ``repo_path`` (a StoreError, shown as ``Error: ...``, when there is none)."""
    from gitarchive.git.depth import whole_again
    from gitarchive.git.store import Store

    store = Store(repo_path)
    if whole_again(store.git_dir, store.repo):
        _forget_cut_caches(store)
    return store


def note_cut(store: Store) -> None:
    """Say so when what a command shows comes from part of the history (a shallow or
    partial clone): its first dates are the cut's, not the playlists'."""
    from gitarchive.git.depth import history_cut

    cut = history_cut(store.repo)
    if cut is not None:
        click.echo(f"note: this repository is {cut}; what is shown comes from the part of "
                   "its history that is here", err=True)


def _forget_cut_caches(store: Store) -> None:
    """Drop what was derived from a history that was cut then (a shallow or partial clone)
    and is whole now: the next command replays it all, with the dates before the cut."""
    from gitarchive.git.depth import forget_cut
    from gitarchive.heal import forget_database
    from gitarchive.history import saved, timeline
    from gitarchive.questions.index import index_path

    saved.state_path(store).unlink(missing_ok=True)
    timeline.forget(store)
    forget_database(index_path(store))
    forget_cut(store.git_dir)


def report_bug(exc: BaseException) -> NoReturn:
    """An exception nobody expected: say it is a bug, show the traceback, exit ERROR.

    Never a one-line message that looks like the user's mistake; secrets are redacted
    from the traceback as from every other output.
    """
    import traceback  # a bug's report only (and its regular expressions: not every question's)

    from gitarchive.redact import redact

    text = "".join(traceback.format_exception(exc))
    end_line()
    click.echo(
        f"Error: unexpected {type(exc).__name__}: {redact(str(exc))}\n"
        "This is a bug in gitarchive, not a mistake of yours; please report it with the "
        "traceback below.\n" + redact(text),
        err=True,
        nl=False,
    )
    sys.exit(exitcodes.ERROR)


def run_handling_errors(invoke: Callable[[], Any]) -> Any:
    """Run a command: a GitarchiveError becomes its message and exit code; a stop from
    outside (Ctrl-C, SIGTERM, SIGHUP: gitarchive.stopping) one line and 128 + its signal.

    Anything else propagates unchanged: ``gitarchive.cli.run`` (the installed command)
    reports it as a bug, and a test invoking ``main`` sees the exception itself.
    """
    try:
        return invoke()
    except GitarchiveError as exc:  # as click shows its own errors: "Error: message"
        end_line()
        click.echo(f"Error: {shown(exc.message)}", err=True)  # it may quote a name
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as stop:  # not click's "Aborted!" and status 1
        report_stop(stop)
    except OSError as exc:  # before click's own catch: a closed pipe, silently status 1
        report_output_error(exc)
        raise


def lost_output(exc: BaseException) -> bool:
    """Whether ``exc`` is the output failing to be written: an OSError raised by a write of
    click's (all output goes through ``click.echo``), not by a file the command writes.
    Also how a run's log file tells it from a bug (cli.runs.locked_run)."""
    frame = exc.__traceback__ if isinstance(exc, OSError) else None
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and frame.tb_frame.f_globals.get("__name__", "").startswith("click.")


def report_output_error(exc: OSError) -> None:
    """Exit as the shell tools do when the output cannot be written; return when ``exc``
    is no failure of the output (the caller raises it on: a bug).

    The reader of a pipe that stopped reading (``| head``, ``less`` quit early) is no
    error: nothing is said, and the status is that of a program SIGPIPE ended (141),
    as ``git log | head`` ends. A full disk or a failing device behind a redirection
    (``> /dev/full``) is one line and status 1, not a bug's traceback. Only a write of
    click's counts (``lost_output``): the same error from a file the command writes is
    another matter.
    """
    import errno
    import os

    if not lost_output(exc):
        return
    with contextlib.suppress(OSError, ValueError):  # what is still buffered goes nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if exc.errno == errno.EPIPE:
        sys.exit(exitcodes.STOPPED + exitcodes.SIGPIPE)
    try:
        end_line()
        click.echo(f"Error: cannot write the output: {exc.strerror or exc}", err=True)
    except OSError:  # stderr fails too (2>&1): else Python's exit fails again, status 120
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())
    sys.exit(exitcodes.ERROR)


def report_stop(stop: KeyboardInterrupt) -> NoReturn:
    """One line for a run stopped from outside, then exit 128 + the signal's number.

    What the run had not committed was not kept (the files it had half written are
    removed on the way out), so running it again finishes the work. On a closed terminal
    the line has nowhere to go: the exit status says it.
    """
    from gitarchive import stopping

    with contextlib.suppress(OSError):
        end_line()
        click.echo(f"gitarchive: {stopping.describe(stop)}; nothing half-done was kept "
                   "(run it again to finish)", err=True)
    sys.exit(exitcodes.STOPPED + stopping.signal_of(stop))
