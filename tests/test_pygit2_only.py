"""The product never runs the git program: every git operation goes through pygit2."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitarchive.cli import main
from gitarchive.spotify.fixtures import load_fixture_playlists
from gitarchive.spotify.standin import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, StandIn


def test_no_git_subprocess_in_a_day_of_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    programs: list[str] = []
    real_init = subprocess.Popen.__init__

    def spy(self, args, *rest, **kwargs):  # type: ignore[no-untyped-def]
        argv = [args] if isinstance(args, str | os.PathLike) else list(args)
        programs.append(os.path.basename(str(argv[0])))
        real_init(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", spy)
    repo = str(tmp_path / "archive")
    runner = CliRunner()
    with StandIn(load_fixture_playlists()) as api:
        monkeypatch.setenv("SPOTIFY_CLIENT_ID", DEMO_CLIENT_ID)
        monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", DEMO_CLIENT_SECRET)
        monkeypatch.setenv("SPOTIFY_API_BASE", api.api_base)
        monkeypatch.setenv("SPOTIFY_TOKEN_URL", api.token_url)
        for args in (
            ["init", repo],
            ["add", "3xQmR8vDemoSmallMix002", "5pKgT2nDemoLongMix0001", "--repo", repo],
            ["fetch", "--repo", repo],
            ["rebuild", "--full", "--repo", repo],
            ["show", "3xQmR8vDemoSmallMix002", "--repo", repo, "--format", "plain"],
            ["search", "song", "--repo", repo],
            ["log", "3xQmR8vDemoSmallMix002", "--repo", repo],
            ["hooks", "install", "--repo", repo],
            ["hooks", "uninstall", "--repo", repo],
        ):
            result = runner.invoke(main, args, catch_exceptions=False)
            assert result.exit_code == 0, (args, result.output)
    assert "git" not in programs, programs
    subprocess.run(["git", "--version"], capture_output=True, check=False)
    assert programs[-1] == "git"  # the spy does see a git subprocess when there is one
