"""publish and show --format uris|urls: real archives, real HTTP to the stand-in's write side.

Every test ends by asserting the stand-in's final state: exactly the playlists
expected in the user's account, with exactly the expected URIs in order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from history_support import History, at, json_files, pid, plain_files, playlist, tid, track

from gitarchive.archive.model import Link, Track
from gitarchive.cli import main
from gitarchive.git.store import Store
from gitarchive.questions.publish import load_targets, state_path
from gitarchive.spotify import client as spotify
from gitarchive.spotify.standin import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REFRESH_TOKEN,
    StandIn,
)
from gitarchive.spotify.standin_writes import CreatedPlaylist

ROAD = pid(1)
OLD = pid(2)
OTHER = pid(3)

DAY1 = list(range(1, 4))  # 2024-01-10: tracks 1-3
DAY2 = list(range(2, 251))  # 2024-01-20: tracks 2-250 (three batches)
DAY3 = [2, 3, 4, 300]  # 2024-02-01


def uri(n: int) -> str:
    return f"spotify:track:{tid(n)}"


def uris(numbers: list[int]) -> list[str]:
    return [uri(n) for n in numbers]


def plain_track(name: str, artist: str, album: str) -> Track:
    return Track(url="", name=name, album=Link(album), artists=(Link(artist),), duration_ms=0)


def build_archive(path: Path) -> Path:
    """Road: three JSON snapshots. Old: plain-only history (pre-2022), one of whose lines
    is track 7 of Other's later JSON snapshot, and one that is nowhere."""
    history = History(str(path))
    lost = plain_track("Lost Song", "Nobody", "Nowhere")
    seven = track(7)
    history.commit(plain_files(playlist(OLD, "Old Mix", [
        plain_track(seven.name, seven.artists[0].name, seven.album.name), lost])),
        at("2021-06-01"))
    for day, numbers in (("2024-01-10", DAY1), ("2024-01-20", DAY2), ("2024-02-01", DAY3)):
        files = json_files(playlist(ROAD, "Road Trip", [track(n) for n in numbers]))
        if day == "2024-01-10":
            files.update(json_files(playlist(OTHER, "Other", [track(7), track(8)])))
        history.commit(files, at(day))
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return build_archive(tmp_path / "archive")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """A stand-in, and the environment of a signed-in user pointed at it."""
    monkeypatch.setattr(spotify, "backoff", lambda failures: 0.0)  # retries without waiting
    with StandIn() as stand_in:
        for name, value in (
            ("SPOTIFY_CLIENT_ID", DEMO_CLIENT_ID), ("SPOTIFY_CLIENT_SECRET", DEMO_CLIENT_SECRET),
            ("SPOTIFY_REFRESH_TOKEN", DEMO_REFRESH_TOKEN),
            ("SPOTIFY_API_BASE", stand_in.api_base), ("SPOTIFY_TOKEN_URL", stand_in.token_url),
        ):
            monkeypatch.setenv(name, value)
        yield stand_in


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def publish(repo: Path, *args: str) -> Result:
    return run("publish", "--repo", str(repo), *args)


def only_playlist(server: StandIn) -> CreatedPlaylist:
    found = server.writes.playlists()
    assert len(found) == 1, [(p.name, len(p.uris)) for p in found]
    return found[0]


def writes(server: StandIn, since: int = 0) -> list[tuple[str, str]]:
    """The PUT and POST requests the stand-in received (token requests aside)."""
    return [(m, p) for m, p in server.requests[since:]
            if m in ("PUT", "POST") and not p.startswith("/api/token")]


# ------------------------------------------------------------------ clean runs


def test_clean_run_then_rerun(repo: Path, server: StandIn) -> None:
    result = publish(repo, "Road Trip", "--at", "2024-01-20")
    assert result.exit_code == 0, result.output
    target = only_playlist(server)
    assert target.uris == uris(DAY2)
    assert target.name == "Road Trip as of 2024-01-20"
    assert not target.public
    key = next(iter(load_targets(Store(str(repo)))))
    assert f"[gitarchive:{key}]" in target.description
    assert writes(server) == [
        ("POST", "/v1/me/playlists"),
        ("PUT", f"/v1/playlists/{target.pid}/items"),
        ("POST", f"/v1/playlists/{target.pid}/items"),
        ("POST", f"/v1/playlists/{target.pid}/items"),
    ]
    assert target.pid in result.output and "created" in result.output

    before = len(server.requests)
    again = publish(repo, "Road Trip", "--at", "2024-01-20")
    assert again.exit_code == 0, again.output
    assert "already up to date" in again.output
    assert writes(server, before) == []  # nothing sent: read, compared, done
    assert only_playlist(server).uris == uris(DAY2)


def test_publish_acts_as_the_user_saved_by_login(
    repo: Path, server: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No SPOTIFY_REFRESH_TOKEN: publish takes the login's saved token, as fetch does, and
    the playlist belongs to whoever signed in (the stand-in's users say who a token is)."""
    import requests

    server.users.add_user("alice", "Alice")
    server.user_id = "alice"  # the next sign-in at /authorize is Alice's
    monkeypatch.delenv("SPOTIFY_REFRESH_TOKEN")
    monkeypatch.setenv("SPOTIFY_AUTHORIZE_URL", server.authorize_url)

    def browser(url: str) -> bool:  # approve, then follow the redirect to the loopback server
        answer = requests.get(url, allow_redirects=False, timeout=5)
        requests.get(answer.headers["Location"], timeout=5)
        return True

    monkeypatch.setattr("webbrowser.open", browser)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr("gitarchive.spotify.auth.LOGIN_TIMEOUT", 10.0)
    assert run("login", "--port", "0").exit_code == 0
    result = publish(repo, "Road Trip", "--at", "2024-01-10")
    assert result.exit_code == 0, result.output
    assert server.writes.playlists() == []  # nothing for the default user
    [made] = server.writes.playlists("alice")
    assert made.uris == uris(DAY1)
    assert [p for m, p in server.requests if m == "GET" and p == "/v1/me"] == ["/v1/me"] * 2
    run("logout")
    signed_out = publish(repo, "Road Trip", "--at", "2024-01-20")
    assert signed_out.exit_code == 1 and "needs a signed-in Spotify user" in signed_out.output


def test_rev_public_and_name(repo: Path, server: StandIn) -> None:
    result = publish(repo, ROAD, "--at", "HEAD~2", "--public", "--name", "Then")
    assert result.exit_code == 0, result.output
    target = only_playlist(server)
    assert (target.name, target.public, target.uris) == ("Then", True, uris(DAY1))


def test_cumulative_follows_new_history_into_the_same_playlist(
    repo: Path, server: StandIn
) -> None:
    assert publish(repo, "Road Trip", "--cumulative").exit_code == 0
    ever = [1, 2, 3] + list(range(4, 251)) + [300]  # by date added, then title
    target = only_playlist(server)
    assert sorted(target.uris) == sorted(uris(ever))
    assert target.uris[:3] == uris([1, 2, 3]) and target.uris[-1] == uri(300)
    assert target.name == "Road Trip — every song ever"
    History(str(repo)).commit(
        json_files(playlist(ROAD, "Road Trip", [track(n) for n in DAY3 + [400]])),
        at("2024-02-10"))
    result = publish(repo, "Road Trip", "--cumulative")
    assert result.exit_code == 0, result.output
    assert only_playlist(server).uris == target.uris + [uri(400)]


def test_cumulative_removed_only_since(repo: Path, server: StandIn) -> None:
    result = publish(repo, "Road Trip", "--cumulative", "--removed-only", "--since", "2024-01-15")
    assert result.exit_code == 0, result.output
    # removed on 2024-02-01: 1 (added 01-10, before --since) and 5-250 (added 01-20)
    assert sorted(only_playlist(server).uris) == sorted(uris(list(range(5, 251))))
    assert "every song removed since 2024-01-15" in only_playlist(server).name


def test_a_lost_state_file_finds_the_playlist_by_its_marker(repo: Path, server: StandIn) -> None:
    assert publish(repo, "Road Trip", "--at", "2024-02-01").exit_code == 0
    state_path(Store(str(repo))).unlink()
    result = publish(repo, "Road Trip", "--at", "2024-02-01")
    assert result.exit_code == 0, result.output
    assert "found by its marker" in result.output or "up to date" in result.output
    assert only_playlist(server).uris == uris(DAY3)
    assert load_targets(Store(str(repo)))  # remembered again


def test_a_deleted_target_is_created_again(repo: Path, server: StandIn) -> None:
    assert publish(repo, "Road Trip", "--at", "2024-02-01").exit_code == 0
    old = only_playlist(server)
    server.writes.delete(old.pid)  # unfollowed: Spotify still serves it by ID
    before = len(server.requests)
    result = publish(repo, "Road Trip", "--at", "2024-02-01")
    assert result.exit_code == 0, result.output
    followed = [p for p in server.writes.playlists() if p.followed]
    assert len(followed) == 1 and followed[0].pid != old.pid
    assert followed[0].uris == uris(DAY3)
    assert not any(old.pid in path for _, path in writes(server, before))


def test_different_options_are_different_targets(repo: Path, server: StandIn) -> None:
    assert publish(repo, "Road Trip", "--at", "2024-01-10").exit_code == 0
    assert publish(repo, "Road Trip", "--at", "2024-02-01").exit_code == 0
    assert publish(repo, "Road Trip", "--at", "2024-01-10").exit_code == 0
    found = {p.name: p.uris for p in server.writes.playlists()}
    assert found == {"Road Trip as of 2024-01-10": uris(DAY1),
                     "Road Trip as of 2024-02-01": uris(DAY3)}


# ------------------------------------------------------------ interrupted runs


def test_connection_dropped_after_the_playlist_was_created(repo: Path, server: StandIn) -> None:
    server.writes.drop_after("POST", "/me/playlists")
    result = publish(repo, "Road Trip", "--at", "2024-01-20")
    assert result.exit_code == 0, result.output  # found by its marker in the same run
    assert only_playlist(server).uris == uris(DAY2)
    assert writes(server).count(("POST", "/v1/me/playlists")) == 1


@pytest.mark.parametrize("fault", ["500 before", "500 after", "dropped after"])
def test_an_unsure_append_is_checked_not_repeated(
    repo: Path, server: StandIn, fault: str
) -> None:
    if fault == "dropped after":
        server.writes.drop_after("POST", "/items")
    else:
        server.writes.fail("POST", "/items", 500, applied=fault == "500 after")
    result = publish(repo, "Road Trip", "--at", "2024-01-20")
    assert result.exit_code == 0, result.output
    assert only_playlist(server).uris == uris(DAY2)  # no duplicate, nothing missing


def test_rate_limits_are_waited_out(repo: Path, server: StandIn) -> None:
    server.writes.fail("PUT", "/items", 429, times=2, headers={"Retry-After": "0"})
    server.writes.fail("POST", "/items", 429, headers={"Retry-After": "0"})
    result = publish(repo, "Road Trip", "--at", "2024-01-20")
    assert result.exit_code == 0, result.output
    assert only_playlist(server).uris == uris(DAY2)


@pytest.mark.parametrize("where", ["create", "put", "second append"])
def test_an_interrupted_run_is_finished_by_the_next(
    repo: Path, server: StandIn, where: str
) -> None:
    if where == "create":  # created (its answer lost), found by its marker, then PUT fails
        server.writes.fail("POST", "/me/playlists", 500, applied=True)
        server.writes.fail("PUT", "/items", 500, times=50)
    elif where == "put":
        server.writes.fail("PUT", "/items", 500, times=50)
    else:  # a long rate limit stops the run after the first append
        server.writes.fail("POST", "/items", 429, headers={"Retry-After": "9999"}, skip=1)
    result = publish(repo, "Road Trip", "--at", "2024-01-20")
    assert result.exit_code == 1, result.output
    assert "run again" in result.output
    if where == "second append":
        assert only_playlist(server).uris == uris(DAY2[:200])
    server.writes.clear_faults()
    before = len(server.requests)
    finished = publish(repo, "Road Trip", "--at", "2024-01-20")
    assert finished.exit_code == 0, finished.output
    assert only_playlist(server).uris == uris(DAY2)
    assert ("POST", "/v1/me/playlists") not in writes(server, before)


def test_killed_before_the_new_playlist_was_recorded(
    repo: Path, server: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitarchive.questions import publish as publishing

    def killed(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed")  # as a kill between Spotify's answer and the record

    with monkeypatch.context() as patch:
        patch.setattr(publishing, "remember", killed)
        with pytest.raises(RuntimeError, match="killed"):
            publish(repo, "Road Trip", "--at", "2024-01-20")
    assert only_playlist(server).uris == []
    assert not state_path(Store(str(repo))).exists()
    before = len(server.requests)
    result = publish(repo, "Road Trip", "--at", "2024-01-20")
    assert result.exit_code == 0, result.output
    assert "found by its marker" in result.output
    assert only_playlist(server).uris == uris(DAY2)
    assert ("POST", "/v1/me/playlists") not in writes(server, before)


def test_killed_mid_append_then_rerun(repo: Path, server: StandIn) -> None:
    """A real kill (SIGKILL) of a publish process whose second batch is on its way."""
    hold = server.writes.hold("POST", "/items")
    process = subprocess.Popen(
        [sys.executable, "-m", "gitarchive", "publish", "--repo", str(repo), "Road Trip",
         "--at", "2024-01-20"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
    )
    try:
        assert hold.arrived.wait(60), "the publish process never sent its second batch"
    finally:
        process.kill()
        process.wait()
    hold.release.set()  # Spotify does what was asked; the client never hears of it
    assert hold.done.wait(60)
    assert only_playlist(server).uris == uris(DAY2[:200])
    before = len(server.requests)
    result = publish(repo, "Road Trip", "--at", "2024-01-20")
    assert result.exit_code == 0, result.output
    assert only_playlist(server).uris == uris(DAY2)
    assert writes(server, before) == [("POST", f"/v1/playlists/{only_playlist(server).pid}/items")]


def test_a_half_filled_playlist_is_completed_by_appending(repo: Path, server: StandIn) -> None:
    server.writes.fail("POST", "/items", 429, headers={"Retry-After": "9999"})
    failed = publish(repo, "Road Trip", "--at", "2024-01-20")
    assert failed.exit_code == 1 and "rate-limits" in failed.output
    target = only_playlist(server)
    assert target.uris == uris(DAY2[:100])  # the PUT went through
    before = len(server.requests)
    assert publish(repo, "Road Trip", "--at", "2024-01-20").exit_code == 0
    assert writes(server, before) == [("POST", f"/v1/playlists/{target.pid}/items")] * 2
    assert only_playlist(server).uris == uris(DAY2)


def test_a_changed_target_is_replaced(repo: Path, server: StandIn) -> None:
    assert publish(repo, "Road Trip", "--at", "2024-02-01").exit_code == 0
    target = only_playlist(server)
    server.writes.edit(target.pid, uris([9, 2, 3]))  # the user edited it
    assert publish(repo, "Road Trip", "--at", "2024-02-01").exit_code == 0
    assert only_playlist(server).uris == uris(DAY3)


# ----------------------------------------------------------------------- --into


def test_into_replaces_a_playlist_of_the_user(repo: Path, server: StandIn) -> None:
    mine = server.writes.add_playlist("Mine", uris([9, 8, 7]))
    result = publish(repo, "Road Trip", "--at", "2024-02-01", "--into",
                     f"https://open.spotify.com/playlist/{mine}?si=x")
    assert result.exit_code == 0, result.output
    target = only_playlist(server)
    assert (target.pid, target.name, target.uris) == (mine, "Mine", uris(DAY3))
    assert ("POST", "/v1/me/playlists") not in writes(server)


def test_into_refuses_a_playlist_of_someone_else(repo: Path, server: StandIn) -> None:
    theirs = server.writes.add_playlist("Theirs", uris([9]), owner="someone")
    result = publish(repo, "Road Trip", "--at", "2024-02-01", "--into", theirs)
    assert result.exit_code == 1
    assert "belongs to someone" in result.output
    assert server.writes.playlists("someone")[0].uris == uris([9])
    assert writes(server) == []


# ------------------------------------------------------------ credentials


def test_a_missing_scope_is_named_with_the_fix(repo: Path, server: StandIn) -> None:
    server.users.scope = "playlist-read-private"
    result = publish(repo, "Road Trip", "--at", "2024-02-01")
    assert result.exit_code == 1
    assert "playlist-modify-private" in result.output and "gitarchive login" in result.output
    server.users.scope = "playlist-modify-private playlist-read-private"
    result = publish(repo, "Road Trip", "--at", "2024-02-01", "--public")
    assert result.exit_code == 1
    assert "playlist-modify-public" in result.output
    assert "playlist-modify-private " not in result.output
    assert server.writes.playlists() == []
    assert writes(server) == []


def test_no_user_token_says_how_to_sign_in(
    repo: Path, server: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPOTIFY_REFRESH_TOKEN")
    result = publish(repo, "Road Trip", "--at", "2024-02-01")
    assert result.exit_code == 1 and "gitarchive login" in result.output
    assert server.requests == []


def test_usage_errors(repo: Path, server: StandIn) -> None:
    for args in ([], ["--at", "2024-01-10", "--cumulative"], ["--at", "2024-01-10",
                 "--removed-only"], ["--cumulative", "--since", "yesterday"],
                 ["--cumulative", "--since", "2024-02-30"],  # was taken, and named the playlist
                 ["--at", "2024-01-10", "--into", "not a playlist"]):
        result = publish(repo, "Road Trip", *args)
        assert result.exit_code == 2, (args, result.output)
    for args, words in ((["--at", "2020-01-01"], "no snapshot"),
                        (["--at", "nope"], "neither a date")):
        result = publish(repo, "Road Trip", *args)
        assert result.exit_code == 1 and words in result.output
    assert server.requests == []


def test_nothing_to_publish_sends_nothing(repo: Path, server: StandIn) -> None:
    result = publish(repo, "Road Trip", "--cumulative", "--removed-only", "--since", "2030-01-01")
    assert result.exit_code == 1 and "nothing to publish" in result.output
    assert server.requests == []


def test_nothing_to_publish_says_it_was_since_that_left_nothing(
    repo: Path, server: StandIn
) -> None:
    """It said "no track of it has a Spotify ID", and a dry run would publish 0 tracks."""
    for extra in ([], ["--dry-run"]):
        result = publish(repo, "Road Trip", "--cumulative", "--since", "2030-01-01", *extra)
        assert result.exit_code == 1, result.output
        assert result.output.endswith(
            "nothing to publish: no track of Road Trip was added on or after 2030-01-01\n")
    assert server.requests == []


# -------------------------------------------------------------------- dry run


def test_dry_run_sends_nothing_and_needs_no_credentials(
    repo: Path, server: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPOTIFY_CLIENT_SECRET")
    result = publish(repo, "Road Trip", "--at", "2024-01-20", "--dry-run")
    assert result.exit_code == 0, result.output
    assert server.requests == []
    lines = result.output.splitlines()
    assert any("POST /me/playlists name='Road Trip as of 2024-01-20'" in line for line in lines)
    assert [line.split()[0] for line in lines if "/items (" in line] == ["PUT", "POST", "POST"]
    assert [line.split()[0] for line in lines if line.startswith("spotify:")] == uris(DAY2)
    assert not state_path(Store(str(repo))).exists()


# ------------------------------------------------------- plain-only history


def test_plain_history_is_matched_and_the_rest_listed(repo: Path, server: StandIn) -> None:
    result = CliRunner().invoke(main, ["publish", "--repo", str(repo), "Old Mix", "--at",
                                       "2021-06-01"])
    assert result.exit_code == 0, result.output
    assert only_playlist(server).uris == [uri(7)]
    assert "Lost Song -- Nobody -- Nowhere" in result.output
    assert "Skipped 1 tracks" in result.output


def test_matching_prefers_the_same_playlist_then_the_latest(tmp_path: Path) -> None:
    from gitarchive.questions.publish_plan import Linker

    history = History(str(tmp_path / "a"))
    seven = track(7)
    relinked = Track(f"https://open.spotify.com/track/{tid(77)}", "SONG 7", seven.album,
                     seven.artists, 1)
    history.commit(plain_files(playlist(OLD, "Old", [seven])), at("2021-01-01"))
    history.commit(json_files(playlist(OTHER, "Other", [seven])), at("2022-01-01"))
    linker = Linker(history.store, OLD)
    assert linker.uri("Song 7", ["Artist 7"], "Album 7") == uri(7)
    history.commit(json_files(playlist(OLD, "Old", [relinked])), at("2022-02-01"))
    assert Linker(history.store, OLD).uri("song 7", ["ARTIST 7"], "album 7") == uri(77)
    assert Linker(history.store, OTHER).uri("Song 7", ["Artist 7"], "Album 7") == uri(7)
    assert linker.uri("Song 8", ["Artist 7"], "Album 7") is None


def test_search_missing_finds_by_title_artist_album(repo: Path, server: StandIn) -> None:
    lost = Track(url=f"https://open.spotify.com/track/{tid(99)}", name="Lost Song",
                 album=Link("Nowhere", ""), artists=(Link("Nobody", ""),), duration_ms=1)
    decoy = Track(url=f"https://open.spotify.com/track/{tid(98)}", name="Lost Song",
                  album=Link("Nowhere (Deluxe)", ""), artists=(Link("Nobody", ""),), duration_ms=1)
    from gitarchive.spotify.apijson import api_playlist_from_model

    server.set_playlist(pid(9), api_playlist_from_model(playlist(pid(9), "cat", [decoy, lost])))
    result = publish(repo, "Old Mix", "--at", "2021-06-01", "--search-missing", "5")
    assert result.exit_code == 0, result.output
    assert only_playlist(server).uris == [uri(99), uri(7)]  # the plain file's order (sorted)
    assert sum(1 for _, p in server.requests if p.startswith("/v1/search")) == 1
    assert "Skipped" not in result.output


# --------------------------------------------------------- show --format links


def test_show_uris_and_urls(repo: Path) -> None:
    result = run("show", "--repo", str(repo), "Road Trip", "--at", "2024-02-01",
                 "--format", "uris")
    assert result.exit_code == 0
    assert result.output.splitlines() == uris(DAY3)
    urls = run("show", "--repo", str(repo), "Road Trip", "--format", "urls")
    assert urls.output.splitlines() == [f"https://open.spotify.com/track/{tid(n)}" for n in DAY3]
    old = CliRunner().invoke(main, ["show", "--repo", str(repo), "Old Mix", "--format", "uris"])
    assert old.exit_code == 0
    assert old.stdout.splitlines() == [uri(7)]
    assert "Lost Song -- Nobody -- Nowhere" in old.stderr


# ------------------------------------------------------------------- secrets


def test_no_secret_in_output_or_state(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spotify, "backoff", lambda failures: 0.0)
    secrets_ = ("cs-Publ1shSecret-77", "rt-Publ1shRefresh-88")
    with StandIn(client_secret=secrets_[0], refresh_token=secrets_[1]) as server:
        monkeypatch.setenv("SPOTIFY_CLIENT_ID", DEMO_CLIENT_ID)
        monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", secrets_[0])
        monkeypatch.setenv("SPOTIFY_REFRESH_TOKEN", secrets_[1])
        monkeypatch.setenv("SPOTIFY_API_BASE", server.api_base)
        monkeypatch.setenv("SPOTIFY_TOKEN_URL", server.token_url)
        outputs = [publish(repo, "Road Trip", "--at", "2024-01-20").output]
        server.writes.fail("POST", "/items", 429, headers={"Retry-After": "9999"})
        server.writes.fail("PUT", "/items", 500, times=50)
        outputs.append(publish(repo, "Road Trip", "--cumulative").output)
        server.users.scope = ""
        outputs.append(publish(repo, "Road Trip", "--at", "2024-02-01").output)
        monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "cs-Wr0ng-0000")
        outputs.append(publish(repo, "Road Trip", "--at", "2024-02-01").output)
    haystacks = {f"output {i}": o.encode() for i, o in enumerate(outputs)}
    for path in repo.rglob("*"):
        if path.is_file():
            haystacks[str(path)] = path.read_bytes()
    assert json.loads(state_path(Store(str(repo))).read_text())["targets"]
    for secret in secrets_:
        found = [where for where, data in haystacks.items() if secret.encode() in data]
        assert not found, f"{secret} found in {found}"
