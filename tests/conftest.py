"""Shared fixtures: a running Spotify stand-in and a client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from gitarchive.spotify.client import SpotifyClient
from gitarchive.spotify.fixtures import load_fixture_playlists
from gitarchive.spotify.standin import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, StandIn


@dataclass
class StandInSetup:
    """The server, a client talking to it over real HTTP, and the waits the client asked for."""

    server: StandIn
    client: SpotifyClient
    sleeps: list[float] = field(default_factory=list)

    def make_client(self, **kwargs: object) -> SpotifyClient:
        """Another client for the same server (other credentials, budget ...), sleeps recorded."""
        options: dict[str, object] = {
            "api_base": self.server.api_base,
            "token_url": self.server.token_url,
            "sleep": self.sleeps.append,
            "timeout": 5,
        }
        options.update(kwargs)
        client_id = options.pop("client_id", DEMO_CLIENT_ID)
        secret = options.pop("client_secret", DEMO_CLIENT_SECRET)
        return SpotifyClient(client_id, secret, **options)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _hermetic_git(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every test sees the same git: no user or system config, a fixed identity.

    CI and a fresh machine have no ~/.gitconfig; the tests must not depend on one.
    """
    home = tmp_path_factory.getbasetemp() / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    # A saved 'gitarchive login' is per test: none unless the test signs in.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "gitarchive tests")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "tests@gitarchive.invalid")


@pytest.fixture
def standin() -> Iterator[StandInSetup]:
    """A stand-in serving the fixture playlists, and a client that records sleeps instead."""
    with StandIn(load_fixture_playlists()) as server:
        setup = StandInSetup(server, client=None)  # type: ignore[arg-type]
        setup.client = setup.make_client()
        with setup.client:
            yield setup


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """The stand-in API serving the bundled fixtures, the client's env pointed at it (the
    commands run as on 2026-03-01 06:00 UTC unless a test sets GIT_COMMITTER_DATE)."""
    with StandIn(load_fixture_playlists()) as server:
        monkeypatch.setenv("SPOTIFY_CLIENT_ID", DEMO_CLIENT_ID)
        monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", DEMO_CLIENT_SECRET)
        monkeypatch.delenv("SPOTIFY_REFRESH_TOKEN", raising=False)
        monkeypatch.setenv("SPOTIFY_API_BASE", server.api_base)
        monkeypatch.setenv("SPOTIFY_TOKEN_URL", server.token_url)
        monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-03-01T06:00:00Z")
        yield server
