"""Repositories and indexes libgit2 refuses: a StoreError that says what to do, never a
traceback; a checkout stopped by a locked index leaves no file of its own behind."""

from __future__ import annotations

import os
import shutil
import subprocess
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
