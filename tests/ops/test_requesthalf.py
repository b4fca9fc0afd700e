"""Half of a run's requests made by a forked process (ops.requesthalf): the same commits,
messages and records as when one process makes them all, whatever fails, and nothing
lost when the forked process dies."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pygit2
import pytest
from cli_support import KPOP, LONG, OLD_1970, SMALL, run

from gitarchive import exitcodes
from gitarchive.ops import requesthalf
from gitarchive.spotify import wire
from gitarchive.spotify.client import HandBack, SpotifyClient
from gitarchive.spotify.fixtures import load_fixture_playlists
from gitarchive.spotify.standin import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, StandIn

EXTRA = [f"{n}xSplitDemoPlaylist{n:03d}" for n in range(10)]  # 22 characters each


def serve_extra(api: StandIn) -> None:
    """Ten more playlists (copies of two fixtures, each named apart)."""
    fixtures = load_fixture_playlists()
    api.set_playlist(KPOP, copy.deepcopy(fixtures[KPOP]))
    for n, pid in enumerate(EXTRA):
        data = copy.deepcopy(fixtures[LONG if n % 3 == 0 else SMALL])
        data["id"] = pid
        data["external_urls"] = {"spotify": f"https://open.spotify.com/playlist/{pid}"}
        data["name"] = f"Copy {n}"
        api.set_playlist(pid, data)


def faults(api: StandIn) -> None:
    """Failures spread over both halves: 403, 404, 500s, a 429, a refused token (each
    fault as many times as the run asks, so none is left over for the next)."""
    api.remove_playlist(KPOP)  # 404
    api.fail_next(f"/playlists/{EXTRA[0]}", 403, times=1)
    api.fail_next(f"/playlists/{EXTRA[1]}", 500, times=2)  # retried: fetched after all
    api.fail_next(f"/playlists/{EXTRA[2]}", 429, headers={"Retry-After": "1"})
    api.fail_next(f"/playlists/{EXTRA[3]}", 401)  # a new token: the forked copy hands it back
    api.fail_next(f"/playlists/{EXTRA[4]}", 200, body="{not json", times=1)
    api.fail_next(f"/playlists/{EXTRA[5]}", 401)
    api.fail_next(f"/playlists/{EXTRA[6]}", 429, headers={"Retry-After": "1"})


def history(repo: Path) -> list[tuple[pygit2.Oid, str]]:
    r = pygit2.Repository(str(repo))
    return [(c.tree_id, c.message) for c in r.walk(r.head.target)]


def two_runs(api: StandIn, repo: Path) -> tuple[list[tuple[pygit2.Oid, str]], list[str]]:
    """Two fetches (the second with changes and failures): the commits, the outputs."""
    original = copy.deepcopy(load_fixture_playlists()[SMALL])
    api.set_playlist(SMALL, copy.deepcopy(original))
    serve_extra(api)
    code, first = run("fetch", "--repo", str(repo), "--no-cumulative")
    assert code == exitcodes.OK, first
    data = copy.deepcopy(original)
    data["items"]["items"].pop()
    data["name"] = "Renamed"
    api.set_playlist(SMALL, data)
    faults(api)
    code, second = run("fetch", "--repo", str(repo))
    assert code == exitcodes.PARTIAL, second
    return history(repo), [first, second]


def new_archive(where: Path) -> Path:
    repo = where / "archive"
    assert run("init", str(repo))[0] == 0
    assert run("add", OLD_1970, KPOP, SMALL, LONG, *EXTRA, "--repo", str(repo))[0] == 0
    return repo


def test_the_split_gives_the_same_commits_messages_and_records(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = tmp_path / "sent-by-the-forked-process"
    dumps = wire.dumps

    def noted(result):  # type: ignore[no-untyped-def]
        with sent.open("a") as out:  # only the forked process sends answers
            out.write(f"{os.getpid()} {result.playlist.id}\n")
        return dumps(result)

    monkeypatch.setattr(wire, "dumps", noted)
    runs = []
    for split_min in (10_000, 1):
        monkeypatch.setattr(requesthalf, "SPLIT_MIN", split_min)
        runs.append(two_runs(api, new_archive(tmp_path / str(split_min))))
    assert runs[0] == runs[1]  # trees, messages (with the record's trailers), outputs
    lines = sent.read_text().split()
    assert os.getpid() not in {int(p) for p in lines[::2]}
    assert len(set(lines[1::2])) >= 5  # the forked process did fetch its half
    assert "403" in runs[1][1][1] and "404" in runs[1][1][1]


def test_a_forked_process_that_dies_loses_nothing(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(requesthalf, "SPLIT_MIN", 10_000)
    alone = two_runs(api, new_archive(tmp_path / "alone"))
    dumps = wire.dumps
    calls = [0]

    def dies(result):  # type: ignore[no-untyped-def]
        calls[0] += 1
        if calls[0] > 2:  # two answers sent, then the forked process is gone
            os._exit(1)
        return dumps(result)

    monkeypatch.setattr(wire, "dumps", dies)
    monkeypatch.setattr(requesthalf, "SPLIT_MIN", 1)
    commits, outputs = two_runs(api, new_archive(tmp_path / "dies"))
    assert commits == alone[0]
    # (the stand-in, a thread here, may print that a connection of the dead process broke)
    assert [said(out) for out in outputs] == [said(out) for out in alone[1]]


def said(output: str) -> list[str]:
    """What a fetch said of its playlists and of the run."""
    return [line for line in output.splitlines()
            if line.startswith(("error:", "note:", "Fetched"))]


def test_a_forked_copy_never_asks_for_a_token(api: StandIn) -> None:
    client = SpotifyClient(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, api_base=api.api_base,
                           token_url=api.token_url, on_new_refresh_token=pytest.fail)
    assert client.forkable
    client.access_token()
    client.in_forked_copy()
    assert client.get_playlist(SMALL).playlist.id == SMALL  # with the token it was given
    asked = [path for _method, path in api.requests if "token" in path]
    api.expire_tokens()  # Spotify refuses it now: 401
    with pytest.raises(HandBack):
        client.get_playlist(SMALL)
    assert [path for _method, path in api.requests if "token" in path] == asked
    client.close()


def test_answers_go_through_the_wire_unchanged(api: StandIn) -> None:
    with SpotifyClient(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, api_base=api.api_base,
                       token_url=api.token_url) as client:
        for pid in (OLD_1970, SMALL, LONG):
            result = client.get_playlist(pid)
            assert wire.loads(wire.dumps(result)) == result


def test_refused_credentials_stop_the_run_before_anything_is_written(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(requesthalf, "SPLIT_MIN", 1)
    serve_extra(api)
    repo = new_archive(tmp_path)
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "not-the-s3cret")
    code, out = run("fetch", "--repo", str(repo))
    assert code == exitcodes.NOTHING_FETCHED and "nothing was written" in out
    assert "s3cret" not in out
    assert pygit2.Repository(str(repo)).head_is_unborn or len(history(repo)) == 1
