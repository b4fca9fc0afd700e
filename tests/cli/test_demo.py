"""gitarchive demo: a real archive with one commit per simulated day, built offline."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner

from gitarchive.archive import layout
from gitarchive.cli import main
from gitarchive.git.store import Store


def test_demo_writes_days_of_history_through_the_real_fetch_path(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", str(target), "--days", "4"])
    assert result.exit_code == 0, result.output
    assert "Day 4 (2026-03-04): Fetched 4 of 4 playlists" in result.output
    log = subprocess.run(
        ["git", "-C", str(target), "log", "--format=%cs %s"], capture_output=True, text=True,
        check=True,
    ).stdout.splitlines()
    assert [line[:10] for line in log] == [
        "2026-03-04", "2026-03-03", "2026-03-02", "2026-03-01", "2026-03-01",
    ]
    assert log[-1].endswith("Register 09D0CKBRWkBBoPn46V6YTO, 37i9dQZF1DX5LEXW9eXA0n, "
                            "3xQmR8vDemoSmallMix002, 5pKgT2nDemoLongMix0001")
    store = Store(target)
    renamed = json.loads(store.read(layout.pretty_json_path("3xQmR8vDemoSmallMix002")) or b"")
    assert renamed["unique_name"].endswith("(renamed)")
    cumulative = json.loads(
        store.read(layout.cumulative_json_path("3xQmR8vDemoSmallMix002")) or b""
    )
    assert cumulative["date_first_scraped"] == "2026-03-01"
    assert any(t["date_removed"] for t in cumulative["tracks"]) or any(
        t["first_seen"] > "2026-03-01" for t in cumulative["tracks"]
    )
    status = subprocess.run(
        ["git", "-C", str(target), "status", "--porcelain"], capture_output=True, text=True
    )
    assert status.stdout == ""  # the site is written beside, ignored by git
    site = target / "site" / "index.html"
    assert site.exists() and site.resolve().as_uri() in result.output
    # fetch committed the charts and feeds with the cumulative views.
    charts = store.list_dir("playlists/charts")
    assert len(charts) == 3 * 4 and "3xQmR8vDemoSmallMix002-tenure.svg" in charts
    assert "archive.xml" in store.list_dir("playlists/feeds")
    subprocess.run(["git", "-C", str(target), "fsck", "--strict"], check=True, capture_output=True)


def test_demo_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = CliRunner().invoke(main, ["demo", str(tmp_path)])
    assert result.exit_code == 1 and "not empty" in result.output
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_demo_daily_runs_leave_nothing_for_a_full_rebuild(tmp_path: Path) -> None:
    """The demo's daily fetches commit what a full rebuild draws, followers charts too:
    on days when a playlist's count moved (or repeated) while its snapshot did not."""
    target = tmp_path / "demo"
    assert CliRunner().invoke(main, ["demo", str(target), "--days", "7"]).exit_code == 0
    head = Store(target).repo.head.target
    result = CliRunner().invoke(main, ["rebuild", "--full", "--repo", str(target)])
    assert result.exit_code == 0, result.output
    assert "nothing committed" in result.output
    assert Store(target).repo.head.target == head


def test_demo_suggestions_run_as_pasted(tmp_path: Path) -> None:
    """Each "Try:" line works pasted into a shell, also for a directory with a space."""
    import sys

    target = tmp_path / "my demo"
    result = CliRunner().invoke(main, ["demo", str(target), "--days", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    lines = result.output.split("Try:\n", 1)[1].splitlines()
    opener, *commands = [line.strip() for line in lines if line.strip()]
    assert opener.split()[0] == ("open" if sys.platform == "darwin" else "xdg-open")
    for command in commands:
        ran = subprocess.run(command, shell=True, capture_output=True, text=True)
        assert ran.returncode == 0, (command, ran.stderr)
