"""Issue 13: the user's own files (hooks, registry, lock) and odd inputs are handled clearly.

Real repositories, real CLI runs (exceptions propagate: a traceback fails the test).
"""

# ruff: noqa: F811 - the `api` fixture is imported from test_fetch and requested by name

from __future__ import annotations

import os
from pathlib import Path

import pygit2
import pytest
from click.testing import CliRunner
from test_fetch import LONG, SMALL, api, archive  # noqa: F401 - fixture

from gitarchive import exitcodes
from gitarchive.archive import layout
from gitarchive.cli import main
from gitarchive.git import lock
from gitarchive.git.store import Store
from gitarchive.ops import hooks
from gitarchive.spotify.standin import StandIn


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def listing(directory: Path) -> dict[str, bytes]:
    if not directory.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


# ------------------------------------------------------------------ hooks


def test_uninstall_keeps_a_hook_the_user_edited(tmp_path: Path) -> None:
    repo = archive(tmp_path)
    directory = hooks.hooks_dir(Store(repo))
    assert invoke("hooks", "install", "--repo", str(repo))[0] == 0
    edited = directory / "post-commit"
    edited.write_text(edited.read_text() + "echo my own addition\n")
    code, out, _ = invoke("hooks", "uninstall", "--repo", str(repo))
    assert code == 0
    assert "post-commit: kept" in out and "edited" in out
    assert "my own addition" in edited.read_text()
    assert not (directory / "pre-commit").exists()  # the unedited ones are removed


def test_uninstall_removes_a_hook_installed_by_another_interpreter(tmp_path: Path) -> None:
    repo = archive(tmp_path)
    directory = hooks.hooks_dir(Store(repo))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pre-commit").write_text(hooks.installed_script("pre-commit", "/opt/py/bin/py"))
    code, out, _ = invoke("hooks", "uninstall", "pre-commit", "--repo", str(repo))
    assert code == 0 and "pre-commit: removed" in out
    assert not (directory / "pre-commit").exists()


@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_install_into_a_non_directory_hooks_path_changes_nothing(
    tmp_path: Path, where: str
) -> None:
    repo = archive(tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file\n")
    path = blocker if where == "file" else blocker / "hooks"
    pygit2.Repository(str(repo)).config["core.hooksPath"] = str(path)
    git_dir = repo / ".git"
    before = listing(git_dir / "gitarchive")
    code, out, err = invoke("hooks", "install", "--repo", str(repo))
    assert code == 1
    assert "not a directory" in err and "nothing was changed" in err
    assert "Traceback" not in out + err
    assert blocker.read_text() == "a file\n"
    assert listing(git_dir / "gitarchive") == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_install_into_a_read_only_hooks_path_changes_nothing(tmp_path: Path) -> None:
    repo = archive(tmp_path)
    shared = tmp_path / "shared-hooks"
    shared.mkdir()
    pygit2.Repository(str(repo)).config["core.hooksPath"] = str(shared)
    shared.chmod(0o555)
    try:
        code, _, err = invoke("hooks", "install", "--repo", str(repo))
    finally:
        shared.chmod(0o755)
    assert code == 1 and "cannot be written" in err and "nothing was changed" in err
    assert listing(shared) == {}


def test_install_refuses_before_writing_when_one_hook_would_be_lost(tmp_path: Path) -> None:
    repo = archive(tmp_path)
    directory = hooks.hooks_dir(Store(repo))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "post-merge").write_text("#!/bin/sh\necho mine\n")
    (directory / "post-merge.pre-gitarchive").write_text("#!/bin/sh\necho older\n")
    before = listing(directory)
    code, _, err = invoke("hooks", "install", "--repo", str(repo))
    assert code == 1 and "move one of them away" in err
    assert listing(directory) == before  # not half-installed


# --------------------------------------------------------------- registry


def test_registry_file_with_two_lines_fails_the_run_clearly(
    api: StandIn, tmp_path: Path
) -> None:
    repo = archive(tmp_path, SMALL)
    store = Store(repo)
    store.commit({layout.registry_path(SMALL): b"My alias\nstray second line\n"}, "alias")
    log = tmp_path / "fetch.log"
    code, out, err = invoke("fetch", "--repo", str(repo), "--log-file", str(log))
    assert code == exitcodes.NOTHING_FETCHED
    assert layout.registry_path(SMALL) in err and "one line" in err
    assert "No playlists registered" not in out + err
    assert layout.registry_path(SMALL) in log.read_text()
    # with another, good playlist: that one is fetched, the run says some failed
    assert invoke("add", LONG, "--repo", str(repo))[0] == 0
    code, out, err = invoke("fetch", "--repo", str(repo))
    assert code == exitcodes.PARTIAL
    assert "1 registry file unusable" in out
    assert Store(repo).read(layout.pretty_json_path(LONG)) is not None


def test_registry_file_with_trailing_blank_lines_is_fine(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    Store(repo).commit({layout.registry_path(SMALL): b"My alias\n\n\n"}, "alias")
    code, out, _ = invoke("fetch", "--repo", str(repo))
    assert code == exitcodes.OK, out
    assert "My alias" in Store(repo).read(layout.plain_path(SMALL)).decode()


# ------------------------------------------------------------------ lock


def test_lock_message_does_not_suggest_deleting_the_lock(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    with lock.RepoLock(Store(repo), "gitarchive fetch"):
        code, _, err = invoke("fetch", "--repo", str(repo))
    assert code == exitcodes.LOCKED
    assert "delete " + str(lock.lock_path(Store(repo))) not in err
    assert "do not delete the lock file" in err


# --------------------------------------------------------------- shards


def test_shard_selecting_nothing_says_so(api: StandIn, tmp_path: Path) -> None:
    from gitarchive.ops.fetch import Shard

    repo = archive(tmp_path, SMALL)
    empty = next(f"{k}/3" for k in (1, 2, 3) if not Shard.parse(f"{k}/3").holds(SMALL))
    code, out, _ = invoke("fetch", "--repo", str(repo), "--shard", empty)
    assert code == exitcodes.OK
    assert "No playlists registered" not in out
    assert "None of the 1 registered playlist" in out
