"""Real archives' quirks beyond issue 9's, each through the commands a user runs.

Plain files saved on Windows (CRLF, a byte order mark), a switch from plain files to
JSON seen by ``log`` and ``diff``, a submodule entry where a snapshot was, shallow and
partial clones (questions say so; no command writes views replayed from a cut
history), and following an archive from a linked worktree or a shallow clone.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pygit2
import pytest
from cli_support import point_client_at
from click.testing import CliRunner, Result
from history_support import History, at, json_files, pid, plain_files, playlist, registry, track

from gitarchive.archive import layout, render
from gitarchive.cli import main
from gitarchive.spotify.apijson import api_playlist_from_model
from gitarchive.spotify.standin import StandIn

A = pid(1)


def snap(*numbers: int, name: str = "Alpha"):  # type: ignore[no-untyped-def]
    return playlist(A, name, [track(n) for n in numbers])


def cli(repo: str | Path, *args: str) -> Result:
    """A command as a user runs it; an exception (a traceback) fails the test."""
    return CliRunner().invoke(main, [*args, "--repo", str(repo)], catch_exceptions=False)


def cumulative(repo: str | Path) -> dict[str, tuple[str, str | None]]:
    """(date_added, date_removed) of each track of A's cumulative view at HEAD."""
    commit = pygit2.Repository(str(repo)).revparse_single("HEAD").peel(pygit2.Commit)
    data = commit.tree[layout.cumulative_json_path(A)].data
    return {t["name"]: (t["date_added"], t["date_removed"]) for t in json.loads(data)["tracks"]}


def git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """A stand-in serving A (tracks 3 to 6), the client's environment pointed at it."""
    with StandIn({A: api_playlist_from_model(snap(3, 4, 5, 6))}) as server:
        point_client_at(monkeypatch, server)
        yield server


# ------------------------------------------------------- plain files from Windows

WINDOWS: dict[str, Callable[[bytes], bytes]] = {
    "crlf": lambda data: data.replace(b"\n", b"\r\n"),  # committed without core.autocrlf
    "bom": lambda data: b"\xef\xbb\xbf" + data,  # an editor's UTF-8 byte order mark
    "both": lambda data: b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"),
    "spaces": lambda data: data.replace(b"\n\n\n", b"\n\n \n", 1),  # a blank line of spaces
}


@pytest.mark.parametrize("saved", WINDOWS)
def test_plain_files_saved_on_windows_read_as_any_other(tmp_path: Path, saved: str) -> None:
    edit = WINDOWS[saved]
    h = History(str(tmp_path / "repo.git"))
    for day, numbers in (("2021-03-01", (1, 2)), ("2021-03-02", (1, 2, 3)),
                         ("2021-03-03", (2, 3))):
        h.commit({**registry(A), layout.plain_path(A): edit(render.plain(snap(*numbers)).encode())},
                 at(day))
    rebuilt = cli(h.store.git_dir, "rebuild")
    assert rebuilt.exit_code == 0 and "unreadable" not in rebuilt.output, rebuilt.output
    assert cumulative(h.store.git_dir) == {
        "Song 1": ("2021-03-01", "2021-03-03"), "Song 2": ("2021-03-01", None),
        "Song 3": ("2021-03-02", None)}
    log = cli(h.store.git_dir, "log", A)
    assert log.output.splitlines() == [
        "2021-03-01  +2 −0  first snapshot  name: 'Alpha'", "2021-03-02  +1 −0",
        "2021-03-03  +0 −1"]
    shown = cli(h.store.git_dir, "show", A, "--at", "2021-03-02", "--format", "plain")
    assert shown.exit_code == 0 and shown.output.startswith("Alpha\n"), shown.output
    assert "\r" not in shown.output
    status = cli(h.store.git_dir, "status")
    assert f"{A}  Alpha  last fetched 2021-03-03" in status.output


def test_a_registry_alias_saved_with_a_byte_order_mark_is_the_alias(tmp_path: Path) -> None:
    """An alias typed in Notepad: its byte order mark would be part of every name shown."""
    entry = layout.RegistryEntry.from_bytes(A, b"\xef\xbb\xbfMy mix\r\n")
    assert entry.alias == "My mix"


# ------------------------------------------------------- plain files, then JSON


def test_log_and_diff_see_no_change_in_a_change_of_format(tmp_path: Path) -> None:
    """The replay continues a plain line with its JSON track; log and diff do too."""
    h = History(str(tmp_path / "repo.git"))
    h.commit({**registry(A), **plain_files(snap(1, 2))}, at("2021-12-30"))
    h.commit(plain_files(snap(1, 2, 3)), at("2021-12-31"))
    h.commit(json_files(snap(2, 3, 4)), at("2022-01-01"))  # the archiver's new format
    h.commit(json_files(snap(3, 4)), at("2022-01-02"))
    repo = h.store.git_dir
    assert cli(repo, "log", A).output.splitlines() == [
        "2021-12-30  +2 −0  first snapshot  name: 'Alpha'", "2021-12-31  +1 −0",
        "2022-01-01  +1 −1", "2022-01-02  +0 −1"]
    diff = cli(repo, "diff", A, "--from", "2021-12-31", "--to", "2022-01-02")
    assert diff.exit_code == 0, diff.output
    assert "+1 −2" in diff.output
    added = diff.output.split("Added:")[1].split("Removed:")[0]
    removed = diff.output.split("Removed:")[1]
    assert "Song 4" in added and "2022-01-01" in added and "Song 2" not in added
    assert "Song 1" in removed and "Song 2" in removed and "Song 3" not in removed
    assert "2022-01-01  Song 1" in removed and "2022-01-02  Song 2" in removed
    assert "2022-01-01  Song 2" not in removed  # went with the JSON, not with the format


# ------------------------------------------------------- odd tree entries


def test_a_submodule_entry_at_a_snapshot_path_is_skipped_by_every_question(
    tmp_path: Path,
) -> None:
    """A gitlink (its commit is in no repository here) where the JSON snapshot was:
    unreadable, as the replay counts it, and every question goes on."""
    h = History(str(tmp_path / "repo.git"))
    h.commit({**registry(A), **json_files(snap(1, 2))}, at("2023-01-01"))
    tip = h.tip()
    assert tip is not None
    index = pygit2.Index()
    index.read_tree(h.repo[tip].peel(pygit2.Commit).tree)
    index.add(pygit2.IndexEntry(layout.pretty_json_path(A), pygit2.Oid(hex="1" * 40),
                                pygit2.enums.FileMode.COMMIT))
    sig = pygit2.Signature("t", "t@example.com", at("2023-01-02"), 0)
    oid = h.repo.create_commit(None, sig, sig, "gitlink", index.write_tree(h.repo), [tip])
    h.repo.references.create("refs/heads/main", oid, force=True)
    h.commit(json_files(snap(2, 3)), at("2023-01-03"))
    repo = h.store.git_dir
    log = cli(repo, "log", A)
    assert log.exit_code == 0
    assert log.output.splitlines() == ["2023-01-01  +2 −0  first snapshot  name: 'Alpha'",
                                       "2023-01-03  +1 −1"]
    shown = cli(repo, "show", A, "--at", "2023-01-02", "--format", "plain")
    assert shown.exit_code == 0 and "Song 1" in shown.output  # the newest readable version
    assert cli(repo, "diff", A, "--from", "2023-01-02", "--to", "2023-01-03").exit_code == 0
    assert cli(repo, "publish", A, "--at", "2023-01-02", "--dry-run").exit_code == 0


# ------------------------------------------------------- shallow and partial clones


def full_archive(tmp_path: Path) -> History:
    """A's history over five days, its cumulative views built (bare)."""
    h = History(str(tmp_path / "source.git"))
    for n, day in enumerate(("2023-01-01", "2023-01-02", "2023-01-03", "2023-01-04")):
        h.commit({**registry(A), **json_files(snap(3, 1 + n, 2 + n))}, at(day))
    assert cli(h.store.git_dir, "rebuild").exit_code == 0
    return h


FULL = {"Song 1": ("2023-01-01", "2023-01-02"), "Song 2": ("2023-01-01", "2023-01-03"),
        "Song 3": ("2023-01-01", None), "Song 4": ("2023-01-03", None),
        "Song 5": ("2023-01-04", None)}


def test_a_shallow_clone_keeps_its_views_and_says_its_history_is_cut(
    tmp_path: Path, api: StandIn
) -> None:
    """GitHub Actions checks out one commit unless told otherwise: a fetch there commits
    its snapshots but never views replayed from that one commit (every date would be
    the cut's, the removed tracks gone); rebuild refuses; the questions say so."""
    h = full_archive(tmp_path)
    assert cumulative(h.store.git_dir) == FULL
    clone = tmp_path / "clone"
    git("clone", "-q", "--depth", "1", f"file://{h.store.git_dir}", str(clone))
    fetched = cli(clone, "fetch")
    assert fetched.exit_code == 0, fetched.output
    assert "warning: this repository is a shallow clone" in fetched.output
    assert "fetch-depth: 0" in fetched.output
    assert cumulative(clone) == FULL  # left as the whole history made them
    head = pygit2.Repository(str(clone)).head.peel(pygit2.Commit)
    assert head.commit_time > at("2023-01-04")  # the snapshots were committed
    rebuilt = cli(clone, "rebuild", "--full")
    assert rebuilt.exit_code == 1 and "shallow clone" in rebuilt.output
    assert "git fetch --unshallow" in rebuilt.output
    assert pygit2.Repository(str(clone)).head.target == head.id
    log = cli(clone, "log", A)
    assert log.exit_code == 0 and "note: this repository is a shallow clone" in log.output
    built = cli(clone, "site", str(tmp_path / "site"), "--quiet")
    assert built.exit_code == 0 and "note: this repository is a shallow clone" in built.output
    git("fetch", "-q", "--unshallow", cwd=clone)
    assert cli(clone, "rebuild").exit_code == 0
    assert cumulative(clone)["Song 3"] == ("2023-01-01", None)
    assert "shallow" not in cli(clone, "log", A).output


def test_a_partial_clone_is_a_cut_history_too(tmp_path: Path) -> None:
    h = full_archive(tmp_path)
    git("config", "uploadpack.allowFilter", "true", cwd=h.store.git_dir)
    clone = tmp_path / "clone"
    git("clone", "-q", "--filter=blob:none", f"file://{h.store.git_dir}", str(clone))
    rebuilt = cli(clone, "rebuild")
    assert rebuilt.exit_code == 1 and "partial clone" in rebuilt.output
    assert cumulative(clone) == FULL
    log = cli(clone, "log", A)  # its old blobs are missing: skipped, never a traceback
    assert log.exit_code == 0 and "note: this repository is a partial clone" in log.output
    early = cli(clone, "show", A, "--at", "2023-01-01")
    assert early.exit_code == 1 and "not in this repository" in early.output


# ------------------------------------------------------- following odd sources


def test_follow_from_a_linked_worktree(tmp_path: Path) -> None:
    h = full_archive(tmp_path)
    main_checkout = tmp_path / "checkout"
    git("clone", "-q", str(h.store.git_dir), str(main_checkout))
    git("worktree", "add", "-q", "-b", "side", str(tmp_path / "linked"), cwd=main_checkout)
    follower = tmp_path / "follower"
    assert CliRunner().invoke(main, ["init", str(follower)]).exit_code == 0
    followed = cli(follower, "follow", str(tmp_path / "linked"), "--playlist", A)
    assert followed.exit_code == 0, followed.output
    assert cumulative(follower) == FULL


def test_follow_refuses_a_shallow_source_with_one_line(tmp_path: Path) -> None:
    h = full_archive(tmp_path)
    clone = tmp_path / "clone"
    git("clone", "-q", "--depth", "2", f"file://{h.store.git_dir}", str(clone))
    follower = tmp_path / "follower"
    assert CliRunner().invoke(main, ["init", str(follower)]).exit_code == 0
    followed = cli(follower, "follow", str(clone), "--playlist", A)
    assert followed.exit_code == 1
    assert "is a shallow clone" in followed.output and "cannot write" not in followed.output
    assert len(followed.output.strip().splitlines()) == 1


# ------------------------------------------------------- where the files are


def test_a_checkout_whose_git_dir_is_elsewhere_writes_its_own_files(
    tmp_path: Path, api: StandIn
) -> None:
    """``git clone --separate-git-dir``: the checkout's .git is a file naming the git
    directory; its files are in the checkout, not beside that directory."""
    h = full_archive(tmp_path)
    checkout = tmp_path / "checkout"
    git("clone", "-q", "--separate-git-dir", str(tmp_path / "elsewhere.git"),
        str(h.store.git_dir), str(checkout))
    fetched = cli(checkout, "fetch")
    assert fetched.exit_code == 0, fetched.output
    head = pygit2.Repository(str(checkout)).head.peel(pygit2.Commit)
    plain = layout.plain_path(A)
    assert (checkout / plain).read_bytes() == head.tree[plain].data
    assert b"Song 6" in head.tree[plain].data
    assert not (tmp_path / "playlists").exists()  # beside the git directory: nothing


# ------------------------------------------------------- a clock that was reset


def test_a_run_by_a_reset_clock_is_dated_as_the_run_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A board without a real-time clock, run at boot before its clock was set, commits
    at 1970: dated so, its snapshot came before every other (the newest shown as the
    oldest, its new tracks added in 1970). It is dated as its parent, in a daily
    (incremental) rebuild and a whole one alike."""
    h = History(str(tmp_path / "repo.git"))
    repo = h.store.git_dir

    def rebuild(day: str, *full: str) -> None:  # its views commit made that evening
        monkeypatch.setenv("GIT_COMMITTER_DATE", f"{day}T20:00:00Z")
        assert cli(repo, "rebuild", *full).exit_code == 0

    h.commit({**registry(A), **json_files(snap(1, 2))}, at("2023-01-01"))
    h.commit(json_files(snap(1, 2, 3)), at("2023-01-02"))
    rebuild("2023-01-02")
    h.commit(json_files(snap(2, 3, 4)), 3600)  # 1970-01-01 01:00
    rebuild("2023-01-03")
    shown = cli(repo, "show", A, "--format", "plain")
    assert "Song 4" in shown.output and "Song 1" not in shown.output  # HEAD's snapshot
    assert cli(repo, "log", A).output.splitlines() == [
        "2023-01-01  +2 −0  first snapshot  name: 'Alpha'", "2023-01-02  +1 −0",
        "2023-01-02  +1 −1"]
    h.commit(json_files(snap(2, 3, 4, 5)), at("2023-01-04"))
    rebuild("2023-01-04")
    daily = cumulative(repo)
    assert daily == {"Song 1": ("2023-01-01", "2023-01-02"), "Song 2": ("2023-01-01", None),
                     "Song 3": ("2023-01-02", None), "Song 4": ("2023-01-02", None),
                     "Song 5": ("2023-01-04", None)}
    rebuild("2023-01-04", "--full")
    assert cumulative(repo) == daily
