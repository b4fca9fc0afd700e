"""init / add / remove / fetch end to end: real git repositories, real HTTP to a stand-in."""

from __future__ import annotations

import copy
import gc
import json
from pathlib import Path

import pygit2
import pytest
from cli_support import GOLDEN, KPOP, LONG, OLD_1970, SMALL, on_a_terminal, run

from gitarchive import exitcodes
from gitarchive.archive import layout
from gitarchive.git.store import Store
from gitarchive.spotify.fixtures import load_fixture_playlists
from gitarchive.spotify.standin import StandIn


def archive(tmp_path: Path, *pids: str, bare: bool = False) -> Path:
    repo = tmp_path / ("archive.git" if bare else "archive")
    assert run("init", str(repo), *(["--bare"] if bare else []))[0] == 0
    if pids:
        code, out = run("add", *pids, "--repo", str(repo))
        assert code == 0, out
    return repo


def commits(repo: Path) -> list[pygit2.Commit]:
    r = pygit2.Repository(str(repo))
    return list(r.walk(r.head.target)) if not r.head_is_unborn else []


def is_clean(repo: Path) -> bool:
    r = pygit2.Repository(str(repo))
    return not {p: f for p, f in r.status().items() if f != pygit2.GIT_STATUS_IGNORED}


def test_fetch_writes_every_file_in_one_commit_and_leaves_checkout_clean(
    api: StandIn, tmp_path: Path
) -> None:
    repo = archive(tmp_path, OLD_1970, SMALL, LONG)
    code, out = run("fetch", "--repo", str(repo), "--no-cumulative")
    assert code == exitcodes.OK, out
    assert "Fetched 3 of 3 playlists, 3 changed" in out
    history = commits(repo)
    assert len(history) == 2  # register + one fetch
    assert history[0].message.startswith("Update 3 playlists: +")
    for pid in (OLD_1970, SMALL, LONG):
        for path in layout.snapshot_paths(pid):
            # The small mix's API answer has no follower count: no followers file for it.
            assert (repo / path).is_file() == (path != layout.followers_path(SMALL)), path
    assert (repo / layout.INDEX).is_file()
    assert is_clean(repo)
    plain = (repo / layout.plain_path(LONG)).read_text(encoding="utf-8").splitlines()
    tracks = plain[3:]
    assert tracks == sorted(tracks, key=str.lower) and len(tracks) > 100  # paged past 100
    followers = json.loads((repo / layout.followers_path(OLD_1970)).read_text())
    assert followers == {"2026-03-01": 362}


def test_nothing_changed_means_no_commit(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    assert run("fetch", "--repo", str(repo), "--no-cumulative")[0] == 0
    code, out = run("fetch", "--repo", str(repo), "--no-cumulative")
    assert code == 0 and "nothing to commit" in out
    assert len(commits(repo)) == 2
    assert gc.isenabled()  # fetch pauses the collector while it runs, and only then


def test_reorder_is_not_a_change_but_removal_is(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    run("fetch", "--repo", str(repo), "--no-cumulative")
    data = copy.deepcopy(load_fixture_playlists()[SMALL])
    entries = data["items"]["items"]
    entries.reverse()
    api.set_playlist(SMALL, data)
    plain_before = Store(repo).read(layout.plain_path(SMALL))
    # The new order is recorded in the pretty files; the sorted plain file does not change.
    assert "(+0 -0 tracks)" in run("fetch", "--repo", str(repo), "--no-cumulative")[1]
    assert Store(repo).read(layout.plain_path(SMALL)) == plain_before
    assert "+0 -0, reordered" in commits(repo)[0].message
    removed = entries.pop()
    api.set_playlist(SMALL, data)
    code, out = run("fetch", "--repo", str(repo), "--no-cumulative")
    assert code == 0 and "(+0 -1 tracks)" in out
    assert removed["item"]["name"] not in (repo / layout.plain_path(SMALL)).read_text()
    assert commits(repo)[0].message.splitlines()[0] == "Update 1 playlist: +0 -1 track"


def test_golden_pretty_files_reproduced_through_the_whole_fetch_path(
    api: StandIn, tmp_path: Path
) -> None:
    """API fixture -> client -> model -> render -> commit gives the real archive's files."""
    for pid, remote in (
        (OLD_1970, "https://github.com/mackorone/spotify-playlist-archive-2.git"),
        (KPOP, "git@github.com:mackorone/spotify-playlist-archive.git"),
    ):
        repo = archive(tmp_path / pid, pid)
        git = pygit2.Repository(str(repo))
        git.remotes.create("origin", remote)
        if pid == KPOP:  # written in 2022, when the old archiver ended files without a newline
            git.config["gitarchive.finalNewline"] = "false"
        assert run("fetch", "--repo", str(repo), "--no-cumulative")[0] == 0
        golden_md = (GOLDEN / f"pretty-{pid}.md").read_bytes()
        assert Store(repo).read(layout.pretty_md_path(pid)) == golden_md
        if pid == OLD_1970:
            golden_json = (GOLDEN / f"pretty-{pid}.json").read_bytes()
            assert Store(repo).read(layout.pretty_json_path(pid)) == golden_json


def test_404_keeps_registry_and_files_and_others_go_on(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, KPOP, SMALL)
    run("fetch", "--repo", str(repo), "--no-cumulative")
    store = Store(repo)
    before = {p: store.read(p) for p in layout.snapshot_paths(KPOP)}
    api.remove_playlist(KPOP)
    data = copy.deepcopy(load_fixture_playlists()[SMALL])
    data["items"]["items"].pop()
    api.set_playlist(SMALL, data)
    code, out = run("fetch", "--repo", str(repo), "--no-cumulative")
    assert code == exitcodes.PARTIAL
    assert "2024-11-27" in out and "editorial" in out  # the likely cause, spelled out
    store = Store(repo)
    assert {p: store.read(p) for p in layout.snapshot_paths(KPOP)} == before
    assert store.read(layout.registry_path(KPOP)) == b""
    assert "Not fetched (1): " + KPOP in commits(repo)[0].message


def test_all_failing_exits_nothing_fetched_without_commit(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    api.remove_playlist(SMALL)
    code, out = run("fetch", "--repo", str(repo))
    assert code == exitcodes.NOTHING_FETCHED
    assert "2024-11-27" not in out  # not a Spotify-owned ID: no editorial hint
    assert len(commits(repo)) == 1


def test_malformed_json_fails_that_playlist_only(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, OLD_1970, SMALL)
    api.fail_next(f"/playlists/{SMALL}", 200, body="{not json", times=10)
    code, out = run("fetch", "--repo", str(repo), "--no-cumulative")
    assert code == exitcodes.PARTIAL, out
    assert SMALL in out
    assert Store(repo).read(layout.pretty_json_path(OLD_1970)) is not None
    assert Store(repo).read(layout.pretty_json_path(SMALL)) is None


@pytest.mark.parametrize("missing", ["SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"])
def test_missing_credentials(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    repo = archive(tmp_path, SMALL)
    monkeypatch.delenv(missing)
    code, out = run("fetch", "--repo", str(repo))
    assert code == exitcodes.NOTHING_FETCHED
    assert missing in out and "Traceback" not in out
    assert len(commits(repo)) == 1


def test_rejected_credentials_write_nothing_and_never_echo_the_secret(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = archive(tmp_path, SMALL)
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "hunter2-very-secret")
    code, out = run("fetch", "--repo", str(repo))
    assert code == exitcodes.NOTHING_FETCHED
    assert "SPOTIFY_CLIENT_ID" in out and "hunter2" not in out
    assert len(commits(repo)) == 1
    assert gc.isenabled()  # back on after a fetch that failed too


def test_uncommitted_user_edits_are_never_overwritten(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    run("fetch", "--repo", str(repo), "--no-cumulative")
    data = copy.deepcopy(load_fixture_playlists()[SMALL])
    data["items"]["items"].pop()
    api.set_playlist(SMALL, data)
    edited = repo / layout.plain_path(SMALL)
    edited.write_text("my own notes\n")
    code, out = run("fetch", "--repo", str(repo), "--no-cumulative")
    assert code == exitcodes.ERROR
    assert layout.plain_path(SMALL) in out
    assert edited.read_text() == "my own notes\n"
    assert len(commits(repo)) == 2


def test_bare_repository(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL, bare=True)
    assert run("fetch", "--repo", str(repo), "--no-cumulative")[0] == 0
    assert Store(repo).read(layout.plain_path(SMALL)) is not None
    assert not (repo / "playlists").exists()


def test_only_fetches_the_named_playlists(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL, LONG)
    url = f"https://open.spotify.com/playlist/{SMALL}?si=abc"
    code, out = run("fetch", "--repo", str(repo), "--only", url, "--no-cumulative")
    assert code == 0, out
    assert Store(repo).read(layout.plain_path(LONG)) is None
    code, out = run("fetch", "--repo", str(repo), "--only", OLD_1970)
    assert code == exitcodes.ERROR and "not registered" in out


def test_add_accepts_ids_urls_and_uris_and_refuses_anything_else(tmp_path: Path) -> None:
    repo = archive(tmp_path)
    code, out = run(
        "add", f"https://open.spotify.com/playlist/{SMALL}?si=x1", f"spotify:playlist:{LONG}",
        "--repo", str(repo),
    )
    assert code == 0, out
    assert sorted(Store(repo).list_dir(layout.REGISTRY)) == [SMALL, LONG]
    for bad in ("not-a-playlist", "https://open.spotify.com/album/" + SMALL, SMALL[:-1]):
        code, out = run("add", bad, "--repo", str(repo))
        assert code == 1 and "22-character ID" in out, out
    assert len(commits(repo)) == 1
    assert run("add", SMALL, "--alias", "My mix", "--repo", str(repo))[0] == 0
    assert Store(repo).read(layout.registry_path(SMALL)) == b"My mix\n"
    assert run("add", SMALL, "--alias", "My mix", "--repo", str(repo))[1].startswith("Already")


def test_alias_replaces_name_and_collisions_get_numbered(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, OLD_1970)
    run("add", SMALL, "--alias", "1970", "--repo", str(repo))
    assert run("fetch", "--repo", str(repo), "--no-cumulative")[0] == 0
    names = {
        pid: json.loads(Store(repo).read(layout.pretty_json_path(pid)) or b"")["unique_name"]
        for pid in (OLD_1970, SMALL)
    }
    # 1970 has 362 followers, the small mix fewer: it gets the suffix.
    assert names == {OLD_1970: "1970", SMALL: "1970 (2)"}


def test_remove_unregisters_and_keeps_history(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    run("fetch", "--repo", str(repo), "--no-cumulative")
    code, out = run("remove", f"spotify:playlist:{SMALL}", "--repo", str(repo))
    assert code == 0, out
    store = Store(repo)
    assert store.read(layout.registry_path(SMALL)) is None
    assert store.read(layout.pretty_json_path(SMALL)) is not None
    assert run("remove", SMALL, "--repo", str(repo))[0] == 1


def test_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    code, out = run("fetch", "--repo", str(tmp_path))
    assert code == 1 and "gitarchive init" in out


def test_adopted_archive_keeps_its_final_newline_convention(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, SMALL)
    old = b"pretty - old file without a final newline"
    Store(repo).commit({layout.pretty_md_path(OLD_1970): old}, "old archive")
    assert run("fetch", "--repo", str(repo), "--no-cumulative")[0] == 0
    assert not (Store(repo).read(layout.pretty_md_path(SMALL)) or b"\n").endswith(b"\n")
    assert not (Store(repo).read(layout.plain_path(SMALL)) or b"\n").endswith(b"\n")


def _fetch_in_subprocess(repo: Path, api: StandIn, *, tty: bool) -> str:
    """Run the installed entry point with stderr on a pseudo-terminal or on a pipe."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": "100"}
    args = [sys.executable, "-m", "gitarchive", "fetch", "--repo", str(repo), "--no-cumulative"]
    if not tty:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        return done.stdout + done.stderr
    return on_a_terminal(args, env)


def test_progress_bar_on_a_terminal_only(api: StandIn, tmp_path: Path) -> None:
    repo = archive(tmp_path, OLD_1970, SMALL, LONG)
    on_terminal = _fetch_in_subprocess(repo, api, tty=True)
    assert "Fetching" in on_terminal and "100%" in on_terminal
    data = copy.deepcopy(load_fixture_playlists()[SMALL])
    data["items"]["items"].pop()
    api.set_playlist(SMALL, data)
    piped = _fetch_in_subprocess(repo, api, tty=False)
    assert "Fetching" not in piped and "\x1b" not in piped and "%" not in piped
    assert "Fetched 3 of 3 playlists, 1 changed (+0 -1 tracks)" in piped


def test_concurrent_jobs_give_the_same_commit_as_one_at_a_time(
    api: StandIn, tmp_path: Path
) -> None:
    trees = []
    for jobs in ("1", "8"):
        repo = archive(tmp_path / jobs, OLD_1970, KPOP, SMALL, LONG)
        code, out = run("fetch", "--repo", str(repo), "--jobs", jobs)
        assert code == 0, out
        trees.append((commits(repo)[0].tree_id, commits(repo)[0].message))
    assert trees[0] == trees[1]  # same files, same message: registry order, not finish order


def test_empty_archive_says_what_to_do_before_asking_for_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = archive(tmp_path)
    monkeypatch.delenv("SPOTIFY_CLIENT_ID", raising=False)
    code, out = run("fetch", "--repo", str(repo))
    assert code == 0 and "gitarchive add" in out


def test_a_failed_playlist_keeps_its_place_in_the_index_and_every_name(
    api: StandIn, tmp_path: Path
) -> None:
    repo = archive(tmp_path, OLD_1970, LONG)
    run("add", SMALL, "--alias", "1970", "--repo", str(repo))
    assert run("fetch", "--repo", str(repo), "--no-cumulative")[0] == 0
    old_1970_json = Store(repo).read(layout.pretty_json_path(OLD_1970))
    api.remove_playlist(OLD_1970)  # 404 from now on
    data = copy.deepcopy(load_fixture_playlists()[SMALL])
    data["items"]["items"].pop()  # 12 tracks -> 11: something to commit
    api.set_playlist(SMALL, data)
    code, out = run("fetch", "--repo", str(repo), "--no-cumulative")
    assert code == exitcodes.PARTIAL and OLD_1970 in out
    assert commits(repo)[0].message.startswith("Update 1 playlist: +0 -1 track")
    store = Store(repo)
    assert store.read(layout.pretty_json_path(OLD_1970)) == old_1970_json
    # The failed playlist (362 followers) still holds "1970": the alias keeps its "(2)".
    snapshot = json.loads(store.read(layout.pretty_json_path(SMALL)) or b"")
    assert snapshot["unique_name"] == "1970 (2)"
    assert f"### [1970 \\(2\\)](https://open.spotify.com/playlist/{SMALL})\n".encode() in (
        store.read(layout.pretty_md_path(SMALL)) or b"")
    rows = (store.read(layout.INDEX) or b"").decode().split("|---|---|---|\n")[1]
    assert rows.splitlines() == [  # written out by hand: by name, the failed playlist kept
        f"| [1970](/playlists/pretty/{OLD_1970}.md) | 50 | [cumulative]"
        f"(/playlists/cumulative/{OLD_1970}.md) - [plain](/playlists/plain/{OLD_1970}) |",
        f"| [1970 \\(2\\)](/playlists/pretty/{SMALL}.md) | 11 | [cumulative]"
        f"(/playlists/cumulative/{SMALL}.md) - [plain](/playlists/plain/{SMALL}) |",
        # 127 entries, of which 3 are not tracks (an episode, a local file, a null): skipped
        f"| [Nachtschicht — 深夜 Mix](/playlists/pretty/{LONG}.md) | 124 | [cumulative]"
        f"(/playlists/cumulative/{LONG}.md) - [plain](/playlists/plain/{LONG}) |",
    ]


def test_last_snapshots_read_in_a_forked_process_give_the_same_commits(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From lastrun.FORK_MIN playlists a forked process reads the last snapshots and
    follower counts; a run gives the same commits whichever way they were read."""
    from gitarchive.ops import lastrun

    original = copy.deepcopy(load_fixture_playlists()[SMALL])
    runs = []
    for fork_min in (10_000, 1):
        monkeypatch.setattr(lastrun, "FORK_MIN", fork_min)
        monkeypatch.setattr(lastrun, "CHUNK", 2)
        api.set_playlist(SMALL, copy.deepcopy(original))
        repo = archive(tmp_path / str(fork_min), OLD_1970, KPOP, SMALL, LONG)
        run("add", "4uLU6hMCjMI75M1A2tKUQC", "--repo", str(repo))  # never fetched: fails
        assert run("fetch", "--repo", str(repo), "--no-cumulative")[0] == exitcodes.PARTIAL
        data = copy.deepcopy(original)
        data["items"]["items"].pop()
        data["followers"] = {"total": 5}
        data["name"] = "Renamed"
        api.set_playlist(SMALL, data)
        code, out = run("fetch", "--repo", str(repo), "--no-cumulative")
        assert code == exitcodes.PARTIAL and "(+0 -1 tracks)" in out
        runs.append([(c.tree_id, c.message) for c in commits(repo)])
    assert runs[0] == runs[1]
    assert "renamed from" in runs[1][0][1]
    # A run that stops early (credentials refused) stops the forked reading too.
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "refused")
    code, out = run("fetch", "--repo", str(tmp_path / "1" / "archive"))
    assert code == exitcodes.NOTHING_FETCHED and "nothing was written" in out
