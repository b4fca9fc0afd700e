"""The ``rebuild`` command through click's runner."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from history_support import History, at, json_files, pid, playlist, track

from gitarchive.archive import layout
from gitarchive.cli import main

A = pid(1)


def make(tmp_path: Path) -> History:
    h = History(str(tmp_path / "repo"), bare=False)
    h.commit(json_files(playlist(A, "Alpha", [track(1), track(2)])), at("2024-01-01"))
    h.commit(json_files(playlist(A, "Alpha", [track(1)])), at("2024-01-02"))
    return h


def test_rebuild_commits_once_then_nothing(tmp_path: Path) -> None:
    h = make(tmp_path)
    repo = str(tmp_path / "repo")
    result = CliRunner().invoke(main, ["rebuild", "--repo", repo])
    assert result.exit_code == 0, result.output
    assert "Committed 2 file(s)" in result.output
    assert h.store.read(layout.cumulative_json_path(A)) is not None
    assert (tmp_path / "repo" / layout.cumulative_md_path(A)).exists()  # worktree updated
    again = CliRunner().invoke(main, ["rebuild", "--repo", repo])
    assert again.exit_code == 0 and "up to date" in again.output
    quiet = CliRunner().invoke(main, ["rebuild", "--repo", repo, "--quiet", "--full"])
    assert quiet.exit_code == 0 and quiet.output == ""


def test_rebuild_only_accepts_urls_and_views_branch(tmp_path: Path) -> None:
    h = make(tmp_path)
    url = f"https://open.spotify.com/playlist/{A}?si=x"
    result = CliRunner().invoke(
        main, ["rebuild", "--repo", str(tmp_path / "repo"), "--only", url, "--views-branch", "v"]
    )
    assert result.exit_code == 0, result.output
    assert "Published 2 changed file(s) to branch v" in result.output
    assert h.repo.references.get("refs/heads/v") is not None


def test_user_errors_are_sentences(tmp_path: Path) -> None:
    make(tmp_path)
    repo = str(tmp_path / "repo")
    runner = CliRunner()
    bad_tz = runner.invoke(main, ["rebuild", "--repo", repo, "--timezone", "Nowhere/City"])
    assert bad_tz.exit_code == 2 and "unknown time zone 'Nowhere/City'" in bad_tz.output
    unknown = runner.invoke(main, ["rebuild", "--repo", repo, "--only", pid(9)])
    assert unknown.exit_code == 1 and "no snapshot of" in unknown.output
    bad_ref = runner.invoke(main, ["rebuild", "--repo", repo, "--only", "nope"])
    assert bad_ref.exit_code == 2 and "is not a Spotify playlist" in bad_ref.output
    not_repo = runner.invoke(main, ["rebuild", "--repo", str(tmp_path / "empty")])
    assert not_repo.exit_code == 1 and "not inside a git repository" in not_repo.output
    for result in (bad_tz, unknown, bad_ref, not_repo):
        assert "Traceback" not in result.output


def test_help_describes_the_command() -> None:
    result = CliRunner().invoke(main, ["rebuild", "--help"])
    assert result.exit_code == 0
    assert "Rebuild the cumulative views" in result.output
    for option in ("--only", "--full", "--timezone", "--views-branch", "--quiet", "--repo"):
        assert option in result.output


def test_a_rebuild_that_changes_only_charts_says_so(tmp_path: Path) -> None:
    """A new follower count changes the followers chart and no view: the commit and the
    output name the charts and feeds it wrote, not "0 files" alone."""
    h = make(tmp_path)
    repo = str(tmp_path / "repo")
    assert CliRunner().invoke(main, ["rebuild", "--repo", repo]).exit_code == 0
    followers = b'{"2024-01-01": 10, "2024-01-02": 12}\n'
    h.commit({layout.followers_path(A): followers}, at("2024-01-03"))
    result = CliRunner().invoke(main, ["rebuild", "--repo", repo, "--full"])
    assert result.exit_code == 0, result.output
    assert "Committed 0 file(s) and 1 chart/feed file(s)" in result.output
    head = h.store.head()
    assert head is not None
    subject = head.message.splitlines()[0]
    assert subject == "Rebuild cumulative views (0 files, 1 chart and feed file)"
