"""Issue 13: one bad blob in history or a damaged derived cache never takes the archive down.

Real repositories built commit by commit (history_support), real CLI runs through
click's runner with exceptions propagating: a traceback fails the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import point_client_at
from click.testing import CliRunner
from history_support import History, at, json_files, pid, playlist, registry, track

from gitarchive.archive import layout
from gitarchive.cli import main
from gitarchive.ops import hooks
from gitarchive.spotify.apijson import api_playlist_from_model
from gitarchive.spotify.standin import StandIn

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
        point_client_at(monkeypatch, server)
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
    assert code == 0, out  # every reader skips the unreadable blob, like rebuild


@pytest.mark.parametrize(
    "args", [("log", A), ("diff", A, "--from", "2024-01-01", "--to", "2024-01-03")]
)
def test_log_and_diff_skip_the_deep_blob_like_rebuild(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    h = deep_history(tmp_path)
    code, out = run(*args, "--repo", str(h.store.git_dir))
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


def test_pre_commit_hook_refuses_a_deeply_nested_snapshot(tmp_path: Path) -> None:
    """Through real git: the installed hook runs `gitarchive hooks run pre-commit`."""
    import subprocess

    repo = tmp_path / "archive"
    assert run("init", str(repo))[0] == 0
    assert run("add", A, "--repo", str(repo))[0] == 0
    assert run("hooks", "install", "pre-commit", "--repo", str(repo))[0] == 0
    target = repo / layout.pretty_json_path(A)
    target.parent.mkdir(parents=True)
    target.write_bytes(DEEP)
    env = {k: v for k, v in os.environ.items() if k != hooks.GUARD}
    git = ["git", "-C", str(repo)]
    subprocess.run([*git, "add", layout.pretty_json_path(A)], check=True, env=env)
    done = subprocess.run([*git, "commit", "-m", "deep"], capture_output=True, text=True,
                          env=env, check=False)
    assert done.returncode != 0
    assert layout.pretty_json_path(A) in done.stderr and "nested too deeply" in done.stderr
    assert "Traceback" not in done.stderr


def test_safejson_refuses_depth_and_reads_the_rest() -> None:
    """The deep document is a ValueError; the recursion limit is untouched afterwards."""
    import sys

    from gitarchive import safejson

    limit = sys.getrecursionlimit()
    for deep in (DEEP, b'{"a":' * 200_000, "[" * 200_000):
        with pytest.raises(ValueError, match="nested too deeply"):
            safejson.loads(deep)
    assert safejson.loads(b'{"a": [1]}') == {"a": [1]}
    assert sys.getrecursionlimit() == limit


# ---------------------------------------------------------------- derived caches


def two_runs(tmp_path: Path) -> History:
    h = History(str(tmp_path / "repo.git"))
    h.commit({**registry(A, B), **json_files(alpha(3)), **json_files(beta())}, at("2024-01-01"))
    h.commit(json_files(alpha(2)), at("2024-01-02"))
    return h


def git_cache(h: History) -> Path:
    return h.store.git_dir / "gitarchive"


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _random(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def _directory(path: Path) -> None:
    path.unlink()
    (path / "x").mkdir(parents=True)


@pytest.mark.parametrize("damage", [_truncate, _random, _directory], ids=lambda f: f.__name__)
@pytest.mark.parametrize("question", [("search", "Song"), ("log", A), ("show", A),
                                      ("export", "--format", "csv")])
def test_damaged_query_index_is_rebuilt(
    tmp_path: Path, damage: object, question: tuple[str, ...]
) -> None:
    h = two_runs(tmp_path)
    repo = str(h.store.git_dir)
    code, expected = run(*question, "--repo", repo)
    assert code == 0, expected
    index = git_cache(h) / "query-index.sqlite"
    assert index.exists()
    damage(index)  # type: ignore[operator]
    result = CliRunner().invoke(main, [*question, "--repo", repo], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout == expected
    assert "query index" in result.stderr and "rebuilding it" in result.stderr
    again = CliRunner().invoke(main, [*question, "--repo", repo], catch_exceptions=False)
    assert again.stdout == expected and again.stderr == ""


def test_rebuild_full_repairs_the_query_index(tmp_path: Path) -> None:
    h = two_runs(tmp_path)
    repo = str(h.store.git_dir)
    code, expected = run("search", "Song", "--repo", repo)
    index = git_cache(h) / "query-index.sqlite"
    _truncate(index)
    assert run("rebuild", "--full", "--repo", repo)[0] == 0
    result = CliRunner().invoke(main, ["search", "Song", "--repo", repo])
    assert result.stdout == expected and "damaged" not in result.stderr


def test_parallel_first_questions_build_one_index(tmp_path: Path) -> None:
    """Real processes asking at once with no index yet: every one answers, all the same."""
    import shutil
    import subprocess
    import sys

    h = two_runs(tmp_path)
    index = git_cache(h) / "query-index.sqlite"
    command = [sys.executable, "-m", "gitarchive", "search", "Song", "--repo",
               str(h.store.git_dir)]
    for _ in range(4):
        if git_cache(h).exists():  # no index and no saved state: the slowest first question
            for leftover in git_cache(h).glob("query-index.sqlite*"):
                leftover.unlink()
            shutil.rmtree(git_cache(h) / "history-state", ignore_errors=True)
        procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(8)]
        answers = [p.communicate() for p in procs]
        assert all(p.returncode == 0 for p in procs), answers
        assert len({out for out, _ in answers}) == 1
        assert all(err == b"" for _, err in answers), answers
        assert index.exists()


def _state_files(h: History) -> list[Path]:
    return sorted((git_cache(h) / "history-state").glob(f"{A}.*.pickle"))


@pytest.mark.parametrize("damage", [_truncate, _random], ids=lambda f: f.__name__)
def test_damaged_state_pickle_is_replayed_with_a_note(tmp_path: Path, damage: object) -> None:
    h = two_runs(tmp_path)
    repo = str(h.store.git_dir)
    assert run("rebuild", "--repo", repo)[0] == 0
    (pickle_file,) = _state_files(h)
    h.commit(json_files(alpha(4)), at("2024-01-03"))  # the next rebuild reads the state
    damage(pickle_file)  # type: ignore[operator]
    result = CliRunner().invoke(main, ["rebuild", "--repo", repo], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "history state" in result.stderr and "replaying" in result.stderr
    assert "Replayed whole history" in result.stdout
    full = CliRunner().invoke(main, ["rebuild", "--full", "--repo", repo])
    assert "nothing committed" in full.stdout  # the healed views are the full replay's


def test_truncated_state_pickle_then_fetch(tmp_path: Path, api: StandIn) -> None:
    h = two_runs(tmp_path)
    repo = str(h.store.git_dir)
    assert run("rebuild", "--repo", repo)[0] == 0
    (pickle_file,) = _state_files(h)
    _truncate(pickle_file)
    result = CliRunner().invoke(main, ["fetch", "--repo", repo], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "history state" in result.stderr and "replaying" in result.stderr
    again = CliRunner().invoke(main, ["rebuild", "--repo", repo], catch_exceptions=False)
    assert again.exit_code == 0 and "damaged" not in again.stderr


def test_history_state_replaced_by_a_file(tmp_path: Path, api: StandIn) -> None:
    import shutil

    h = two_runs(tmp_path)
    repo = str(h.store.git_dir)
    assert run("rebuild", "--repo", repo)[0] == 0
    folder = git_cache(h) / "history-state"
    shutil.rmtree(folder)
    folder.write_text("not a directory\n")
    code, out = run("rebuild", "--repo", repo)
    assert code == 0, out
    assert folder.is_dir()
    folder_again = git_cache(h) / "history-state"
    shutil.rmtree(folder_again)
    folder_again.write_text("x")
    code, out = run("fetch", "--repo", repo)
    assert code == 0, out


@pytest.mark.parametrize("victim", ["manifest.pickle", "playlist"])
def test_state_file_replaced_by_a_directory(tmp_path: Path, victim: str) -> None:
    h = two_runs(tmp_path)
    repo = str(h.store.git_dir)
    assert run("rebuild", "--repo", repo)[0] == 0
    folder = git_cache(h) / "history-state"
    target = folder / victim if victim != "playlist" else _state_files(h)[0]
    target.unlink()
    (target / "inside").mkdir(parents=True)
    h.commit(json_files(alpha(4)), at("2024-01-03"))
    code, out = run("rebuild", "--repo", repo)
    assert code == 0, out
    code, out = run("rebuild", "--repo", repo)
    assert code == 0 and "damaged" not in out and "up to date" in out
    assert (folder / "manifest.pickle").is_file()


def test_saved_sizes_stay_true_across_daily_runs(tmp_path: Path) -> None:
    """A daily save writes a few playlist files and keeps the others' sizes from the last
    manifest: every size in it is still its file's (what damage is detected by)."""
    import pickle

    h = two_runs(tmp_path)
    repo = str(h.store.git_dir)
    for day, n in (("2024-01-03", 4), ("2024-01-04", 5), ("2024-01-05", 6)):
        h.commit(json_files(alpha(n)), at(day))
        assert run("rebuild", "--repo", repo)[0] == 0
        folder = git_cache(h) / "history-state"
        manifest = pickle.loads((folder / "manifest.pickle").read_bytes())
        assert manifest["sizes"] and {
            name: (folder / name).stat().st_size for name in manifest["files"].values()
        } == manifest["sizes"]
