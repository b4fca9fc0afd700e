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
from test_fetch import LONG, SMALL, archive

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


def test_a_run_past_an_unusable_registry_file_does_not_count_it_as_fetched(
    api: StandIn, tmp_path: Path
) -> None:
    """The record's `*` is every file in registry/: an unusable one is named as failed,
    so status (and the history's dates) do not take that playlist as fetched; index.md
    keeps listing it."""
    repo = archive(tmp_path, SMALL, LONG)
    assert invoke("fetch", "--repo", str(repo))[0] == exitcodes.OK
    store = Store(repo)
    store.commit({layout.registry_path(SMALL): b"My alias\nstray second line\n"}, "alias")
    index = store.read(layout.INDEX)
    assert invoke("fetch", "--repo", str(repo))[0] == exitcodes.PARTIAL
    assert Store(repo).read(layout.INDEX) == index  # it stays listed, as it was shown
    code, out, _ = invoke("status", "--repo", str(repo))
    line = next(line for line in out.splitlines() if line.startswith(SMALL))  # still there
    assert "failing since" in line and "one line" in line, out
    store.commit({layout.registry_path(SMALL): b"My alias\n"}, "alias mended")
    code, out, _ = invoke("status", "--repo", str(repo))
    line = next(line for line in out.splitlines() if line.startswith(SMALL))
    assert "failing since" in line and "one line" in line, out


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
    from gitarchive.ops.shard import Shard

    repo = archive(tmp_path, SMALL)
    empty = next(f"{k}/3" for k in (1, 2, 3) if not Shard.parse(f"{k}/3").holds(SMALL))
    code, out, _ = invoke("fetch", "--repo", str(repo), "--shard", empty)
    assert code == exitcodes.OK
    assert "No playlists registered" not in out
    assert "None of the 1 registered playlist" in out


# ------------------------------------------------------------- odd inputs


@pytest.mark.parametrize(
    "args", [("show", SMALL, "--at", "9999-12-31"), ("diff", SMALL, "--to", "9999-12-31"),
             ("show", SMALL, "--at", "0001-01-01")],
)
def test_dates_at_the_ends_of_the_calendar(
    api: StandIn, tmp_path: Path, args: tuple[str, ...]
) -> None:
    repo = archive(tmp_path, SMALL)
    assert invoke("fetch", "--repo", str(repo))[0] == 0
    code, out, err = invoke(*args, "--repo", str(repo))
    assert "Traceback" not in out + err
    if args[-1].startswith("9999"):
        assert code == 0, err
    else:
        assert code == 1 and "no snapshot" in err


def test_add_with_a_directory_in_the_way_is_refused_cleanly(tmp_path: Path) -> None:
    repo = archive(tmp_path)
    blocker = repo / layout.registry_path(SMALL) / "leftover"
    blocker.mkdir(parents=True)
    code, out, err = invoke("add", SMALL, "--repo", str(repo))
    assert code == 1 and layout.registry_path(SMALL) in err and "nothing was written" in err
    store = Store(repo)
    assert store.head() is None or store.read(layout.registry_path(SMALL)) is None
    assert not (store.git_dir / "gitarchive" / "checkout-in-progress").exists()
    blocker.rmdir()
    blocker.parent.rmdir()
    assert invoke("add", SMALL, "--repo", str(repo))[0] == 0


def test_add_with_a_file_where_the_registry_folder_goes(tmp_path: Path) -> None:
    repo = archive(tmp_path)
    (repo / "playlists").mkdir()
    (repo / layout.REGISTRY).write_text("not a folder\n")
    code, _, err = invoke("add", SMALL, "--repo", str(repo))
    assert code == 1 and "nothing was written" in err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_log_file_that_cannot_be_written_does_not_lose_the_run(
    api: StandIn, tmp_path: Path
) -> None:
    repo = archive(tmp_path, SMALL)
    code, out, err = invoke("fetch", "--repo", str(repo), "--log-file", "/dev/full")
    assert code == exitcodes.OK, err
    assert "committed" in out
    assert "cannot write the log file /dev/full" in err and "Traceback" not in err
    assert err.count("cannot write the log file") == 1
    assert Store(repo).read(layout.pretty_json_path(SMALL)) is not None


@pytest.mark.parametrize("name", ["HEAD", "-x", "a..b", "refs/heads/HEAD"])
def test_views_branch_names_git_refuses_are_refused(tmp_path: Path, name: str) -> None:
    from history_support import History, at, json_files, pid, playlist, registry, track

    h = History(str(tmp_path / "repo.git"))
    files = {**registry(pid(1)), **json_files(playlist(pid(1), "A", [track(1)]))}
    h.commit(files, at("2024-01-01"))
    before = set(h.repo.references)
    code, _, err = invoke("rebuild", "--repo", str(h.store.git_dir), f"--views-branch={name}")
    assert code == 1 and "not a valid branch name" in err
    assert set(h.repo.references) == before


def test_names_with_line_breaks_and_html_are_normalised_and_escaped(
    api: StandIn, tmp_path: Path
) -> None:
    import copy

    from test_fetch import load_fixture_playlists

    data = copy.deepcopy(load_fixture_playlists()[SMALL])
    data["name"] = "Evil\nName\r<script>alert(1)</script>"
    data["description"] = "one\rtwo <img src=x onerror=alert(1)>"
    item = data["items"]["items"][0]["item"]
    item["name"] = "Line\u2028Break\rTrack"
    api.set_playlist(SMALL, data)
    repo = archive(tmp_path, SMALL)
    assert invoke("fetch", "--repo", str(repo))[0] == exitcodes.OK
    store = Store(repo)
    plain = store.read(layout.plain_path(SMALL)).decode()
    lines = plain.split("\n")
    assert lines[0] == "Evil Name <script>alert(1)</script>"
    assert len(plain.splitlines()) == 3 + len(data["items"]["items"])
    assert any(line.startswith("Line Break Track -- ") for line in lines)
    for path in (layout.pretty_md_path(SMALL), layout.cumulative_md_path(SMALL), layout.INDEX):
        text = store.read(path).decode()
        assert "<script" not in text and "<img" not in text, path
        assert "\r" not in text, path
    assert "&lt;script>" in store.read(layout.pretty_md_path(SMALL)).decode()
    message = store.head().message
    assert all("\r" not in line for line in message.splitlines())
    assert "- Evil Name <script>alert(1)</script> (" in message
    # the JSON keeps what Spotify sent, exactly
    import json

    snapshot = json.loads(store.read(layout.pretty_json_path(SMALL)))
    assert snapshot["original_name"] == data["name"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_export_to_a_full_device_is_a_clear_error(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    assert invoke("fetch", "--repo", str(repo))[0] == 0
    code, _, err = invoke("export", "--format", "json", "-o", "/dev/full", "--repo", str(repo))
    assert code == 1 and "cannot write /dev/full" in err


def test_sqlite_export_never_replaces_a_non_regular_file(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    assert invoke("fetch", "--repo", str(repo))[0] == 0
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, _, err = invoke("export", "--format", "sqlite", "-o", str(fifo), "--repo", str(repo))
    assert code == 2 and "not a regular file" in err
    assert fifo.is_fifo()


def test_init_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    code, _, err = invoke("init", str(tmp_path / "file" / "archive"))
    assert code == 1 and "cannot create an archive" in err and "Not a directory" in err


def test_an_unexpected_error_is_logged_with_its_details(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitarchive.ops import fetch as fetching

    repo = archive(tmp_path, SMALL)

    secret = os.environ["SPOTIFY_CLIENT_SECRET"]

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"simulated bug near {secret}")

    monkeypatch.setattr(fetching, "index_file", broken)
    log = tmp_path / "run.log"
    result = CliRunner().invoke(main, ["fetch", "--repo", str(repo), "--log-file", str(log)])
    assert result.exit_code != 0
    text = log.read_text()
    assert "this is a bug in gitarchive" in text
    assert "Traceback" in text and "RuntimeError: simulated bug" in text
    assert secret not in text  # the traceback is redacted like every record


def test_gitarchive_folder_replaced_by_a_file(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    folder = repo / ".git" / "gitarchive"
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    folder.write_text("not a folder\n")
    code, out, err = invoke("fetch", "--repo", str(repo))
    assert code == exitcodes.OK, err
    assert folder.is_dir() and "committed" in out
