"""Commands: ``repack`` (what every run does when needed, by hand; see cli/autopack.py)."""

from __future__ import annotations

import click

from gitarchive.cli.autopack import LABEL, report_leftovers, summary
from gitarchive.cli.common import open_store, repo_option
from gitarchive.cli.runs import locked_run
from gitarchive.git import packfiles
from gitarchive.git.repack import repack
from gitarchive.progress import terminal_counter


@click.command("repack")
@click.option("--all", "everything", is_flag=True,
              help="Combine every pack (but .keep ones) into one, the big ones too.")
@click.option("--deltas", is_flag=True,
              help="Also search for deltas between objects (libgit2), in every pack as "
              "--all: a much smaller repository, at a much higher price.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing unless something fails.")
@repo_option
def repack_command(everything: bool, deltas: bool, quiet: bool, repo_path: str) -> None:
    """Consolidate the repository's packs and loose objects (git gc's job, no pruning).

    Every fetch and rebuild may leave a pack, and each extra pack slows every lookup.
    After each run, gitarchive combines the small packs when there are more than
    gc.autoPackLimit (default 50; 0, or gc.auto=0, turns that off). This command does
    it now, whatever the limit: the small packs (smallest first, until each pack left
    is at least twice all smaller ones together; never the largest pack nor those over
    gc.bigPackThreshold; every pack with --all) and all loose
    objects become one pack. Every object of the new pack is read back from it before
    any old one is removed; unreachable objects are kept. Takes the repository's lock.
    """
    store = open_store(repo_path)
    with locked_run(store, "gitarchive repack", quiet=quiet, maintain=False):
        git_dir = store.git_dir
        packs = packfiles.list_packs(git_dir)
        whole = everything or deltas
        big = packfiles.Limits.of(store.repo).big
        chosen = ([p for p in packs if not p.keep] if whole
                  else packfiles.geometric(packfiles.candidates(packs, big)))
        loose = packfiles.loose_objects(git_dir)
        if len(chosen) < 2 and not loose and not (deltas and chosen):
            if not quiet:
                click.echo(f"Nothing to consolidate: {len(packs)} pack(s), no loose objects.")
            return
        result = repack(store.repo, chosen, loose, deltas=deltas,
                        progress=terminal_counter(LABEL, quiet=quiet))
    if not quiet:
        click.echo(summary(result))
    report_leftovers(result)


COMMANDS: list[click.Command] = [repack_command]
