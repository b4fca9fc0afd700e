"""Git hooks: install/uninstall/status with chaining, and each hook under real `git` commands."""

# ruff: noqa: F811 - the `api` fixture is imported from test_fetch and requested by name

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pygit2
import pytest
from click.testing import CliRunner
from test_fetch import SMALL, archive

from gitarchive.archive import layout
from gitarchive.cli import main
from gitarchive.git.store import Store
from gitarchive.ops import hooks
from gitarchive.spotify.standin import StandIn

TOP = Path(__file__).resolve().parents[2]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def git(repo: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    env.pop(hooks.GUARD, None)
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=False, env=env, input=stdin)


def snapshot_dir(directory: Path) -> dict[str, tuple[bytes, int]]:
    if not directory.exists():
        return {}
    return {p.name: (p.read_bytes(), p.stat().st_mode) for p in directory.iterdir()}


@pytest.mark.parametrize("hooks_path", [None, "custom-hooks", "ABS"])
def test_install_twice_changes_nothing_and_uninstall_restores_exactly(
    tmp_path: Path, hooks_path: str | None
) -> None:
    repo = archive(tmp_path)
    if hooks_path == "ABS":
        hooks_path = str(tmp_path / "shared-hooks")
    if hooks_path is not None:
        pygit2.Repository(str(repo)).config["core.hooksPath"] = hooks_path
    directory = hooks.hooks_dir(Store(repo))
    expected_dir = (repo / ".git" / "hooks") if hooks_path is None else (
        Path(hooks_path) if Path(hooks_path).is_absolute() else repo / hooks_path)
    assert directory == expected_dir
    directory.mkdir(exist_ok=True)
    mine = directory / "post-commit"
    mine.write_text("#!/bin/sh\necho mine >> \"$(git rev-parse --git-dir)/mine.log\"\n")
    mine.chmod(0o750)
    before = snapshot_dir(directory)
    code, out = invoke("hooks", "install", "--repo", str(repo))
    assert code == 0 and "post-commit: installed; your hook is kept" in out
    once = snapshot_dir(directory)
    assert invoke("hooks", "install", "--repo", str(repo))[0] == 0
    assert snapshot_dir(directory) == once
    code, out = invoke("hooks", "status", "--repo", str(repo))
    assert "post-commit: installed (runs your earlier hook" in out
    assert "pre-commit: installed" in out
    assert invoke("hooks", "uninstall", "--repo", str(repo))[0] == 0
    assert snapshot_dir(directory) == before
    assert "not installed" in invoke("hooks", "status", "--repo", str(repo))[1]


def test_uninstall_removes_a_hooks_directory_it_created(tmp_path: Path) -> None:
    repo = archive(tmp_path)
    pygit2.Repository(str(repo)).config["core.hooksPath"] = "new-hooks"
    invoke("hooks", "install", "pre-commit", "--repo", str(repo))
    assert (repo / "new-hooks" / "pre-commit").exists()
    invoke("hooks", "uninstall", "--repo", str(repo))
    assert not (repo / "new-hooks").exists()


def test_pre_commit_refuses_bad_entries_and_snapshots_naming_them(tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    invoke("hooks", "install", "pre-commit", "--repo", str(repo))
    registry = repo / layout.REGISTRY
    (registry / "not-a-playlist").write_text("")
    git(repo, "add", layout.registry_path("not-a-playlist"))
    done = git(repo, "commit", "-m", "bad")
    assert done.returncode != 0
    assert f"{layout.registry_path('not-a-playlist')}: 'not-a-playlist' is not a playlist ID" \
        in done.stderr
    git(repo, "rm", "-q", "--cached", layout.registry_path("not-a-playlist"))
    (registry / "not-a-playlist").unlink()
    (registry / SMALL).write_text("one line\nand another\n")  # a malformed alias
    (repo / layout.PRETTY).mkdir(parents=True, exist_ok=True)
    (repo / layout.pretty_json_path(SMALL)).write_text("{ not json")
    done = git(repo, "commit", "-a", "-m", "bad")  # -a: git stages into a temporary index
    assert done.returncode != 0
    assert layout.registry_path(SMALL) in done.stderr and "one line" in done.stderr
    git(repo, "add", layout.pretty_json_path(SMALL))
    done = git(repo, "commit", "-m", "bad")
    assert layout.pretty_json_path(SMALL) in done.stderr and "not a readable snapshot" \
        in done.stderr
    git(repo, "reset", "-q", "--hard")
    (repo / "README.md").write_text("notes\n")
    git(repo, "add", "README.md")
    assert git(repo, "commit", "-m", "fine").returncode == 0


def test_check_command_for_the_pre_commit_framework(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    repo = archive(tmp_path)
    bad = repo / layout.registry_path("x" * 22 + "!")
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("")
    good = repo / layout.registry_path(SMALL)
    good.write_text("My mix\n")
    monkeypatch.chdir(repo)
    code, out = invoke("check", layout.registry_path(SMALL))
    assert code == 0 and out == ""
    code, out = invoke("check", layout.registry_path(SMALL), str(bad))
    assert code == 1 and "is not a playlist ID" in out and bad.name in out
    config = (TOP / ".pre-commit-hooks.yaml").read_text()
    assert "entry: gitarchive check" in config and "language: python" in config


def test_post_commit_updates_views_once_without_recursing(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    assert invoke("fetch", "--repo", str(repo), "--no-cumulative")[0] == 0
    assert Store(repo).read(layout.cumulative_json_path(SMALL)) is None
    invoke("hooks", "install", "--repo", str(repo))
    (repo / "README.md").write_text("my archive\n")
    git(repo, "add", "README.md")
    done = git(repo, "commit", "-m", "readme")
    assert done.returncode == 0, done.stderr
    assert "updated 2 cumulative file(s)" in done.stderr + done.stdout
    messages = [c.message for c in pygit2.Repository(str(repo)).walk(
        pygit2.Repository(str(repo)).head.target)]
    assert messages[0].startswith("Rebuild cumulative views") and messages[1] == "readme\n"
    assert Store(repo).read(layout.cumulative_json_path(SMALL)) is not None
    assert git(repo, "status", "--porcelain").stdout == ""
    # Inside a hook (the guard set), a commit changes nothing more.
    (repo / "README.md").write_text("again\n")
    git(repo, "commit", "-qam", "again")
    count = len(git(repo, "log", "--oneline").stdout.splitlines())
    env_guarded = os.environ | {hooks.GUARD: "1"}
    (repo / "README.md").write_text("guarded\n")
    subprocess.run(["git", "-C", str(repo), "commit", "-qam", "guarded"], env=env_guarded
                   | {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                      "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}, check=True)
    assert len(git(repo, "log", "--oneline").stdout.splitlines()) == count + 1


def test_post_merge_and_post_rewrite_bring_views_up_to_date(api: StandIn, tmp_path: Path
                                                           ) -> None:
    repo = archive(tmp_path, SMALL)
    remote = tmp_path / "remote.git"
    pygit2.init_repository(str(remote), bare=True, initial_head="main")
    assert git(repo, "push", "-q", str(remote), "main").returncode == 0
    clone = tmp_path / "clone"
    assert subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=False
                          ).returncode == 0
    invoke("hooks", "install", "post-merge", "post-rewrite", "--repo", str(clone))
    invoke("fetch", "--repo", str(repo), "--no-cumulative")
    git(repo, "push", "-q", str(remote), "main")
    done = git(clone, "pull", "-q", "--ff-only", "origin", "main")
    assert done.returncode == 0, done.stderr
    assert Store(clone).read(layout.cumulative_json_path(SMALL)) is not None
    views_before = Store(clone).read(layout.cumulative_json_path(SMALL)) or b""
    assert b"Amended name" not in views_before
    # Amend the last commit with a renamed snapshot: the views must follow the rewrite.
    snapshot = clone / layout.pretty_json_path(SMALL)
    data = json.loads(snapshot.read_text())
    data["original_name"] = data["unique_name"] = "Amended name"
    snapshot.write_text(json.dumps(data, indent=2) + "\n")
    done = git(clone, "commit", "--amend", "-q", "-a", "-m", "amended")
    assert done.returncode == 0, done.stderr
    messages = git(clone, "log", "-2", "--format=%s").stdout.splitlines()
    # A rename redraws the tenure and churn charts and both feeds; the followers chart
    # holds no name, and its counts did not change.
    assert messages == ["Rebuild cumulative views (2 files, 4 chart and feed files)", "amended"]
    views = Store(clone).read(layout.cumulative_json_path(SMALL)) or b""
    assert json.loads(views)["name"] == "Amended name"
    assert b"Amended name" in (Store(clone).read(layout.cumulative_md_path(SMALL)) or b"")
    assert git(clone, "status", "--porcelain").stdout == ""


def test_post_receive_rebuilds_on_the_server_after_a_push(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    invoke("fetch", "--repo", str(repo), "--no-cumulative")
    server = tmp_path / "server.git"
    pygit2.init_repository(str(server), bare=True, initial_head="main")
    code, out = invoke("hooks", "install", "post-receive", "--repo", str(server))
    assert code == 0, out
    done = git(repo, "push", str(server), "main")
    assert done.returncode == 0, done.stderr
    assert "updated 2 cumulative file(s)" in done.stderr
    assert Store(server).read(layout.cumulative_md_path(SMALL)) is not None


def test_hook_scripts_ship_as_package_data() -> None:
    pyproject = (TOP / "pyproject.toml").read_text()
    assert '"gitarchive.hookscripts" = "hooks"' in pyproject
    for name in hooks.HOOKS:
        source = (TOP / "hooks" / name)
        assert os.access(source, os.X_OK) and name in pyproject
        assert hooks.script_source(name) == source.read_text()
        assert f"hooks run {name}" in source.read_text()
