"""The Spotify client against the local stand-in: real HTTP on 127.0.0.1, no sleeping."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import socket
from collections.abc import Iterator

import pytest
import requests
from cli_support import GOLDEN
from cli_support import KPOP as BALLADS
from cli_support import LONG as LONG_MIX
from cli_support import OLD_1970 as SEVENTY
from cli_support import SMALL as SMALL_MIX
from conftest import StandInSetup

from gitarchive.archive.model import Link, Playlist, Track
from gitarchive.errors import (
    CredentialsError,
    ForbiddenError,
    PlaylistError,
    PlaylistNotFound,
    SpotifyError,
)
from gitarchive.spotify.apijson import (
    api_playlist_from_model,
    episode_entry,
    local_file_entry,
    null_entry,
)
from gitarchive.spotify.client import SpotifyClient
from gitarchive.spotify.fixtures import load_fixture_playlists
from gitarchive.spotify.parse import parse_entry
from gitarchive.spotify.standin import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, StandIn


def _requests_to(server: StandIn, fragment: str, method: str = "GET") -> list[str]:
    return [path for m, path in server.requests if m == method and fragment in path]


def _playlist_with(count: int, pid: str = "0aBcDeFgHiJkLmNoPqRsTu") -> tuple[str, dict]:
    tracks = tuple(
        Track(
            url=f"https://open.spotify.com/track/{i:022d}",
            name=f"Track {i}",
            album=Link("Album", "https://open.spotify.com/album/0000000000000000000001"),
            artists=(Link("Artist", "https://open.spotify.com/artist/0000000000000000000002"),),
            duration_ms=1000 + i,
            added_at="2024-05-01 12:00:00",
        )
        for i in range(count)
    )
    playlist = Playlist(
        url=f"https://open.spotify.com/playlist/{pid}",
        original_name="Long",
        description="",
        owner=Link("someone", "https://open.spotify.com/user/someone"),
        tracks=tracks,
        snapshot_id="snap",
        num_followers=3,
    )
    return pid, api_playlist_from_model(playlist)


# ------------------------------------------------------------------ the fixtures


def test_golden_playlist_round_trips_byte_for_byte(standin: StandInSetup) -> None:
    result = standin.client.get_playlist(SEVENTY)
    archived = dataclasses.replace(result.playlist, unique_name="1970")
    golden = (GOLDEN / f"pretty-{SEVENTY}.json").read_text(encoding="utf-8")
    assert archived.to_json() == golden
    assert result.playlist.unique_name == ""
    assert result.skipped == []


def test_editorial_fixture_matches_the_markdown_snapshot(standin: StandInSetup) -> None:
    playlist = standin.client.get_playlist(BALLADS).playlist
    assert playlist.original_name == "K-Pop Ballad Hits"
    assert playlist.description == (
        "Mellow & sentimental K-Pop ballads. (Cover: BEN(벤)) (당신의 감성에 발라드, 려요)"
    )
    assert playlist.num_followers == 309767
    assert playlist.owner == Link("Spotify", "https://open.spotify.com/user/spotify")
    assert playlist.snapshot_id.startswith("MTY0ODM0Mjc2Mi")
    assert len(playlist.tracks) == 50
    first, last = playlist.tracks[0], playlist.tracks[-1]
    assert (first.name, first.duration_ms, first.added_at) == (
        "Spring Days",
        239_500,
        "2022-03-27 00:00:00",
    )
    assert [a.name for a in playlist.tracks[48].artists] == ["SWEET SORROW", "IU"]
    assert last.url == "https://open.spotify.com/track/5SDjTcJ6zzK9Y4ov3IQxsn"


def test_description_is_html_unescaped_and_keeps_newlines(standin: StandInSetup) -> None:
    raw = load_fixture_playlists()[LONG_MIX]["description"]
    assert "&amp;" in raw and "&quot;" in raw  # escaped as Spotify sends it
    playlist = standin.client.get_playlist(LONG_MIX).playlist
    assert playlist.description == (
        'Songs for *late* shifts: [no links], <b>bold</b> & "quotes"\nLine two_'
    )
    assert playlist.original_name == "Nachtschicht — 深夜 Mix"
    assert playlist.owner.name == "Zoë Ångström"


def test_missing_followers_mean_unknown(standin: StandInSetup) -> None:
    assert standin.client.get_playlist(SMALL_MIX).playlist.num_followers is None


# -------------------------------------------------------------------- paging


def test_pages_past_100_entries_and_skips_what_is_not_a_track(standin: StandInSetup) -> None:
    result = standin.client.get_playlist(LONG_MIX)
    assert len(result.playlist.tracks) == 124
    assert len({t.url for t in result.playlist.tracks}) == 124
    assert _requests_to(standin.server, f"/playlists/{LONG_MIX}/items") == [
        f"/v1/playlists/{LONG_MIX}/items?offset=100&limit=100"
    ]
    assert len(result.skipped) == 3
    episode, local, empty = result.skipped
    assert episode.startswith("entry 8: podcast episode 'Folge 12: Über Musik'")
    assert local.startswith("entry 41: local file 'demo-take-3.mp3'")
    assert empty.startswith("entry 104: empty")


def test_follows_every_next_link(standin: StandInSetup) -> None:
    pid, data = _playlist_with(250)
    standin.server.set_playlist(pid, data)
    playlist = standin.client.get_playlist(pid).playlist
    assert [t.duration_ms for t in playlist.tracks] == [1000 + i for i in range(250)]
    assert _requests_to(standin.server, f"/{pid}/items") == [
        f"/v1/playlists/{pid}/items?offset=100&limit=100",
        f"/v1/playlists/{pid}/items?offset=200&limit=100",
    ]


def test_stand_in_respects_limit_and_caps_it_at_100(standin: StandInSetup) -> None:
    pid, data = _playlist_with(150)
    standin.server.set_playlist(pid, data)
    standin.client.get_playlist(pid)  # gets a token
    token = standin.client.access_token()
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{standin.server.api_base}/playlists/{pid}/items"
    small = requests.get(url, params={"limit": 7, "offset": 3}, headers=headers, timeout=5).json()
    assert len(small["items"]) == 7 and small["next"].endswith("offset=10&limit=7")
    big = requests.get(url, params={"limit": 500}, headers=headers, timeout=5).json()
    assert len(big["items"]) == 100 and big["total"] == 150


def test_fetches_items_when_none_are_embedded(standin: StandInSetup) -> None:
    bare = copy.deepcopy(load_fixture_playlists()[LONG_MIX])
    del bare["items"]
    standin.server.fail_next(f"/playlists/{LONG_MIX}", 200, body=json.dumps(bare))
    assert len(standin.client.get_playlist(LONG_MIX).playlist.tracks) == 124
    assert _requests_to(standin.server, "/items") == [
        f"/v1/playlists/{LONG_MIX}/items?limit=50&offset=0",
        f"/v1/playlists/{LONG_MIX}/items?offset=50&limit=50",
        f"/v1/playlists/{LONG_MIX}/items?offset=100&limit=50",
    ]


@pytest.mark.parametrize("shape", ["old", "both"])
def test_old_and_mixed_shapes_give_the_same_playlist(shape: str) -> None:
    fixtures = load_fixture_playlists()
    with StandIn(fixtures) as new, StandIn(fixtures, shape=shape) as other:  # type: ignore[arg-type]
        results = []
        for server in (new, other):
            with SpotifyClient(
                DEMO_CLIENT_ID,
                DEMO_CLIENT_SECRET,
                api_base=server.api_base,
                token_url=server.token_url,
                sleep=pytest.fail,
            ) as client:
                results.append(client.get_playlist(LONG_MIX))
        assert results[0] == results[1]
        expected_path = "/tracks" if shape == "old" else "/items"
        assert _requests_to(other, f"{LONG_MIX}/")[0].startswith(
            f"/v1/playlists/{LONG_MIX}{expected_path}"
        )


def test_stand_in_answers_403_on_tracks_like_a_development_mode_app(
    standin: StandInSetup,
) -> None:
    standin.client.get_playlist(SMALL_MIX)
    headers = {"Authorization": f"Bearer {standin.client.access_token()}"}
    url = f"{standin.server.api_base}/playlists/{SMALL_MIX}/tracks"
    assert requests.get(url, headers=headers, timeout=5).status_code == 403


def test_forbidden_names_the_likely_causes(standin: StandInSetup) -> None:
    standin.server.fail_next(f"/playlists/{SMALL_MIX}", 403)
    with pytest.raises(ForbiddenError, match="SPOTIFY_REFRESH_TOKEN") as info:
        standin.client.get_playlist(SMALL_MIX)
    assert "development-mode" in str(info.value) and SMALL_MIX in str(info.value)


# ------------------------------------------------------------ retries and errors


def test_429_waits_retry_after_then_succeeds(standin: StandInSetup) -> None:
    standin.server.fail_next(f"/playlists/{SEVENTY}", 429, headers={"Retry-After": "7"})
    assert len(standin.client.get_playlist(SEVENTY).playlist.tracks) == 50
    assert standin.sleeps == [7.0]


def _told_429_in_a_forked_copy(standin: StandInSetup) -> None:
    """A forked copy of the client is told to wait 7 s (its own sleeps are not ours)."""
    standin.client.access_token()
    standin.server.fail_next(f"/playlists/{SEVENTY}", 429, headers={"Retry-After": "7"})
    pid = os.fork()
    if pid == 0:  # the copy: one request, then gone without pytest's teardown
        try:
            standin.client.in_forked_copy()
            standin.client.get_playlist(SEVENTY)
        finally:
            os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0


def test_a_429_told_to_a_forked_copy_pauses_this_process_once_shared(
    standin: StandInSetup,
) -> None:
    standin.client.pause.share()  # as ops/requesthalf does before it forks
    _told_429_in_a_forked_copy(standin)
    standin.client.get_playlist(SEVENTY)
    assert len(standin.sleeps) == 1 and 5.0 < standin.sleeps[0] <= 7.0


def test_a_forked_copy_s_429_stays_its_own_unless_shared(standin: StandInSetup) -> None:
    _told_429_in_a_forked_copy(standin)
    standin.client.get_playlist(SEVENTY)
    assert standin.sleeps == []


def test_429_asking_for_too_long_a_wait_gives_up_at_once(standin: StandInSetup) -> None:
    standin.server.fail_next(f"/playlists/{SEVENTY}", 429, headers={"Retry-After": "3600"})
    with pytest.raises(SpotifyError, match="3600 s"):
        standin.client.get_playlist(SEVENTY)
    assert standin.sleeps == []


def test_server_error_then_success(standin: StandInSetup) -> None:
    standin.server.fail_next(f"/playlists/{SEVENTY}", 500)
    assert len(standin.client.get_playlist(SEVENTY).playlist.tracks) == 50
    assert standin.sleeps == [1.0]
    assert len(_requests_to(standin.server, f"/playlists/{SEVENTY}")) == 2


def test_server_errors_exhaust_the_retry_budget(standin: StandInSetup) -> None:
    client = standin.make_client(max_retries=3)
    standin.server.fail_next(f"/playlists/{SEVENTY}", 503, times=10)
    with pytest.raises(SpotifyError, match=r"after 4 attempts: server error \(HTTP 503\)"):
        client.get_playlist(SEVENTY)
    assert standin.sleeps == [1.0, 2.0, 4.0]
    assert len(_requests_to(standin.server, f"/playlists/{SEVENTY}")) == 4


def test_429s_count_against_the_same_budget(standin: StandInSetup) -> None:
    client = standin.make_client(max_retries=2)
    standin.server.fail_next("/playlists/", 429, times=5, headers={"Retry-After": "1"})
    with pytest.raises(SpotifyError, match="after 3 attempts: rate limited"):
        client.get_playlist(SEVENTY)
    assert standin.sleeps == [1.0, 1.0]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_retried_then_reported(standin: StandInSetup, closed_port: int):
    base = f"http://127.0.0.1:{closed_port}"
    client = standin.make_client(
        api_base=f"{base}/v1", token_url=f"{base}/api/token", max_retries=2
    )
    with pytest.raises(SpotifyError, match="after 3 attempts: no connection"):
        client.get_playlist(SEVENTY)
    assert standin.sleeps == [1.0, 2.0]


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_timeouts_are_retried_then_reported(standin: StandInSetup, silent_server: str) -> None:
    client = standin.make_client(token_url=f"{silent_server}/api/token", timeout=0.2, max_retries=1)
    with pytest.raises(SpotifyError, match="after 2 attempts: timed out"):
        client.get_playlist(SEVENTY)
    assert standin.sleeps == [1.0]


def test_404_for_an_editorial_playlist_explains_why(standin: StandInSetup) -> None:
    standin.server.remove_playlist(BALLADS)
    with pytest.raises(PlaylistNotFound) as info:
        standin.client.get_playlist(BALLADS)
    assert info.value.pid == BALLADS
    assert "since 2024-11-27 Spotify does not serve its own editorial" in str(info.value)
    assert standin.sleeps == []  # a 404 is an answer, not a failure to retry


def test_404_for_a_user_playlist_has_no_editorial_hint(standin: StandInSetup) -> None:
    with pytest.raises(PlaylistNotFound) as info:
        standin.client.get_playlist("1a2b3c4d5e6f7g8h9i0jKL")
    assert "1a2b3c4d5e6f7g8h9i0jKL" in str(info.value)
    assert "2024-11-27" not in str(info.value)


def test_malformed_json_is_a_playlist_error(standin: StandInSetup) -> None:
    standin.server.fail_next(f"/playlists/{SEVENTY}", 200, body='{"name": "1970", ')
    with pytest.raises(PlaylistError, match=f"playlist {SEVENTY}: .*not valid JSON"):
        standin.client.get_playlist(SEVENTY)


@pytest.mark.parametrize(
    ("breakage", "named"),
    [
        (lambda d: d.pop("name"), "'name'"),
        (lambda d: d.pop("owner"), "'owner'"),
        (lambda d: d["items"]["items"][3]["item"].pop("duration_ms"), "'duration_ms'"),
        (lambda d: d["items"]["items"][3]["item"].update(artists=None), "'artists' is null"),
        (lambda d: d["items"]["items"].insert(0, "junk"), "entry 1 is not an object"),
        (lambda d: d["items"]["items"][0].update(added_at="yesterday"), "'yesterday'"),
    ],
)
def test_missing_or_wrong_fields_are_playlist_errors(
    standin: StandInSetup, breakage, named: str
) -> None:
    data = copy.deepcopy(load_fixture_playlists()[SEVENTY])
    breakage(data)
    standin.server.set_playlist(SEVENTY, data)
    with pytest.raises(PlaylistError) as info:
        standin.client.get_playlist(SEVENTY)
    assert SEVENTY in str(info.value) and named in str(info.value)


# ---------------------------------------------------------------- credentials


def test_token_is_fetched_once_and_reused(standin: StandInSetup) -> None:
    for pid in (SEVENTY, BALLADS, SMALL_MIX):
        standin.client.get_playlist(pid)
    assert len(_requests_to(standin.server, "/api/token", "POST")) == 1


def test_expired_token_is_refreshed_once(standin: StandInSetup) -> None:
    standin.client.get_playlist(SEVENTY)
    standin.server.expire_tokens()
    assert len(standin.client.get_playlist(SEVENTY).playlist.tracks) == 50
    assert len(_requests_to(standin.server, "/api/token", "POST")) == 2
    assert standin.sleeps == []


def test_a_second_401_is_a_credentials_error(standin: StandInSetup) -> None:
    standin.server.fail_next(f"/playlists/{SEVENTY}", 401, times=2)
    with pytest.raises(CredentialsError, match="401 twice"):
        standin.client.get_playlist(SEVENTY)
    assert len(_requests_to(standin.server, "/api/token", "POST")) == 2


def test_rejected_credentials(standin: StandInSetup) -> None:
    client = standin.make_client(client_secret="not-the-secret-0xC0FFEE")
    with pytest.raises(CredentialsError) as info:
        client.get_playlist(SEVENTY)
    message = str(info.value)
    assert (
        "Spotify rejected the credentials in SPOTIFY_CLIENT_ID / SPOTIFY_CLIENT_SECRET" in message
    )
    assert "invalid_client" in message
    assert "not-the-secret-0xC0FFEE" not in message + repr(client)


def test_refresh_token_grant_from_env(standin: StandInSetup) -> None:
    env = {
        "SPOTIFY_CLIENT_ID": DEMO_CLIENT_ID,
        "SPOTIFY_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "SPOTIFY_REFRESH_TOKEN": standin.server.refresh_token,
        "SPOTIFY_API_BASE": standin.server.api_base,
        "SPOTIFY_TOKEN_URL": standin.server.token_url,
    }
    with SpotifyClient.from_env(env) as client:
        assert client.get_playlist(SMALL_MIX).playlist.original_name == "Café | Büro #1"
        assert "user token" in repr(client)
    bad = dict(env, SPOTIFY_REFRESH_TOKEN="stale-refresh-token-123")
    with SpotifyClient.from_env(bad) as client, pytest.raises(CredentialsError) as info:
        client.get_playlist(SMALL_MIX)
    assert "SPOTIFY_REFRESH_TOKEN" in str(info.value)
    assert "stale-refresh-token-123" not in str(info.value) + repr(client)


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET are not set"),
        ({"SPOTIFY_CLIENT_ID": "abc"}, "SPOTIFY_CLIENT_SECRET is not set"),
        ({"SPOTIFY_CLIENT_SECRET": "s3cr3t", "SPOTIFY_CLIENT_ID": " "}, "SPOTIFY_CLIENT_ID is not"),
    ],
)
def test_missing_env_variables_are_named(env: dict[str, str], missing: str) -> None:
    with pytest.raises(CredentialsError, match=missing) as info:
        SpotifyClient.from_env(env)
    assert "s3cr3t" not in str(info.value)


def test_env_defaults_to_the_real_api() -> None:
    client = SpotifyClient.from_env({"SPOTIFY_CLIENT_ID": "a", "SPOTIFY_CLIENT_SECRET": "b"})
    assert client.api_base == "https://api.spotify.com/v1"
    assert client.token_url == "https://accounts.spotify.com/api/token"


def test_no_message_ever_contains_the_secret_or_a_token(
    standin: StandInSetup, closed_port: int
) -> None:
    secret = "very-secret-value-42"
    server = StandIn(load_fixture_playlists(), client_secret=secret)
    messages: list[str] = []
    with server:
        scenarios = [
            lambda: server.fail_next("/api/token", 503, times=9),
            lambda: server.fail_next("/playlists/", 401, times=2),
            lambda: server.fail_next("/playlists/", 403),
            lambda: server.fail_next("/playlists/", 200, body="<html>"),
            lambda: server.fail_next("/playlists/", 429, headers={"Retry-After": "999"}),
            lambda: server.remove_playlist(BALLADS),
        ]
        tokens: list[str] = []
        for scenario in scenarios:
            # A client per scenario: a failed token endpoint ends a client's run (one budget).
            client = standin.make_client(
                client_secret=secret, api_base=server.api_base, token_url=server.token_url
            )
            scenario()
            with pytest.raises(SpotifyError) as info:
                client.get_playlist(BALLADS)
            tokens.extend(server.issued_tokens())
            error: BaseException | None = info.value
            while error is not None:
                messages.append(f"{error!s} {error!r}")
                error = error.__cause__ or error.__context__
        messages.append(repr(client))
    wrong = standin.make_client(client_secret=secret)  # rejected by the default stand-in
    with pytest.raises(CredentialsError) as info:
        wrong.get_playlist(BALLADS)
    messages.append(f"{info.value} {info.value!r} {wrong!r}")
    refused = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(SpotifyError) as info:
        standin.make_client(client_secret=secret, token_url=refused, max_retries=0).get_playlist(
            BALLADS
        )
    messages.append(str(info.value))
    text = "\n".join(messages)
    assert secret not in text
    assert tokens and all(token not in text for token in tokens)


# ---------------------------------------------------------------- entries


def test_null_local_and_episode_entries_are_skipped_with_notes(standin: StandInSetup) -> None:
    pid, data = _playlist_with(3)
    entries = data["items"]["items"]
    entries[1:1] = [null_entry(), local_file_entry("rec.wav", "Me"), episode_entry("Ep", "e" * 22)]
    standin.server.set_playlist(pid, data)
    result = standin.client.get_playlist(pid)
    assert [t.name for t in result.playlist.tracks] == ["Track 0", "Track 1", "Track 2"]
    assert result.skipped == [
        "entry 2: empty (the track was removed or is unavailable)",
        "entry 3: local file 'rec.wav' (it has no Spotify ID)",
        "entry 4: podcast episode 'Ep' (episodes are not archived)",
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2013-06-27T14:03:25Z", "2013-06-27 14:03:25"),
        ("2013-06-27T16:03:25+02:00", "2013-06-27 14:03:25"),
        ("1970-01-01T00:00:00Z", None),  # Spotify's placeholder for "unknown"
        (None, None),
    ],
)
def test_added_at_conversion(raw: str | None, expected: str | None) -> None:
    entry = {
        "added_at": raw,
        "track": {
            "id": "5LFtkeNjLpZAey3Arj3h4M",
            "name": "x",
            "album": {"name": "a", "id": "25irJgxRNTlyg8pUmWfDVG"},
            "artists": [{"name": "b"}],
            "duration_ms": 1,
        },
    }
    track = parse_entry(entry, 1)
    assert isinstance(track, Track)
    assert track.added_at == expected
    assert track.url == "https://open.spotify.com/track/5LFtkeNjLpZAey3Arj3h4M"
    assert track.album.url == "https://open.spotify.com/album/25irJgxRNTlyg8pUmWfDVG"
    assert track.artists == (Link("b", ""),)
