"""The ``gitarchive`` command line: thin click commands over the library modules.

Commands are imported only when used: ``show`` need not load requests and jinja2,
and a question answered from the index should not wait for them.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import sys
import threading
from typing import Any, NoReturn

import click

from gitarchive import __version__, exitcodes

# Command name -> module in gitarchive.cli whose COMMANDS list holds it.
COMMAND_MODULES = {
    "init": "archive", "add": "archive", "remove": "archive", "fetch": "archive",
    "demo": "archive",
    "follow": "follow", "unfollow": "follow",
    "rebuild": "history",
    "repack": "packs",
    "link": "links", "unlink": "links",
    "login": "account", "logout": "account", "whoami": "account",
    "site": "site",
    "hooks": "ops", "check": "ops", "schedule": "ops",
    "publish": "publish",
    "status": "status",
    "show": "query", "diff": "query", "log": "query", "search": "query", "export": "query",
}


class LazyGroup(click.Group):
    """A group that imports a command's module the first time the command is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMAND_MODULES.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"gitarchive.cli.{module_name}")
        commands: list[click.Command] = module.COMMANDS
        for command in commands:
            if command.name == cmd_name:
                return command
        raise RuntimeError(f"gitarchive.cli.{module_name} does not define '{cmd_name}'")

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        """``gitarchive --help`` and ``--version`` write here: a closed pipe or a full
        device behind them ends as it does for a command (cli.common.report_output_error)."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except OSError as exc:
            from gitarchive.cli.common import report_output_error

            report_output_error(exc)
            raise

    def invoke(self, ctx: click.Context) -> Any:
        """Every command runs through the one error handler (cli.common.run_handling_errors)."""
        from gitarchive.cli.common import run_handling_errors

        return run_handling_errors(lambda: super(LazyGroup, self).invoke(ctx))


def run() -> None:
    """The installed ``gitarchive`` command: ``main`` with any unexpected exception reported
    as the bug it is (a short message, then the traceback), never as a one-line error.
    SIGTERM and SIGHUP stop it as Ctrl-C does (gitarchive.stopping)."""
    from gitarchive import stopping

    stopping.on_stop_raise()
    _open_closed_streams()
    with contextlib.suppress(AttributeError, ValueError):  # a terminal or pipe in Latin-1:
        sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]  # "?", no bug
    try:
        main(prog_name="gitarchive")
    except SystemExit as done:  # how click ends every command, and our errors
        leave(done.code)
    except Exception as exc:  # click has handled its own exits and usage errors, and ours
        from gitarchive.cli.common import report_bug

        report_bug(exc)


def _open_closed_streams() -> None:
    """A closed stdin, stdout or stderr (``>&-`` in a crontab, a daemon) is opened on
    /dev/null, as git does: else the first file opened takes its number (a pack, the log)
    and what goes to that stream lands in the file, and Python leaves sys.stdout None."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest number free: ``fd`` itself
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            if getattr(sys, name) is None:
                setattr(sys, name, open(fd, "r" if fd == 0 else "w", encoding="utf-8",  # noqa: SIM115
                                        errors="backslashreplace", closefd=False))


def leave(code: object) -> NoReturn:
    """End the process as ``sys.exit(code)`` would, without taking the heap apart first.

    A full rebuild or a fetch holds millions of objects, and the interpreter's own exit
    frees them one by one for nothing: the system takes the memory back at once (from
    its last line to its exit, ``rebuild --full`` of 1,000 playlists x 365 days took
    0.18-0.21 s, now 0.06 s). So once a command is done, its
    output is flushed, the atexit handlers run (the log file is closed by logging's),
    and the process ends with ``os._exit``. While another thread still runs, or if the
    output cannot be flushed (a closed pipe), the usual exit does it all, as before.
    On that quick way out a stop from outside (Ctrl-C) waits: the command is done.
    A stopped run takes the quick way even with threads left: what it must undo is
    undone by now, and a thread still waiting for Spotify's answer (up to the client's
    30 s timeout) would hold its exit for nothing.
    """
    if threading.active_count() > 1 and not _stopped(code):
        raise SystemExit(code)
    from gitarchive import stopping

    stopping.hold()
    if code is None or isinstance(code, int):
        status = code or 0
    else:  # sys.exit("text"): the text on stderr, status 1
        print(code, file=sys.stderr)
        status = 1
    if any(stream is None or stream.closed for stream in (sys.stdout, sys.stderr)):
        raise SystemExit(status)
    try:
        sys.stdout.flush()
        atexit._run_exitfuncs()  # each handler once: they are unregistered as they run
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        raise SystemExit(status) from None
    os._exit(status)


def _stopped(code: object) -> bool:
    """Whether ``code`` is the exit status of a run stopped from outside (128 + signal)."""
    from gitarchive import stopping

    return isinstance(code, int) and code - exitcodes.STOPPED in stopping.STOPPING


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gitarchive")
def main() -> None:
    """A git-native history of Spotify playlists.

    Fetches registered playlists from the Spotify Web API, writes plain files
    and commits them with pygit2; rebuilds cumulative views from history.
    """
