"""Issue 13: one bad blob in history or a damaged derived cache never takes the archive down.

Real repositories built commit by commit (history_support), real CLI runs through
click's runner with exceptions propagating: a traceback fails the test.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from history_support import History, at, json_files, pid, playlist, registry, track

from gitarchive import hooks, layout
from gitarchive.cli import main
from gitarchive.standin import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, StandIn, api_playlist_from_model

A = pid(1)
B = pid(2)
DEEP = b"[" * 200_000


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def alpha(n: int = 2) -> object:
    return playlist(A, "Alpha", [track(i) for i in range(1, n + 1)])


def beta() -> object:
    return playlist(B, "Beta", [track(10), track(11)])


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """A stand-in serving A and B, with the client's environment pointed at it."""
    with StandIn({A: api_playlist_from_model(alpha(3)),
                  B: api_playlist_from_model(beta())}) as server:
        monkeypatch.setenv("SPOTIFY_CLIENT_ID", DEMO_CLIENT_ID)
        monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", DEMO_CLIENT_SECRET)
        monkeypatch.delenv("SPOTIFY_REFRESH_TOKEN", raising=False)
        monkeypatch.setenv("SPOTIFY_API_BASE", server.api_base)
        monkeypatch.setenv("SPOTIFY_TOKEN_URL", server.token_url)
        yield server


def deep_history(tmp_path: Path) -> History:
    """A, B fetched; then A's JSON snapshot replaced by 200,000 '[' once, then fixed."""
    h = History(str(tmp_path / "repo.git"))
    h.commit({**registry(A, B), **json_files(alpha()), **json_files(beta())}, at("2024-01-01"))
    h.commit({layout.pretty_json_path(A): DEEP}, at("2024-01-02"))
    h.commit(json_files(alpha(1)), at("2024-01-03"))
    return h


@pytest.mark.parametrize(
    "args",
    [
        ("rebuild",),
        ("rebuild", "--full"),
        ("show", A),
        ("show", A, "--at", "2024-01-02"),
        ("diff", A, "--from", "2024-01-01", "--to", "2024-01-03"),
        ("log", A),
        ("search", "Song"),
        ("export", "--format", "json"),
    ],
)
def test_deeply_nested_blob_in_history_breaks_no_command(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    h = deep_history(tmp_path)
    code, out = run(*args, "--repo", str(h.store.git_dir))
    assert "RecursionError" not in out
    assert code in (0, 1), out
    if args[0] in ("rebuild", "search", "export"):  # log/diff skipping: branch `real`
        assert code == 0, out


def test_deeply_nested_blob_in_history_fetch_commits(tmp_path: Path, api: StandIn) -> None:
    h = deep_history(tmp_path)
    code, out = run("fetch", "--repo", str(h.store.git_dir))
    assert code == 0, out
    assert "committed" in out


def test_check_and_pre_commit_refuse_a_deeply_nested_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problems = hooks.check_file(layout.pretty_json_path(A), DEEP)
    assert problems and "nested too deeply" in problems[0]
    target = tmp_path / layout.pretty_json_path(A)
    target.parent.mkdir(parents=True)
    target.write_bytes(DEEP)
    monkeypatch.chdir(tmp_path)
    code, out = run("check", layout.pretty_json_path(A))
    assert code == 1 and "nested too deeply" in out


def test_copy_of_fixture_kept_intact() -> None:
    """The deep document is refused by the safe parser without touching the recursion limit."""
    from gitarchive import safejson

    with pytest.raises(ValueError, match="nested too deeply"):
        safejson.loads(DEEP)
    assert safejson.loads(b'{"a": [1]}') == {"a": [1]}
    assert copy.deepcopy(os.sep) == os.sep
