"""Commands for running an archive unattended: hooks, check, schedule."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click
import pygit2

from gitarchive.cli.autopack import after_run
from gitarchive.cli.common import open_store, repo_option
from gitarchive.errors import GitarchiveError, LockedError
from gitarchive.git.lock import RepoLock
from gitarchive.git.store import Store
from gitarchive.ops import hooks as hooklib
from gitarchive.ops import schedule as schedulelib

_HOOK_NAMES = click.Choice(hooklib.HOOKS)


@click.group("hooks")
def hooks_group() -> None:
    """Install gitarchive's git hooks in an archive repository.

    pre-commit refuses bad registry entries and unreadable snapshots; post-commit,
    post-merge and post-rewrite bring the cumulative views up to date; post-receive
    does so on a bare server repository after a push. core.hooksPath is respected,
    and a hook you already have is kept and run first.
    """


@hooks_group.command("install")
@click.argument("names", nargs=-1, type=_HOOK_NAMES)
@repo_option
def hooks_install(names: tuple[str, ...], repo_path: str) -> None:
    """Install hooks NAMES (default: all). Installing twice changes nothing."""
    store = open_store(repo_path)
    for name, what in hooklib.install(store, list(names) or None):
        click.echo(f"{name}: {what}")
    click.echo(f"Hooks directory: {hooklib.hooks_dir(store)}")


@hooks_group.command("uninstall")
@click.argument("names", nargs=-1, type=_HOOK_NAMES)
@repo_option
def hooks_uninstall(names: tuple[str, ...], repo_path: str) -> None:
    """Remove gitarchive's hooks NAMES (default: all) and restore the hooks they replaced.

    A hook you edited since it was installed is kept, and named.
    """
    store = open_store(repo_path)
    for name, what in hooklib.uninstall(store, list(names) or None):
        click.echo(f"{name}: {what}")


@hooks_group.command("status")
@repo_option
def hooks_status(repo_path: str) -> None:
    """Show which gitarchive hooks are installed, and where."""
    store = open_store(repo_path)
    click.echo(f"Hooks directory: {hooklib.hooks_dir(store)}")
    for found in hooklib.status(store):
        click.echo(f"{found.name}: {found.describe()}")


@hooks_group.command(
    "run", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@click.argument("name", type=_HOOK_NAMES)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hooks_run(name: str, args: tuple[str, ...]) -> None:
    """Run hook NAME as git does (called by the installed hook scripts)."""
    store = open_store(".")
    stdin = b""
    if name in ("post-receive", "post-rewrite") and not sys.stdin.isatty():
        stdin = sys.stdin.buffer.read()
    chained = hooklib.run_chained(store, name, list(args), stdin)
    if name == "pre-commit":
        if chained:
            sys.exit(chained)
        problems = hooklib.check_staged(store)
        if problems:
            click.echo("gitarchive: commit refused:", err=True)
            for problem in problems:
                click.echo(f"  {problem}", err=True)
            click.echo("Fix or unstage these files (or commit with --no-verify).", err=True)
            sys.exit(1)
        return
    if name == "post-receive" and store.branch_ref not in hooklib.pushed_branches(stdin):
        return
    _refresh_views(store, name)


def _refresh_views(store: Store, name: str) -> None:
    """Bring the cumulative views up to date; a post-* hook never fails the git command."""
    reason = hooklib.should_refresh(store)
    if reason is not None:
        return
    os.environ[hooklib.GUARD] = "1"  # whatever this causes must not run us again
    from gitarchive.history.rebuild import rebuild

    try:
        with RepoLock(store, f"gitarchive hooks run {name}"):
            result = rebuild(store)
            after_run(store, quiet=True)  # the rebuild may have left a pack
    except LockedError as exc:
        click.echo(f"gitarchive {name}: views not updated now: {exc}", err=True)
        return
    except (GitarchiveError, OSError, pygit2.GitError) as exc:
        click.echo(f"gitarchive {name}: views not updated: {exc}", err=True)
        return
    if result.changed:
        where = result.views_branch or "this branch"
        click.echo(f"gitarchive: updated {len(result.changed)} cumulative file(s) on {where}")


@click.command("check")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
def check_command(files: tuple[str, ...]) -> None:
    """Check archive FILES (registry entries, pretty JSON snapshots); for pre-commit.

    Paths are taken relative to the repository's top (as the pre-commit framework
    passes them). Exits 1 naming each bad file and what is wrong.
    """
    root = _top(Path.cwd())
    problems = []
    for name in files:
        path = Path(name).resolve()
        relative = path.relative_to(root).as_posix() if path.is_relative_to(root) else name
        problems.extend(hooklib.check_file(relative, path.read_bytes()))
    for problem in problems:
        click.echo(problem, err=True)
    sys.exit(1 if problems else 0)


def _top(cwd: Path) -> Path:
    found = pygit2.discover_repository(str(cwd))
    if found is None:
        return cwd.resolve()
    repo = pygit2.Repository(found)
    return Path(repo.workdir or repo.path).resolve()


@click.command("schedule")
@click.argument("kind", type=click.Choice(["cron", "systemd", "actions"]))
@click.option("--at", "at", default="06:17", show_default=True, metavar="HH:MM",
              help="Time of day of the daily run.")
@click.option("--env-file", type=click.Path(dir_okay=False),
              default=schedulelib.ENV_FILE, show_default=True,
              help="KEY=value file with the Spotify credentials (cron, systemd).")
@click.option("--log-file", type=click.Path(dir_okay=False),
              help="Log file (default: .git/gitarchive/fetch.log in the archive).")
@click.option("--push", "push_remote", is_flag=False, flag_value="origin", default=None,
              metavar="[REMOTE]", help="Push after each run (Actions always pushes).")
@click.option("--shards", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Actions: split the registry over this many parallel jobs.")
@click.option("--package", default="gitarchive", show_default=True,
              help="Actions: what to pip install.")
@click.option("--site-branch", metavar="NAME",
              help="Actions: then publish the static site to branch NAME (for GitHub Pages).")
@repo_option
def schedule_command(
    kind: str, at: str, env_file: str, log_file: str | None, push_remote: str | None,
    shards: int, package: str, site_branch: str | None, repo_path: str,
) -> None:
    """Print a daily cron line, systemd service + timer, or GitHub Actions workflow.

    The paths of this installation and of the archive are filled in, so the
    output works as written.
    """
    hour, minute = _time_of_day(at)
    store = open_store(repo_path)
    repo = (store.workdir or store.git_dir).resolve()
    plan = schedulelib.Plan(
        repo=repo, hour=hour, minute=minute, env_file=Path(env_file).expanduser().resolve(),
        log_file=Path(log_file).resolve() if log_file else None, push=push_remote,
        shards=shards, package=package, site_branch=site_branch,
    )
    if kind != "actions" and not plan.env_file.is_file():  # the run would fail unseen
        click.echo(f"note: {plan.env_file} does not exist yet; the daily run reads the "
                   "credentials from it and fails without it: create it before the first run "
                   "(README: Credentials for unattended runs)", err=True)
    if kind == "cron":
        click.echo(schedulelib.cron(plan), nl=False)
    elif kind == "systemd":
        for name, text in schedulelib.systemd(plan).items():
            click.echo(f"# ---- {name}")
            click.echo(text, nl=False)
    else:
        click.echo(schedulelib.actions(plan), nl=False)


def _time_of_day(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text)
    hour, minute = (int(match[1]), int(match[2])) if match else (-1, -1)
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise click.BadParameter(f"'{text}' is not a time of day HH:MM", param_hint="'--at'")
    return hour, minute


COMMANDS: list[click.Command] = [hooks_group, check_command, schedule_command]
