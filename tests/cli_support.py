"""What CLI-level tests share: the recorded fixture playlists' IDs, and running commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gitarchive.cli import main
from gitarchive.spotify.standin import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, StandIn

GOLDEN = Path(__file__).resolve().parent / "golden"
OLD_1970 = "09D0CKBRWkBBoPn46V6YTO"  # "1970 (2)" in the goldens; has a follower count
KPOP = "37i9dQZF1DX5LEXW9eXA0n"  # an editorial playlist (404 to new apps since 2024-11-27)
SMALL = "3xQmR8vDemoSmallMix002"  # 12 tracks
LONG = "5pKgT2nDemoLongMix0001"


def run(*args: str) -> tuple[int, str]:
    """A gitarchive command in this process: (exit code, output)."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def new_archive(tmp_path: Path, *pids: str) -> Path:
    """``init`` an archive in ``tmp_path/archive`` and ``add`` these playlists."""
    repo = tmp_path / "archive"
    assert run("init", str(repo))[0] == 0
    assert run("add", *pids, "--repo", str(repo))[0] == 0
    return repo


def on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run a command with stdin, stdout and stderr on a pseudo-terminal: all it wrote."""
    import os
    import pty
    import subprocess

    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def point_client_at(monkeypatch: pytest.MonkeyPatch, server: StandIn) -> None:
    """The client's environment pointed at a stand-in: its app's credentials, no user."""
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", DEMO_CLIENT_ID)
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", DEMO_CLIENT_SECRET)
    monkeypatch.delenv("SPOTIFY_REFRESH_TOKEN", raising=False)
    monkeypatch.setenv("SPOTIFY_API_BASE", server.api_base)
    monkeypatch.setenv("SPOTIFY_TOKEN_URL", server.token_url)
