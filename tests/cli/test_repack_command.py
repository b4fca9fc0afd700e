"""Packs after runs and by hand: ``fetch`` consolidates past gc.autoPackLimit; ``repack``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest
from cli_support import SMALL, new_archive, on_a_terminal, run
from click.testing import CliRunner

from gitarchive.cli import main
from gitarchive.git import packfiles, packwriter, repack
from gitarchive.git.repack import TempFile
from gitarchive.spotify.standin import StandIn


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout


def old_packs(repo: Path, count: int) -> set[str]:
    """``count`` packs as earlier runs left them; their blobs are reachable from no commit
    (as a concurrent run's may be): consolidating must keep them all."""
    odb = pygit2.Repository(str(repo))
    ids = set()
    for run_no in range(count):
        blobs = [f"view {i} of run {run_no}\n".encode() for i in range(70)]
        ids.update(str(oid) for oid in packwriter.write_blobs(odb, blobs))
    return ids


def packs(repo: Path) -> list[packfiles.Pack]:
    return packfiles.list_packs(repo / ".git")


def test_fetch_consolidates_packs_past_the_limit(tmp_path: Path, api: StandIn) -> None:
    repo = new_archive(tmp_path, SMALL)
    written = old_packs(repo, 6)
    git(repo, "config", "gc.autoPackLimit", "3")
    result = CliRunner().invoke(main, ["fetch", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    assert "Consolidated 5 pack(s) into one of 350 objects" in result.stdout
    assert result.stderr == ""
    assert len(packs(repo)) <= 3
    git(repo, "fsck", "--full", "--strict")
    check = git(repo, "cat-file", "--batch-check", "--batch-all-objects")
    assert written <= {line.split()[0] for line in check.splitlines()}
    assert f"playlists/plain/{SMALL}" in git(repo, "show", "--stat", "HEAD")


def test_quiet_fetch_consolidates_silently(tmp_path: Path, api: StandIn) -> None:
    repo = new_archive(tmp_path, SMALL)
    old_packs(repo, 6)
    git(repo, "config", "gc.autoPackLimit", "3")
    result = CliRunner().invoke(main, ["fetch", "--repo", str(repo), "--quiet"])
    assert result.exit_code == 0 and result.output == ""
    assert len(packs(repo)) <= 3


def test_a_failed_consolidation_is_one_line_and_never_fails_the_run(
    tmp_path: Path, api: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_archive(tmp_path, SMALL)
    old_packs(repo, 6)
    git(repo, "config", "gc.autoPackLimit", "3")
    before = {p.path for p in packs(repo)}

    def disk_full(directory: Path, prefix: str) -> tuple[TempFile, Path]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(repack, "open_temp", disk_full)
    log = tmp_path / "fetch.log"
    result = CliRunner().invoke(main, ["fetch", "--repo", str(repo), "--quiet",
                                       "--log-file", str(log)])
    assert result.exit_code == 0
    assert "WARNING could not consolidate the repository's packs (No space" in log.read_text()
    assert result.stderr == ("warning: could not consolidate the repository's packs (No space "
                             "left on device); every old pack is still in place\n")
    assert before <= {p.path for p in packs(repo)}
    assert f"playlists/plain/{SMALL}" in git(repo, "show", "--stat", "HEAD")  # committed
    git(repo, "fsck", "--full", "--strict")


def test_repack_by_hand(tmp_path: Path) -> None:
    repo = new_archive(tmp_path, SMALL)
    written = old_packs(repo, 4)
    assert packfiles.loose_objects(repo / ".git")  # init and add commit a few objects
    code, out = run("repack", "--repo", str(repo))
    assert code == 0 and out.startswith("Consolidated 3 pack(s) and ")  # not the largest
    assert out.endswith("; 2 pack(s) now.\n")
    git(repo, "fsck", "--full", "--strict")
    assert len(packs(repo)) == 2 and not packfiles.loose_objects(repo / ".git")
    old_packs(repo, 2)
    code, out = run("repack", "--repo", str(repo), "--all", "--quiet")
    assert (code, out) == (0, "")
    assert len(packs(repo)) == 1
    code, out = run("repack", "--repo", str(repo))
    assert (code, out) == (0, "Nothing to consolidate: 1 pack(s), no loose objects.\n")
    check = git(repo, "cat-file", "--batch-check", "--batch-all-objects")
    assert written <= {line.split()[0] for line in check.splitlines()}


def test_repack_without_a_terminal_shows_no_progress(tmp_path: Path) -> None:
    repo = new_archive(tmp_path, SMALL)
    old_packs(repo, 5)
    done = subprocess.run([sys.executable, "-m", "gitarchive", "repack", "--all", "--repo",
                           str(repo)], capture_output=True, text=True, check=True)
    assert done.stderr == ""
    assert done.stdout.startswith("Consolidated 5 pack(s) and ") and done.stdout.count("\n") == 1
    assert len(packs(repo)) == 1
    git(repo, "fsck", "--full", "--strict")


def test_repack_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    repo = new_archive(tmp_path, SMALL)
    old_packs(repo, 40)  # 2,800 objects: the bar moves every 1,024
    shown = on_a_terminal([sys.executable, "-m", "gitarchive", "repack", "--repo", str(repo)],
                          {**os.environ, "COLUMNS": "100"})
    assert "Consolidating packs" in shown and "100%" in shown
    assert "Consolidated 39 pack(s) and " in shown


def test_repack_respects_the_lock(tmp_path: Path) -> None:
    from gitarchive.git.lock import RepoLock
    from gitarchive.git.store import Store

    repo = new_archive(tmp_path, SMALL)
    old_packs(repo, 3)
    with RepoLock(Store(repo), "a fetch"):
        code, out = run("repack", "--repo", str(repo))
    assert code == 5 and "a fetch" in out
    assert len(packs(repo)) == 3
