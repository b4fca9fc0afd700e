"""gitarchive status: stale and never-fetched playlists, from the archive alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_fetch import LONG, SMALL, api, archive  # noqa: F401 - fixture

from gitarchive import exitcodes, health
from gitarchive.cli import main
from gitarchive.standin import StandIn
from gitarchive.store import Store

NEW = "4newOwnedPlaylist00001"


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_stale_after_the_chosen_days_and_never_fetched_entries(
    api: StandIn, tmp_path: Path  # noqa: F811 - the fixture
) -> None:
    repo = archive(tmp_path, SMALL, LONG)
    assert run("fetch", "--repo", str(repo))[0] == 0  # committed 2026-03-01T06:00:00Z
    assert run("add", NEW, "--repo", str(repo))[0] == 0
    store = Store(repo)
    fetched = epoch("2026-03-01T06:00:00")
    fresh = health.report(store, fetched + 3 * health.DAY - 1)
    by_pid = {p.pid: p for p in fresh.playlists}
    assert by_pid[SMALL].last_fetched == fetched and not by_pid[SMALL].stale
    assert by_pid[NEW].never_fetched and fresh.problems == [by_pid[NEW]]
    assert fresh.last_run == fetched
    late = health.report(store, fetched + 3 * health.DAY)
    assert {p.pid for p in late.playlists if p.stale} == {SMALL, LONG}
    assert not health.report(store, fetched + 3 * health.DAY, stale_days=4).playlists[0].stale


def test_status_exit_code_tells_cron(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811 - the fixture
) -> None:
    repo = archive(tmp_path, SMALL, LONG)
    assert run("fetch", "--repo", str(repo))[0] == 0  # in March: long ago
    code, out = run("status", "--repo", str(repo))
    assert code == exitcodes.STALE
    assert "2026-03-01" in out and "stale:" in out and "0 fresh, 2 stale" in out
    monkeypatch.delenv("GIT_COMMITTER_DATE")  # a run today
    api.set_playlist(SMALL, {**api._playlists[SMALL]["meta"], "name": "today",
                             "items": {"items": api._playlists[SMALL]["entries"]}})
    assert run("fetch", "--repo", str(repo))[0] == 0
    code, out = run("status", "--repo", str(repo))
    assert code == exitcodes.OK, out
    assert "2 fresh, 0 stale" in out and "0 never fetched" in out
    assert run("add", NEW, "--repo", str(repo))[0] == 0
    code, out = run("status", "--repo", str(repo))
    assert code == exitcodes.STALE and "never fetched" in out and NEW in out


def test_status_of_an_empty_archive(tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    assert run("init", str(repo))[0] == 0
    code, out = run("status", "--repo", str(repo))
    assert code == 0 and "No playlists registered" in out
