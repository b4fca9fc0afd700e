"""Issue 13: one bad answer from Spotify fails only its own playlist; nothing hangs.

Every case goes through the real requests path to the stand-in and the real fetch
command; the fuzz test also drives the parse boundary directly with arbitrary JSON.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cli_support import KPOP, LONG, SMALL, new_archive, run
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gitarchive import exitcodes
from gitarchive.archive import layout, render
from gitarchive.archive.model import tracks_print
from gitarchive.errors import CredentialsError, PlaylistError, SnapshotError
from gitarchive.git.store import Store
from gitarchive.ops.fetch import fetch
from gitarchive.spotify import client as spotify
from gitarchive.spotify import paging, parse
from gitarchive.spotify.fixtures import load_fixture_playlists
from gitarchive.spotify.parse import parse_entry, parse_playlist
from gitarchive.spotify.standin import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, StandIn

OLD = "09D0CKBRWkBBoPn46V6YTO"
FIXTURES = load_fixture_playlists()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    with StandIn(FIXTURES) as server:
        monkeypatch.setenv("SPOTIFY_CLIENT_ID", DEMO_CLIENT_ID)
        monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", DEMO_CLIENT_SECRET)
        monkeypatch.delenv("SPOTIFY_REFRESH_TOKEN", raising=False)
        monkeypatch.setenv("SPOTIFY_API_BASE", server.api_base)
        monkeypatch.setenv("SPOTIFY_TOKEN_URL", server.token_url)
        monkeypatch.setattr(spotify, "backoff", lambda failures: 0.0)  # no real waits
        yield server




def entry(data: dict[str, Any], n: int = 0) -> dict[str, Any]:
    return data["items"]["items"][n]


def surrogate(d: dict[str, Any]) -> None:
    d["name"] = "x\udc80"


CASES: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("added_at overflow",
     lambda d: entry(d).update(added_at="0001-01-01T00:00:00+14:00"), "'added_at'"),
    ("description object", lambda d: d.update(description={"html": "x"}), "'description'"),
    ("numeric snapshot_id", lambda d: d.update(snapshot_id=42), "'snapshot_id'"),
    ("owner without name or id",
     lambda d: d["owner"].update(display_name=None, id=None), "'owner'"),
    ("external_urls names another playlist",
     lambda d: d["external_urls"].update(spotify=f"https://open.spotify.com/playlist/{OLD}"),
     "names another playlist"),
    ("lone surrogate in the name", surrogate, "'name'"),
    # a track's texts are checked by the encoding of its print: the checked parse names them
    ("lone surrogate in a track's name",
     lambda d: entry(d, 1)["item"].update(name="y\ud800"), "entry 2: 'name'"),
    ("lone surrogate in an artist's name",
     lambda d: entry(d)["item"]["artists"][0].update(name="\udfff"), "'artists'[0]: 'name'"),
    ("lone surrogate in an album's URL",
     lambda d: entry(d)["item"]["album"]["external_urls"].update(spotify="https://x/\udc00"),
     "'album': 'external_urls.spotify'"),
    ("null album", lambda d: entry(d)["item"].update(album=None), "'album' is null"),
    ("null artists", lambda d: entry(d)["item"].update(artists=None), "'artists' is null"),
    ("negative duration", lambda d: entry(d)["item"].update(duration_ms=-5), "'duration_ms'"),
    ("huge duration", lambda d: entry(d)["item"].update(duration_ms=1e300), "'duration_ms'"),
    ("artist not an object", lambda d: entry(d)["item"].update(artists=[3]), "'artists'[0]"),
    ("external_urls a list", lambda d: entry(d)["item"].update(external_urls=[1]),
     "'external_urls'"),
]


@pytest.mark.parametrize(("label", "breakage", "named"), CASES, ids=[c[0] for c in CASES])
def test_one_bad_field_fails_only_its_playlist(
    api: StandIn, tmp_path: Path, label: str, breakage: Callable[[dict[str, Any]], object],
    named: str,
) -> None:
    repo = new_archive(tmp_path, SMALL, LONG)
    data = copy.deepcopy(FIXTURES[SMALL])
    breakage(data)
    api.set_playlist(SMALL, data)
    code, out = run("fetch", "--repo", str(repo), "--no-cumulative")
    assert code == exitcodes.PARTIAL, out
    error = next(line for line in out.splitlines() if line.startswith("error:"))
    assert SMALL in error and named in error, error
    store = Store(repo)
    assert store.read(layout.pretty_json_path(LONG)) is not None  # the other one committed
    assert store.read(layout.pretty_json_path(SMALL)) is None


def test_retry_after_nan_is_a_plain_back_off(api: StandIn, tmp_path: Path) -> None:
    repo = new_archive(tmp_path, SMALL, LONG)
    api.fail_next(f"/playlists/{SMALL}", 429, headers={"Retry-After": "nan"})
    code, out = run("fetch", "--repo", str(repo), "--no-cumulative")
    assert code == exitcodes.OK, out
    api.fail_next(f"/playlists/{SMALL}", 429, headers={"Retry-After": "nan"}, times=20)
    api.set_playlist(LONG, {**FIXTURES[LONG], "name": "Renamed"})
    code, out = run("fetch", "--repo", str(repo), "--no-cumulative")
    assert code == exitcodes.PARTIAL, out
    assert "Renamed" in Store(repo).read(layout.plain_path(LONG)).decode()


def test_negative_followers_are_unknown_not_stored(api: StandIn, tmp_path: Path) -> None:
    repo = new_archive(tmp_path, SMALL)
    api.set_playlist(SMALL, {**FIXTURES[SMALL], "followers": {"total": -3}})
    assert run("fetch", "--repo", str(repo), "--no-cumulative")[0] == exitcodes.OK
    snapshot = json.loads(Store(repo).read(layout.pretty_json_path(SMALL)))
    assert snapshot["num_followers"] is None


def test_deeply_nested_answer_fails_only_its_playlist(api: StandIn, tmp_path: Path) -> None:
    repo = new_archive(tmp_path, SMALL, LONG)
    api.fail_next(f"/playlists/{SMALL}", 200, body="[" * 200_000, times=10)
    code, out = run("fetch", "--repo", str(repo), "--no-cumulative")
    assert code == exitcodes.PARTIAL, out
    assert f"playlist {SMALL}: Spotify's answer is not valid JSON" in out


# ----------------------------------------------------------------- hangs


@pytest.mark.parametrize("paging", ["loop", "endless"])
def test_broken_next_links_fail_the_playlist(
    api: StandIn, tmp_path: Path, paging: str
) -> None:
    repo = new_archive(tmp_path, LONG, SMALL)
    api.set_paging(LONG, paging)  # type: ignore[arg-type]
    code, out = run("fetch", "--repo", str(repo), "--no-cumulative")
    assert code == exitcodes.PARTIAL, out
    assert f"playlist {LONG}: Spotify's paging" in out
    assert len(api.requests) < 20  # stopped at once, not after pages and pages


def test_hard_page_cap(api: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """No `total` to go by: the page cap ends it."""
    monkeypatch.setattr(paging, "MAX_PAGES", 5)
    api.set_paging(LONG, "untotalled")
    client = spotify.SpotifyClient(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, api_base=api.api_base,
                                   token_url=api.token_url)
    with client, pytest.raises(PlaylistError, match="more than 5 pages"):
        client.get_playlist(LONG)


def test_token_endpoint_down_spends_one_budget_per_run(api: StandIn, tmp_path: Path) -> None:
    repo = new_archive(tmp_path, SMALL, LONG, OLD, KPOP)
    api.fail_next("/api/token", 503, times=1000)
    with spotify.SpotifyClient(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, api_base=api.api_base,
                               token_url=api.token_url, sleep=lambda s: None) as client:
        with pytest.raises(CredentialsError, match="no playlist can be fetched"):
            fetch(Store(repo), client, jobs=4)
        tokens = [path for _, path in api.requests if path.startswith("/api/token")]
        assert len(tokens) == client.max_retries + 1  # once for the run, not per playlist
    code, out = run("fetch", "--repo", str(repo))
    assert code == exitcodes.NOTHING_FETCHED, out
    assert "nothing was written" in out


# ------------------------------------------------------------------ fuzz

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every field path of a JSON document (dict keys and list indexes)."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


def _small_answer() -> dict[str, Any]:
    data = copy.deepcopy(FIXTURES[SMALL])
    data["items"]["items"] = data["items"]["items"][:3]
    return data


PATHS = list(_paths(_small_answer()))


def _replace(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(data)
    target: Any = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return broken


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=JSON)
def test_fuzz_parse_boundary(path: tuple[Any, ...], value: Any) -> None:
    """Any JSON value in any field: a playlist, or PlaylistError naming it; never a crash,
    and what passes renders and encodes (nothing odd gets past the boundary)."""
    data = _replace(_small_answer(), path, value)
    page = data.get("items") if isinstance(data, dict) else None
    try:
        result = parse_playlist(SMALL, data, [page])
    except PlaylistError as exc:
        assert f"playlist {SMALL}" in str(exc)
        return
    playlist = result.playlist
    assert playlist.id == SMALL
    assert result.tracks_print == tracks_print(playlist.tracks)  # made by the parse, the same
    render.plain(playlist).encode()
    render.pretty_md(playlist).encode()
    render.pretty_json(playlist).encode()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), value=JSON)
def test_fuzz_through_http_other_playlists_commit(
    api: StandIn, path: tuple[Any, ...], value: Any
) -> None:
    """The same through requests, the stand-in and a real fetch: LONG always commits."""
    api.set_playlist(SMALL, _replace(_small_answer(), path, value))
    with tempfile.TemporaryDirectory() as tmp:
        repo = new_archive(Path(tmp), SMALL, LONG)
        code, out = run("fetch", "--repo", str(repo))
        assert code in (exitcodes.OK, exitcodes.PARTIAL), out
        assert Store(repo).read(layout.pretty_json_path(LONG)) is not None


def test_connection_broken_mid_answer_is_retried_then_fails_alone(
    api: StandIn, tmp_path: Path
) -> None:
    repo = new_archive(tmp_path, SMALL, LONG)
    api.fail_next(f"/playlists/{SMALL}", 200, body=json.dumps(FIXTURES[SMALL]), cut=True)
    code, out = run("fetch", "--repo", str(repo), "--no-cumulative")
    assert code == exitcodes.OK, out  # one broken answer: retried
    api.fail_next(f"/playlists/{SMALL}", 200, body=json.dumps(FIXTURES[SMALL]), cut=True,
                  times=20)
    api.set_playlist(LONG, {**FIXTURES[LONG], "name": "Renamed"})
    code, out = run("fetch", "--repo", str(repo), "--no-cumulative")
    assert code == exitcodes.PARTIAL, out
    assert "connection broken" in out
    assert "Renamed" in Store(repo).read(layout.plain_path(LONG)).decode()


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1000, 1, 1)))
def test_added_at_short_cut_equals_the_full_parse(moment: Any) -> None:
    """Spotify's `...Z` form skips datetime arithmetic; the answer is the same."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    assume(not text.startswith("1970-01-01T00:00:00"))  # the placeholder: unknown, by design
    assert parse.api_added_at(text) == moment.strftime("%Y-%m-%d %H:%M:%S")
    assert parse.api_added_at(text.replace("Z", "+00:00")) == parse.api_added_at(text)


def test_added_at_that_is_no_date_still_fails() -> None:
    with pytest.raises(SnapshotError, match="added_at"):
        parse.api_added_at("2024-13-01T00:00:00Z", "entry 1")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from([p for p in PATHS if p[:2] == ("items", "items") and len(p) > 2]),
       value=JSON)
def test_fuzz_entries_read_as_the_checked_parse_reads_them(
    path: tuple[Any, ...], value: Any
) -> None:
    """parse_playlist reads usual entries by a short cut: every entry, however odd, comes
    out as parse_entry (every field checked) reads it — the same track, note or error."""
    data = _replace(_small_answer(), path, value)
    expected: list[Any] = []
    for position, raw in enumerate(data["items"]["items"], start=1):
        try:
            expected.append(parse_entry(raw, position))
        except SnapshotError as exc:
            expected.append(f"error: {exc}")
    errors = [e for e in expected if isinstance(e, str) and e.startswith("error: ")]
    try:
        result = parse_playlist(SMALL, data, [data["items"]])
    except PlaylistError as exc:
        assert errors, exc
        assert errors[0][len("error: "):] in str(exc)
        return
    assert not errors
    assert list(result.playlist.tracks) == [e for e in expected if not isinstance(e, str)]
    assert result.tracks_print == tracks_print(result.playlist.tracks)
    assert result.skipped == [e for e in expected if isinstance(e, str)]


def test_a_nul_in_a_track_text_leaves_no_print_and_parses() -> None:
    """No print for texts holding its separator (nothing is reused for them); the
    playlist itself is read as before."""
    data = _small_answer()
    data["items"]["items"][0]["item"]["name"] = "a\x00b"
    result = parse_playlist(SMALL, data, [data["items"]])
    assert result.playlist.tracks[0].name == "a\x00b"
    assert result.tracks_print is None
    assert parse_playlist(SMALL, _small_answer(), [_small_answer()["items"]]).tracks_print


@pytest.mark.parametrize("change", [
    lambda e: e["item"].update(artists=[]),
    lambda e: e["item"]["artists"].append(copy.deepcopy(e["item"]["artists"][0])),
    lambda e: e.update(added_by={"id": "friend"}),
    lambda e: e.update(added_at=None),
    lambda e: e.update(added_at="1970-01-01T00:00:00Z"),
    lambda e: e.update(added_at="2024-02-29T23:59:59+01:00"),  # not Spotify's form: full path
    lambda e: e["item"]["artists"][0].update(name="nul\x00inside"),
    lambda e: e["item"]["album"].update(name="caf\u00e9 \U0001f600"),
], ids=["no artists", "two artists", "added_by", "no time", "placeholder time",
        "offset time", "NUL in an artist", "non-ASCII album"])
def test_the_parse_prints_as_tracks_print(change: Callable[[dict[str, Any]], object]) -> None:
    data = _small_answer()
    for entry in data["items"]["items"][:2]:
        change(entry)
    result = parse_playlist(SMALL, data, [data["items"]])
    assert result.tracks_print == tracks_print(result.playlist.tracks)


@pytest.mark.parametrize("held", [1, "text", {"an": "object"}, True])
def test_a_page_whose_items_are_no_list_fails_alone(
    api: StandIn, tmp_path: Path, held: Any
) -> None:
    """Served as it is (the stand-in used to crash on it: hypothesis found it)."""
    answer = _small_answer()
    answer["items"]["items"] = held
    api.set_playlist(SMALL, answer)
    repo = new_archive(tmp_path, SMALL, LONG)
    code, out = run("fetch", "--repo", str(repo))
    assert code == exitcodes.PARTIAL, out
    assert SMALL in out and Store(repo).read(layout.pretty_json_path(LONG)) is not None
    assert Store(repo).read(layout.pretty_json_path(SMALL)) is None
