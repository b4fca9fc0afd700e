"""A run killed between updating the checkout and moving the branch is undone by the next one.

The crash is injected at that exact point (not timed): a real ``gitarchive fetch`` runs in
a subprocess whose checkout update ends the process the moment the files are written, so
the working tree and the index hold the new commit while the branch still points at the
old one. Every command that writes must first put the files back, then work as usual.
"""

# ruff: noqa: F811 - the `api` fixture is imported from test_fetch and requested by name

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pygit2
import pytest
from click.testing import CliRunner
from test_fetch import KPOP, LONG, OLD_1970, SMALL, archive

from gitarchive import exitcodes
from gitarchive.archive import layout
from gitarchive.cli import main
from gitarchive.spotify.fixtures import load_fixture_playlists
from gitarchive.spotify.standin import StandIn

CRASHED = 137
# The fault: the real checkout update, then the process ends before the branch can move.
CRASH_AFTER_CHECKOUT = textwrap.dedent(f"""
    import os, sys
    import pygit2
    from gitarchive.cli import main
    real_checkout = pygit2.Repository.checkout_tree

    def checkout_then_die(self, *args, **kwargs):
        real_checkout(self, *args, **kwargs)
        os._exit({CRASHED})

    pygit2.Repository.checkout_tree = checkout_then_die
    main(["fetch", "--repo", sys.argv[1]])
""")


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout


def head(repo: Path) -> pygit2.Commit:
    return pygit2.Repository(str(repo)).head.peel(pygit2.Commit)


def marker(repo: Path) -> Path:
    return repo / ".git" / "gitarchive" / "checkout-in-progress"


def renamed(pid: str, name: str) -> dict:
    data = copy.deepcopy(load_fixture_playlists()[pid])
    data["name"] = name
    return data


def crashed_fetch(api: StandIn, tmp_path: Path) -> tuple[Path, pygit2.Commit]:
    """An archive whose last fetch died with the new files checked out; (repo, HEAD)."""
    repo = archive(tmp_path, SMALL, LONG)
    assert invoke("fetch", "--repo", str(repo), "--quiet")[0] == exitcodes.OK
    assert invoke("add", OLD_1970, "--repo", str(repo))[0] == 0
    api.set_playlist(SMALL, renamed(SMALL, "Renamed by the crashed run"))
    before = head(repo)
    done = subprocess.run([sys.executable, "-c", CRASH_AFTER_CHECKOUT, str(repo)],
                          env=dict(os.environ), capture_output=True, text=True, check=False)
    assert done.returncode == CRASHED, done.stderr  # the fault was hit, not skipped
    # The crash window: files and index of the new commit, the branch where it was.
    assert head(repo).id == before.id and marker(repo).exists()
    assert (repo / layout.plain_path(OLD_1970)).is_file()  # a file HEAD does not have
    assert "Renamed by the crashed run" in (repo / layout.pretty_json_path(SMALL)).read_text()
    assert git(repo, "status", "--porcelain") != ""
    assert git(repo, "diff", "--cached", "--name-only") != ""  # the index moved too
    return repo, before


def assert_checkout_matches_head(repo: Path) -> None:
    """Working tree and index exactly HEAD's (git itself checks), no marker left behind."""
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert git(repo, "diff", "--cached", "--name-only") == ""
    assert not marker(repo).exists()
    tree = head(repo).tree
    assert (layout.plain_path(OLD_1970) in tree) == (repo / layout.plain_path(OLD_1970)).exists()
    assert (repo / layout.pretty_json_path(SMALL)).read_bytes() == \
        tree[layout.pretty_json_path(SMALL)].data


# (command line, whether it commits on top of the crashed run's HEAD)
COMMANDS = {
    "fetch": (["fetch"], True),
    "fetch with nothing new": (["fetch", "--only", SMALL], False),
    "rebuild": (["rebuild"], False),
    "rebuild to a views branch": (["rebuild", "--views-branch", "views"], False),
    "add": (["add", KPOP], True),
    "remove": (["remove", LONG], True),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_writing_command_recovers_a_run_killed_before_the_branch_moved(
    api: StandIn, tmp_path: Path, command: str
) -> None:
    repo, before = crashed_fetch(api, tmp_path)
    args, commits = COMMANDS[command]
    if command == "fetch with nothing new":
        api.set_playlist(SMALL, load_fixture_playlists()[SMALL])  # back to what HEAD holds
    code, out = invoke(*args, "--repo", str(repo))
    assert code == exitcodes.OK, out
    after = head(repo)
    if commits:
        assert [p.id for p in after.parents] == [before.id]
    else:
        assert after.id == before.id, "nothing new: nothing committed"
    assert_checkout_matches_head(repo)
    fsck = subprocess.run(["git", "-C", str(repo), "fsck", "--strict"], capture_output=True,
                          text=True, check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    # Later runs commit as usual.
    api.set_playlist(SMALL, renamed(SMALL, "Renamed later"))
    code, out = invoke("fetch", "--repo", str(repo), "--quiet")
    assert code == exitcodes.OK, out
    latest = head(repo)
    assert [p.id for p in latest.parents] == [after.id]
    assert b"Renamed later" in latest.tree[layout.pretty_json_path(SMALL)].data
    assert_checkout_matches_head(repo)
