"""Repositories and indexes opened as git would: what libgit2 refuses is a StoreError that
says what to do, never a traceback; a checkout stopped by a locked index leaves no file of
its own behind; core.sharedRepository is honoured under a strict umask."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitarchive.errors import StoreError
from gitarchive.git.store import Store


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def test_a_sha256_repository_is_named_as_such(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "--object-format=sha256", str(tmp_path / "a")],
                   check=True)
    with pytest.raises(StoreError, match="SHA-256"):
        Store(tmp_path / "a")


@pytest.mark.skipif(os.geteuid() != 0, reason="making a repository another user's needs root")
def test_a_repository_of_another_user_names_safe_directory(tmp_path: Path) -> None:
    Store.init(tmp_path / "a").commit({"f": b"1\n"}, "one")
    shutil.chown(tmp_path / "a", "nobody")
    with pytest.raises(StoreError, match="safe.directory"):
        Store(tmp_path / "a")


def test_a_bare_repository_with_core_bare_false_is_refused_before_a_file_is_written(
        tmp_path: Path) -> None:
    """libgit2 takes the directory above such a repository for its checkout: a fetch
    wrote playlists/ beside the server's repositories."""
    Store.init(tmp_path / "src").commit({"f": b"1\n"}, "one")
    subprocess.run(["git", "clone", "-q", "--bare", str(tmp_path / "src"),
                    str(tmp_path / "srv.git")], check=True)
    git(tmp_path / "srv.git", "config", "core.bare", "false")
    with pytest.raises(StoreError, match="core.bare true"):
        Store(tmp_path / "srv.git").commit({"f": b"2\n"}, "two")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "srv.git"]
    git(tmp_path / "srv.git", "config", "core.bare", "true")
    assert Store(tmp_path / "srv.git").commit({"f": b"2\n"}, "two") is not None


def test_a_split_index_is_named_with_its_way_out(tmp_path: Path) -> None:
    Store.init(tmp_path / "a").commit({"f": b"1\n"}, "one")
    git(tmp_path / "a", "update-index", "--split-index")
    with pytest.raises(StoreError, match="core.splitIndex"):
        Store(tmp_path / "a").commit({"f": b"2\n"}, "two")  # a new run: a new process
    git(tmp_path / "a", "update-index", "--no-split-index")
    assert Store(tmp_path / "a").commit({"f": b"2\n"}, "two") is not None


@pytest.mark.parametrize("first", [True, False], ids=["first-commit", "later-commit"])
def test_a_locked_index_puts_back_what_the_checkout_wrote(tmp_path: Path, first: bool) -> None:
    """A git command holding the index (the user's commit, its editor open): the run
    fails, naming the lock, and its files go, so that once the user has committed (HEAD
    moved past the run's marker) the next run is not refused for them."""
    root = tmp_path / "a"
    store = Store.init(root)
    if not first:
        store.commit({"keep": b"old\n", "gone": b"x\n"}, "one")
    (root / ".git/index.lock").touch()
    with pytest.raises(StoreError, match="index.lock"):
        store.commit({"keep": b"new\n", "gone": None, "dir/added": b"a\n"}, "two")
    (root / ".git/index.lock").unlink()
    if first:
        assert not (root / "dir/added").exists() and not (root / "keep").exists()
    else:
        assert git(root, "status", "--porcelain") == ""
        git(root, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-q",
            "--allow-empty", "-m", "the user's own")
    assert store.commit({"keep": b"new\n", "dir/added": b"a\n"}, "two") is not None
    assert git(root, "status", "--porcelain") == ""


SHARED_RUN = """
import os, sys
os.umask(0o077)  # a cron job's strict umask
from gitarchive.git.lock import RepoLock
from gitarchive.git.store import Store
store = Store(sys.argv[1])
with RepoLock(store, "test"):
    store.commit({"f": b"1\\n", "g": b"2\\n"}, "one")
"""


@pytest.mark.parametrize(("shared", "bits"), [("group", 0o040), ("all", 0o044), ("0640", 0o040),
                                              ("false", 0)])
def test_core_shared_repository_is_honoured_under_a_strict_umask(
        tmp_path: Path, shared: str, bits: int) -> None:
    """Objects, refs and the lock as git would leave them (git: objects 0440 under
    'group' with umask 077), so the group's own runs and git commands can read them."""
    root = tmp_path / "a"
    subprocess.run(["git", "init", "-q", f"--shared={shared}", str(root)], check=True)
    subprocess.run([sys.executable, "-c", SHARED_RUN, str(root)], check=True)
    git_dir = root / ".git"
    written = [p for p in (git_dir / "objects").rglob("*") if p.is_file()]
    written += [git_dir / "refs/heads" / os.listdir(git_dir / "refs/heads")[0],
                git_dir / "gitarchive/lock"]
    assert len(written) > 3
    for path in written:
        assert path.stat().st_mode & 0o044 == bits, (path, oct(path.stat().st_mode))
    if shared in ("group", "all"):  # the group's runs open the lock to write their record
        assert (git_dir / "gitarchive/lock").stat().st_mode & 0o020
