"""add --mine, the 2026 development-mode rule on items, and added_by, end to end.

A development-mode stand-in: the signed-in user (demo-user) owns SMALL, collaborates
on LONG, and merely follows OLD_1970 (Spotify's own). Real HTTP, real git.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest
from cli_support import GOLDEN, LONG, OLD_1970, SMALL
from click.testing import CliRunner

from gitarchive import exitcodes
from gitarchive.archive import layout, runrecord
from gitarchive.cli import main
from gitarchive.errors import SpotifyError
from gitarchive.git.store import Store
from gitarchive.ops import mine
from gitarchive.spotify.fixtures import load_fixture_playlists
from gitarchive.spotify.standin import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REFRESH_TOKEN,
    StandIn,
)
from gitarchive.spotify.standin_users import user_ref


def owned_by(data: dict[str, Any], user: str) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data["owner"] = {**user_ref(user), "display_name": user}
    return data


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    playlists = load_fixture_playlists()
    playlists[SMALL] = owned_by(playlists[SMALL], "demo-user")
    with StandIn(playlists, mode="development") as server:
        server.users.share(LONG, "demo-user")
        server.users.follow("demo-user", OLD_1970)
        monkeypatch.setenv("SPOTIFY_CLIENT_ID", DEMO_CLIENT_ID)
        monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", DEMO_CLIENT_SECRET)
        monkeypatch.setenv("SPOTIFY_REFRESH_TOKEN", DEMO_REFRESH_TOKEN)
        monkeypatch.setenv("SPOTIFY_API_BASE", server.api_base)
        monkeypatch.setenv("SPOTIFY_TOKEN_URL", server.token_url)
        monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-04-01T06:00:00Z")
        yield server


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def new_archive(tmp_path: Path) -> Path:
    repo = tmp_path / "archive"
    assert run("init", str(repo))[0] == 0
    return repo


def registered(repo: Path) -> list[str]:
    return sorted(Store(repo).reader().listing(layout.REGISTRY))


def commit_count(repo: Path) -> int:
    git = pygit2.Repository(str(repo))
    return 0 if git.head_is_unborn else len(list(git.walk(git.head.target)))


def test_add_mine_registers_owned_and_collaborative_playlists_once(
    api: StandIn, tmp_path: Path
) -> None:
    repo = new_archive(tmp_path)
    code, out, err = run("add", "--mine", "--repo", str(repo))
    assert code == 0, err
    assert registered(repo) == sorted([SMALL, LONG])
    assert commit_count(repo) == 1
    assert "Registered 2 playlists of demo-user (1 collaborative)" in out
    assert "Left out 1 playlist you follow but neither own nor collaborate on" in out
    assert OLD_1970 in out

    code, out, _ = run("add", "--mine", "--repo", str(repo))
    assert code == 0 and "No new playlists of demo-user; nothing changed" in out
    assert commit_count(repo) == 1

    api.set_playlist("4newOwnedPlaylist00001",
                     owned_by({**load_fixture_playlists()[SMALL], "id": "4newOwnedPlaylist00001"},
                              "demo-user"))
    code, out, _ = run("add", "--mine", "--repo", str(repo))
    assert code == 0 and "Registered 1 playlist of demo-user: 4newOwnedPlaylist00001" in out
    assert "Already registered: 2 playlists" in out
    assert commit_count(repo) == 2


def test_add_mine_keeps_an_alias_already_registered(api: StandIn, tmp_path: Path) -> None:
    repo = new_archive(tmp_path)
    assert run("add", SMALL, "--alias", "Ours", "--repo", str(repo))[0] == 0
    assert run("add", "--mine", "--repo", str(repo))[0] == 0
    assert Store(repo).read(layout.registry_path(SMALL)).decode().strip() == "Ours"


def test_owned_only_leaves_out_collaborative_playlists(api: StandIn, tmp_path: Path) -> None:
    repo = new_archive(tmp_path)
    code, out, _ = run("add", "--mine", "--owned-only", "--repo", str(repo))
    assert code == 0 and registered(repo) == [SMALL]


def test_add_mine_follows_the_pages(api: StandIn, tmp_path: Path) -> None:
    base = load_fixture_playlists()[SMALL]
    made = []
    for n in range(120):
        pid = f"7owned{n:016d}"
        made.append(pid)
        api.set_playlist(pid, owned_by({**base, "id": pid, "name": f"mine {n}"}, "demo-user"))
    repo = new_archive(tmp_path)
    code, _, err = run("add", "--mine", "--repo", str(repo))
    assert code == 0, err
    assert set(made) | {SMALL, LONG} == set(registered(repo))
    pages = [path for _, path in api.requests if path.startswith("/v1/me/playlists")]
    assert len(pages) == 3 and all("limit=50" in path for path in pages)
    assert commit_count(repo) == 1


@pytest.mark.parametrize("args", [(), ("--mine", SMALL), ("--owned-only", SMALL),
                                  ("--mine", "--alias", "x")])
def test_add_needs_playlists_or_mine(api: StandIn, tmp_path: Path, args: tuple[str, ...]) -> None:
    repo = new_archive(tmp_path)
    code, _, err = run("add", *args, "--repo", str(repo))
    assert code == 2 and "--mine" in err and commit_count(repo) == 0


def test_add_mine_with_an_app_token_says_to_sign_in(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPOTIFY_REFRESH_TOKEN")
    repo = new_archive(tmp_path)
    code, _, err = run("add", "--mine", "--repo", str(repo))
    assert code == exitcodes.NOTHING_FETCHED  # no user credentials, as for every command
    assert "gitarchive login" in err and "nothing was registered" in err
    assert commit_count(repo) == 0


def test_items_refused_by_the_2026_rule_are_explained_and_earlier_files_kept(
    api: StandIn, tmp_path: Path
) -> None:
    repo = new_archive(tmp_path)
    assert run("add", SMALL, LONG, OLD_1970, "--repo", str(repo))[0] == 0
    api.users.mode = "extended"  # before the rule: everything was served
    assert run("fetch", "--repo", str(repo))[0] == exitcodes.OK
    store = Store(repo)
    before = {path: store.read(path) for path in layout.snapshot_paths(OLD_1970)}
    api.users.mode = "development"
    served = load_fixture_playlists()
    served[SMALL] = owned_by(served[SMALL], "demo-user")
    for pid in (SMALL, LONG, OLD_1970):  # everything changes on Spotify's side
        data = copy.deepcopy(served[pid])
        page = data["items"] if isinstance(data.get("items"), dict) else data["tracks"]
        page["items"] = page["items"][1:]
        api.set_playlist(pid, data)
    code, out, err = run("fetch", "--repo", str(repo))
    assert code == exitcodes.PARTIAL
    message = next(line for line in err.splitlines() if OLD_1970 in line)
    for words in ("2026-03-09", "owns or collaborates", "collaborator", "extended quota",
                  "details but not its tracks", "earlier snapshot of it is kept"):
        assert words in message
    assert "Fetched 2 of 3 playlists, 2 changed" in out
    store = Store(repo)
    assert {path: store.read(path) for path in layout.snapshot_paths(OLD_1970)} == before
    # The details were asked for, and only the items refused.
    assert ("GET", f"/v1/playlists/{OLD_1970}") in api.requests
    # The run's record counts it as a failed fetch (not seen unchanged): its dates wait.
    git = pygit2.Repository(str(repo))
    record = runrecord.parse(git[git.head.target].message)
    assert record is not None and record.fetched is None and list(record.failed) == [OLD_1970]
    assert "2026-03-09" in record.failed[OLD_1970]


def test_an_app_token_reads_no_items_in_development_mode(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPOTIFY_REFRESH_TOKEN")
    repo = new_archive(tmp_path)
    assert run("add", SMALL, "--repo", str(repo))[0] == 0
    code, _, err = run("fetch", "--repo", str(repo))
    assert code == exitcodes.NOTHING_FETCHED
    assert "2026-03-09" in err and "gitarchive login" in err and "extended quota" in err


def with_added_by(data: dict[str, Any], users: list[str]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for i, entry in enumerate(data["items"]["items"]):
        entry["added_by"] = user_ref(users[i % len(users)])
    return data


def test_added_by_is_kept_in_json_only_and_the_markdown_stays_golden(
    api: StandIn, tmp_path: Path
) -> None:
    api.users.mode = "extended"
    api.set_playlist(OLD_1970, with_added_by(load_fixture_playlists()[OLD_1970], ["kai", "zoe"]))
    repo = new_archive(tmp_path)
    assert run("add", OLD_1970, "--repo", str(repo))[0] == 0
    pygit2.Repository(str(repo)).remotes.create(
        "origin", "https://github.com/mackorone/spotify-playlist-archive-2.git")
    assert run("fetch", "--repo", str(repo), "--no-cumulative")[0] == 0
    store = Store(repo)
    assert store.read(layout.pretty_md_path(OLD_1970)) == (
        GOLDEN / f"pretty-{OLD_1970}.md").read_bytes()
    written = store.read(layout.pretty_json_path(OLD_1970)).decode()
    golden = (GOLDEN / f"pretty-{OLD_1970}.json").read_text()
    tracks = json.loads(written)["tracks"]
    assert [t["added_by"] for t in tracks[:3]] == ["kai", "zoe", "kai"]
    without = [line for line in written.splitlines() if '"added_by"' not in line]
    assert without == golden.splitlines()  # the one extra line per track, nothing else
    plain = store.read(layout.plain_path(OLD_1970)).decode()
    assert "kai" not in plain


@pytest.fixture
def collaborative_archive(api: StandIn, tmp_path: Path) -> Path:
    """LONG fetched on two days: friends added its tracks; one was removed on day two."""
    api.users.mode = "extended"
    data = with_added_by(load_fixture_playlists()[LONG], ["demo-user", "zoe.angstrom"])
    api.set_playlist(LONG, data)
    repo = new_archive(tmp_path)
    assert run("add", LONG, SMALL, "--repo", str(repo))[0] == 0
    assert run("fetch", "--repo", str(repo))[0] == 0
    data["items"]["items"] = data["items"]["items"][1:]
    api.set_playlist(LONG, data)
    git_date = "2026-04-02T06:00:00Z"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GIT_COMMITTER_DATE", git_date)
        assert run("fetch", "--repo", str(repo))[0] == 0
    return repo


def test_added_by_in_the_cumulative_view_of_a_collaborative_playlist(
    collaborative_archive: Path,
) -> None:
    store = Store(collaborative_archive)
    md = store.read(layout.cumulative_md_path(LONG)).decode()
    assert "| Added | Added by | Last seen | Removed |" in md
    assert "| [zoe.angstrom](https://open.spotify.com/user/zoe.angstrom) |" in md
    removed_row = next(line for line in md.splitlines() if "2026-04-02 |" in line)
    assert "demo" in removed_row  # who added the track that is gone now
    cumulative = json.loads(store.read(layout.cumulative_json_path(LONG)))
    assert {t["added_by"] for t in cumulative["tracks"]} == {"demo-user", "zoe.angstrom"}
    # A playlist without added_by keeps its view as it was.
    small_md = store.read(layout.cumulative_md_path(SMALL)).decode()
    assert "Added by" not in small_md
    small = json.loads(store.read(layout.cumulative_json_path(SMALL)))
    assert all("added_by" not in t for t in small["tracks"])


def test_show_search_and_export_tell_who_added_a_track(collaborative_archive: Path) -> None:
    repo = str(collaborative_archive)
    code, out, _ = run("show", LONG, "--repo", repo)
    header = next(line for line in out.splitlines() if line.startswith("No."))
    assert code == 0 and header.endswith("Added by") and "zoe.angstrom" in out
    code, out, _ = run("show", LONG, "--format", "csv", "--repo", repo)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["added_by"] for r in rows} == {"demo-user", "zoe.angstrom"}
    code, out, _ = run("show", SMALL, "--repo", repo)
    assert code == 0 and "Added by" not in out
    first_track = json.loads(Store(collaborative_archive).read(
        layout.pretty_json_path(LONG)))["tracks"][0]["name"]
    code, out, _ = run("search", first_track, "--repo", repo)
    assert code == 0 and "Added by" in out.splitlines()[0]
    code, out, _ = run("export", "--format", "csv", "--repo", repo)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["added_by"] for r in rows if r["playlist_id"] == LONG} == {
        "demo-user", "zoe.angstrom"}
    assert {r["added_by"] for r in rows if r["playlist_id"] == SMALL} == {""}
    code, out, _ = run("export", "--format", "json", "--repo", repo)
    long = next(p for p in json.loads(out)["playlists"] if p["id"] == LONG)
    assert all(t["added_by"] for t in long["tracks"])
    target = collaborative_archive.parent / "out.sqlite"
    assert run("export", "--format", "sqlite", "--output", str(target), "--repo", repo)[0] == 0
    with sqlite3.connect(target) as db:
        by = {row[0] for row in db.execute(
            "SELECT added_by FROM appearances WHERE playlist_id = ?", (LONG,))}
    assert by == {"demo-user", "zoe.angstrom"}


class LoopingLibrary:
    """A client whose /me/playlists pages link back to themselves."""

    def __init__(self) -> None:
        self.calls = 0

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.calls += 1
        item = {"id": SMALL, "name": "Small", "owner": {"id": "me"}}
        return {"items": [item], "next": "https://api.example/v1/me/playlists?offset=50"}


def test_a_library_whose_paging_loops_is_an_error_not_a_hang() -> None:
    client = LoopingLibrary()
    with pytest.raises(SpotifyError, match="loop back"):
        mine.library(client)  # type: ignore[arg-type]
    assert client.calls == 2
