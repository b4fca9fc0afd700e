"""The automatic consolidation of packs after every run that takes the lock.

git's automatic gc never runs in an archive (no git command runs there), so the runs
that write packs (fetch, rebuild, follow, site, the hooks) consolidate them afterwards
themselves, under the same lock, by the repository's gc.autoPackLimit and gc.auto.
"""

from __future__ import annotations

import click
import pygit2

from gitarchive.git.repack import Repacked, RepackError, maintain
from gitarchive.git.store import Store
from gitarchive.ops.runlog import logger
from gitarchive.progress import terminal_counter

LABEL = "Consolidating packs"


def after_run(store: Store, *, quiet: bool) -> None:
    """The automatic step: consolidate when over the limits. A failure is one line on
    stderr and in the log; it never fails the run, whose commit is already made."""
    try:
        result = maintain(store.git_dir, progress=terminal_counter(LABEL, quiet=quiet))
    except RepackError as exc:
        _warn(str(exc))
        return
    except (OSError, pygit2.GitError) as exc:  # reading what is there failed: nothing changed
        _warn(f"could not consolidate the repository's packs ({exc}); every old pack is "
              "still in place")
        return
    if result is not None:
        logger.info(summary(result))
        if not quiet:
            click.echo(summary(result))
        report_leftovers(result)


def _warn(message: str) -> None:
    logger.warning(message)
    click.echo(f"warning: {message}", err=True)


def report_leftovers(result: Repacked) -> None:
    if result.leftovers:
        first = ", ".join(result.leftovers[:3])
        _warn(f"{len(result.leftovers)} old file(s) could not be removed (e.g. {first}); "
              "their objects are in the new pack too, so they are only wasted space")


def summary(result: Repacked) -> str:
    loose = f" and {result.loose} loose object(s)" if result.loose else ""
    return (f"Consolidated {result.combined} pack(s){loose} into one of {result.objects} "
            f"objects ({_mb(result.bytes_before)} -> {_mb(result.bytes_after)}) in "
            f"{result.seconds:.2f} s; {result.packs_after} pack(s) now.")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.0f} kB"
