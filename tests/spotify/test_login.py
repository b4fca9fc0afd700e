"""gitarchive login / logout / whoami, driven through real HTTP on 127.0.0.1.

The stand-in plays Spotify's accounts service; a small "browser" here follows its
302 to gitarchive's loopback server, exactly what a real browser does after the
user approves.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from click.testing import CliRunner

from gitarchive import exitcodes
from gitarchive.cli import main
from gitarchive.errors import CredentialsError
from gitarchive.spotify import auth, credentials
from gitarchive.spotify.client import SpotifyClient
from gitarchive.spotify.fixtures import load_fixture_playlists
from gitarchive.spotify.standin import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, StandIn
from gitarchive.spotify.standin_users import s256

SMALL = "3xQmR8vDemoSmallMix002"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """A development-mode stand-in; SMALL belongs to the user who signs in."""
    playlists = load_fixture_playlists()
    playlists[SMALL]["owner"] = {**playlists[SMALL]["owner"], "id": "demo-user"}
    with StandIn(playlists, mode="development") as standin:
        monkeypatch.setenv("SPOTIFY_CLIENT_ID", DEMO_CLIENT_ID)
        monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", DEMO_CLIENT_SECRET)
        monkeypatch.setenv("SPOTIFY_API_BASE", standin.api_base)
        monkeypatch.setenv("SPOTIFY_TOKEN_URL", standin.token_url)
        monkeypatch.setenv("SPOTIFY_AUTHORIZE_URL", standin.authorize_url)
        monkeypatch.delenv("SPOTIFY_REFRESH_TOKEN", raising=False)
        yield standin


class Browser:
    """Opens the authorize URL, follows the stand-in's 302 to the loopback server."""

    def __init__(self, tamper: Callable[[str], str] = lambda url: url) -> None:
        self.tamper = tamper
        self.pages: list[tuple[int, str]] = []
        self.opened: list[str] = []

    def open(self, url: str) -> bool:
        self.opened.append(url)
        answer = requests.get(url, allow_redirects=False, timeout=5)
        assert answer.status_code == 302, answer.text
        requests.get("http://" + urlsplit(answer.headers["Location"]).netloc + "/favicon.ico",
                     timeout=5)  # browsers ask for other things too: ignored
        page = requests.get(self.tamper(answer.headers["Location"]), timeout=5)
        self.pages.append((page.status_code, page.text))
        return True


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def login(monkeypatch: pytest.MonkeyPatch, browser: Browser, *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("DISPLAY", ":0")  # a desktop: the browser opens
    monkeypatch.setattr(auth, "LOGIN_TIMEOUT", 10.0)  # a broken test fails, not hangs
    monkeypatch.setattr("webbrowser.open", browser.open)
    return invoke("login", "--port", "0", *args)


def saved_path() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "gitarchive" / "credentials"


def test_login_saves_a_refresh_token_that_every_command_then_uses(
    server: StandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    browser = Browser()
    code, out, err = login(monkeypatch, browser)
    assert code == 0, err
    url = browser.opened[0]
    assert url in out.splitlines()  # the URL on a line of its own
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"][0].startswith("http://127.0.0.1:")
    assert query["redirect_uri"][0].endswith("/callback")
    assert set(query["scope"][0].split()) == set(auth.SCOPES)
    assert browser.pages[-1][0] == 200 and "Signed in" in browser.pages[-1][1]
    assert "Signed in as Demo User (demo-user)" in out
    path = saved_path()
    assert str(path) in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    saved = json.loads(path.read_text())
    assert saved["client_id"] == DEMO_CLIENT_ID
    assert saved["refresh_token"] not in out + err
    assert [p.name for p in path.parent.iterdir()] == ["credentials"]  # no temporary left

    code, out, _ = invoke("whoami")
    assert code == 0
    assert "User: Demo User (demo-user)" in out
    assert f"user token (refresh token from {path})" in out
    assert "Scopes: " + " ".join(sorted(auth.SCOPES)) in out  # sorted: one order every time
    assert saved["refresh_token"] not in out

    # fetch uses the saved login: in development mode only a user token reads the items.
    repo = tmp_path / "archive"
    assert invoke("init", str(repo))[0] == 0
    assert invoke("add", SMALL, "--repo", str(repo))[0] == 0
    code, out, err = invoke("fetch", "--repo", str(repo))
    assert code == exitcodes.OK, err
    assert (repo / "playlists" / "pretty" / f"{SMALL}.json").exists()

    code, out, _ = invoke("logout")
    assert code == 0 and str(path) in out and not path.exists()
    assert "no saved login" in invoke("logout")[1]
    code, out, _ = invoke("whoami")
    assert code == 0 and "app token (client credentials)" in out and "User: none" in out


def test_without_a_browser_the_printed_url_is_enough(server: StandIn) -> None:
    """No browser (or one that fails): the user opens the printed URL by hand."""
    shown: list[str] = []
    browser = Browser()

    def show_url(url: str, redirect_uri: str) -> None:
        shown.append(url)
        threading.Thread(target=browser.open, args=(url,), daemon=True).start()

    def no_browser(url: str) -> bool:
        raise RuntimeError("could not locate runnable browser")

    app = auth.AppConfig.from_env()
    result = auth.login(app, port=0, show_url=show_url, open_browser=no_browser, timeout=10)
    assert shown and result.user_id == "demo-user"
    assert set(result.scope.split()) == set(auth.SCOPES)
    assert "refresh" not in repr(result) and result.refresh_token not in repr(result)


def test_no_browser_is_started_without_a_display(
    server: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over SSH the URL is printed and no (text) browser takes over the terminal."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):
        monkeypatch.delenv(name, raising=False)
    if sys.platform in ("darwin", "win32"):
        pytest.skip("desktops always have a browser")
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    monkeypatch.setattr(auth, "LOGIN_TIMEOUT", 0.2)  # nobody will answer
    code, out, err = invoke("login", "--port", "0")
    assert code == 1 and "no answer from Spotify" in err
    assert not opened and "/authorize?" in out


def test_print_writes_only_the_token_on_stdout_and_saves_nothing(
    server: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = Browser()
    code, out, err = login(monkeypatch, browser, "--print")
    assert code == 0, err
    token = out.strip()
    assert out == token + "\n" and len(token) > 20
    assert browser.opened[0] in err.splitlines()
    assert not saved_path().exists()
    # The printed token works as SPOTIFY_REFRESH_TOKEN (a CI secret).
    monkeypatch.setenv("SPOTIFY_REFRESH_TOKEN", token)
    code, out, _ = invoke("whoami")
    assert code == 0 and "demo-user" in out and "from SPOTIFY_REFRESH_TOKEN" in out


@pytest.mark.parametrize("forged", ["someone-elses-state", "é-not-ascii", ""])
def test_a_forged_state_is_refused_and_nothing_is_saved(
    server: StandIn, monkeypatch: pytest.MonkeyPatch, forged: str
) -> None:
    def forge(location: str) -> str:
        parts = urlsplit(location)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        query["state"] = forged
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query),
                           parts.fragment))

    browser = Browser(tamper=forge)
    code, out, err = login(monkeypatch, browser)
    assert code == 1 and "state" in err and "nothing was saved" in err
    assert browser.pages[-1][0] == 400
    assert not saved_path().exists()


def test_an_idle_browser_connection_does_not_hold_up_the_redirect(
    server: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Browsers open speculative connections they may never use."""
    held: list[socket.socket] = []
    browser = Browser()
    real_open = browser.open

    def preconnecting(url: str) -> bool:
        redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        sock = socket.create_connection((urlsplit(redirect).hostname,
                                         urlsplit(redirect).port), timeout=5)
        held.append(sock)
        threading.Timer(20, sock.close).start()  # were it to block, fail instead of hanging
        return real_open(url)

    browser.open = preconnecting  # type: ignore[method-assign]
    try:
        code, _, err = login(monkeypatch, browser)
    finally:
        for sock in held:
            sock.close()
    assert code == 0, err and held


def test_a_refused_sign_in_says_so(server: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    server.users.deny_next = True
    code, _, err = login(monkeypatch, Browser())
    assert code == 1 and "access_denied" in err and not saved_path().exists()


def test_a_busy_port_is_a_clear_error(server: StandIn) -> None:
    with auth.CallbackServer(0, "s") as busy:
        port = int(urlsplit(busy.redirect_uri).port or 0)
        code, _, err = invoke("login", "--port", str(port), "--no-browser")
    assert code == 1 and f"127.0.0.1:{port}" in err and "--port" in err


def test_login_needs_the_app_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPOTIFY_CLIENT_ID", raising=False)
    monkeypatch.delenv("SPOTIFY_CLIENT_SECRET", raising=False)
    code, _, err = invoke("login", "--port", "0", "--no-browser")
    assert code == 1 and "SPOTIFY_CLIENT_ID" in err and "Traceback" not in err


def test_the_stand_in_checks_the_pkce_verifier_and_uses_a_code_once(server: StandIn) -> None:
    verifier = auth.new_verifier()
    assert 43 <= len(verifier) <= 128 and auth.code_challenge(verifier) == s256(verifier)
    redirect = "http://127.0.0.1:9/callback"
    url = auth.authorize_url(auth.AppConfig.from_env(), redirect, s256(verifier), "st")
    location = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    answer = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert answer["state"] == "st"
    form = {"grant_type": "authorization_code", "code": answer["code"],
            "redirect_uri": redirect, "code_verifier": "x" * 50}
    auth_pair = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    wrong = requests.post(server.token_url, data=form, auth=auth_pair, timeout=5)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # The code was spent by the failed attempt, as with a real authorization server.
    again = requests.post(server.token_url, data={**form, "code_verifier": verifier},
                          auth=auth_pair, timeout=5)
    assert again.status_code == 400
    # The refresh token of a good exchange answers with the scopes.
    location = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    answer = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    good = requests.post(server.token_url, auth=auth_pair, timeout=5,
                         data={**form, "code": answer["code"], "code_verifier": verifier})
    assert good.status_code == 200 and "refresh_token" in good.json()
    refreshed = requests.post(server.token_url, auth=auth_pair, timeout=5, data={
        "grant_type": "refresh_token", "refresh_token": good.json()["refresh_token"]})
    assert set(refreshed.json()["scope"].split()) == set(auth.SCOPES)
    assert server.token_user("Bearer " + refreshed.json()["access_token"]) == "demo-user"
    app_token = requests.post(server.token_url, auth=auth_pair, timeout=5,
                              data={"grant_type": "client_credentials"}).json()["access_token"]
    assert server.token_user("Bearer " + app_token) is None


def test_login_says_when_the_environment_will_win(
    server: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOTIFY_REFRESH_TOKEN", server.refresh_token)
    code, _, err = login(monkeypatch, Browser())
    assert code == 0 and "SPOTIFY_REFRESH_TOKEN is set and wins" in err
    assert saved_path().exists()


def test_the_environment_wins_over_the_saved_login(
    server: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials.save(credentials.SavedLogin(DEMO_CLIENT_ID, "saved-but-revoked"))
    monkeypatch.setenv("SPOTIFY_REFRESH_TOKEN", server.refresh_token)
    code, out, _ = invoke("whoami")
    assert code == 0 and "from SPOTIFY_REFRESH_TOKEN" in out
    monkeypatch.delenv("SPOTIFY_REFRESH_TOKEN")
    code, _, err = invoke("whoami")  # now the saved (revoked) one is used, and refused
    assert code == exitcodes.NOTHING_FETCHED  # credentials rejected, as for fetch
    assert "rejected" in err and "saved-but-revoked" not in err


def test_a_saved_login_for_another_app_or_a_broken_file_is_a_clear_error(
    server: StandIn,
) -> None:
    credentials.save(credentials.SavedLogin("another-app", "rt-other-app-0000"))
    with pytest.raises(CredentialsError, match="another-app.*gitarchive login"):
        SpotifyClient.from_env()
    saved_path().write_text("{not json")
    with pytest.raises(CredentialsError, match="not a gitarchive login"):
        SpotifyClient.from_env()
    code, _, err = invoke("whoami")
    assert code == exitcodes.NOTHING_FETCHED and "logout" in err


def test_a_rotated_refresh_token_replaces_the_saved_one(
    server: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert login(monkeypatch, Browser())[0] == 0
    first = json.loads(saved_path().read_text())["refresh_token"]
    server.users.rotate_refresh_tokens = True  # each refresh answers a new one, the old dies
    for _ in range(2):
        assert invoke("whoami")[0] == 0
        token = json.loads(saved_path().read_text())["refresh_token"]
        assert token != first
        first = token
    assert stat.S_IMODE(saved_path().stat().st_mode) == 0o600


def test_a_rotated_refresh_token_that_cannot_be_saved_is_a_warning_not_a_failed_run(
    server: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only home: the run goes on with the new token and says the saved one is
    stale (it failed as "cannot write to <the archive>: read-only file system")."""
    assert login(monkeypatch, Browser())[0] == 0
    before = saved_path().read_text()
    server.users.rotate_refresh_tokens = True

    def read_only(path: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(credentials, "write_atomic", read_only)
    code, out, err = invoke("whoami")
    assert code == 0, err
    assert f"{saved_path()} cannot be written (Read-only file system)" in err
    assert "gitarchive login" in err and saved_path().read_text() == before


def test_xdg_config_home_else_home(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    assert credentials.credentials_path(env) == tmp_path / "xdg" / "gitarchive" / "credentials"
    env["XDG_CONFIG_HOME"] = "relative/ignored"
    assert credentials.credentials_path(env) == (
        tmp_path / "home" / ".config" / "gitarchive" / "credentials")
    saved = credentials.SavedLogin("app", "rt-secret-value")
    credentials.save(saved, env)
    assert credentials.load(env) == saved and "rt-secret-value" not in repr(saved)
    assert credentials.delete(env) is not None and credentials.load(env) is None
