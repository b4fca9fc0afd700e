"""Signing in to Spotify: the authorization-code flow with PKCE on a loopback redirect.

``gitarchive login`` starts a one-request web server on ``127.0.0.1:PORT`` (the
redirect form Spotify accepts for apps on a user's machine), sends the user to
Spotify's authorize page with a fresh S256 code challenge and a random ``state``,
receives ``/callback?code=…&state=…``, checks the state, and trades the code and the
code verifier for a refresh token. The code, the verifier and every token stay in
memory: no message, log or repr holds them (``--print`` prints the refresh token
on purpose, and only that, on stdout).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import os
import secrets
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from gitarchive.errors import CredentialsError, LoginError
from gitarchive.spotify import credentials
from gitarchive.spotify.client import (
    API_BASE,
    ENV_API_BASE,
    ENV_ID,
    ENV_REFRESH,
    ENV_SECRET,
    ENV_TOKEN_URL,
    TOKEN_URL,
    SpotifyClient,
    app_credentials,
)

AUTHORIZE_URL = "https://accounts.spotify.com/authorize"
ENV_AUTHORIZE_URL = "SPOTIFY_AUTHORIZE_URL"
DEFAULT_PORT = 8974
CALLBACK_PATH = "/callback"
LOGIN_TIMEOUT = 300.0
# Read private and collaborative playlists; modify them for publishing.
SCOPES = (
    "playlist-read-private",
    "playlist-read-collaborative",
    "playlist-modify-public",
    "playlist-modify-private",
)


def has_browser(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a graphical browser can open here (else ``webbrowser`` might start a text one).

    Over SSH or on a server, Python's webbrowser falls back to console browsers
    (lynx, w3m) that would take over the terminal on a page they cannot sign in on.
    """
    env = os.environ if environ is None else environ
    if env.get("BROWSER"):
        return True
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def new_verifier() -> str:
    """A PKCE code verifier: 86 characters from the unreserved set (RFC 7636 allows 43-128)."""
    return secrets.token_urlsafe(64)


def code_challenge(verifier: str) -> str:
    """The S256 challenge: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class AppConfig:
    """The app and the endpoints a sign-in talks to (from SPOTIFY_* variables)."""

    client_id: str
    client_secret: str
    authorize_url: str = AUTHORIZE_URL
    token_url: str = TOKEN_URL
    api_base: str = API_BASE

    def __repr__(self) -> str:
        return f"AppConfig(client_id={self.client_id!r}, authorize_url={self.authorize_url!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AppConfig:
        env = os.environ if environ is None else environ
        try:
            client_id, secret = app_credentials(env)
        except CredentialsError as exc:
            raise LoginError(str(exc)) from None
        return cls(
            client_id, secret,
            authorize_url=env.get(ENV_AUTHORIZE_URL) or AUTHORIZE_URL,
            token_url=env.get(ENV_TOKEN_URL) or TOKEN_URL,
            api_base=(env.get(ENV_API_BASE) or API_BASE).rstrip("/"),
        )


@dataclass(frozen=True)
class LoginResult:
    """A finished sign-in: the refresh token, what was granted, and who signed in."""

    refresh_token: str
    scope: str
    user_id: str
    display_name: str

    def __repr__(self) -> str:
        return f"LoginResult(user_id={self.user_id!r}, scope={self.scope!r})"


def authorize_url(app: AppConfig, redirect_uri: str, challenge: str, state: str) -> str:
    """The page the user opens: Spotify asks them to approve gitarchive's scopes."""
    query = urlencode({
        "client_id": app.client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "code_challenge_method": "S256",
        "code_challenge": challenge,
        "scope": " ".join(SCOPES),
        "state": state,
    })
    separator = "&" if "?" in app.authorize_url else "?"
    return f"{app.authorize_url}{separator}{query}"


class CallbackServer:
    """The loopback server: waits for Spotify's redirect to /callback and checks its state."""

    def __init__(self, port: int, state: str) -> None:
        self._state = state
        self._done = threading.Event()
        self._lock = threading.Lock()  # requests are served in threads: one answer counts
        self.code: str | None = None
        self.error: str | None = None
        try:
            # Threads: a browser's idle speculative connection must not hold up the redirect.
            self._server = _CallbackHTTPServer(("127.0.0.1", port), _CallbackHandler)
            self._server.daemon_threads = True
        except OSError as exc:
            raise LoginError(
                f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); choose another port with "
                f"--port and add http://127.0.0.1:PORT{CALLBACK_PATH} to your app's redirect URIs"
            ) from None
        self._server.callback = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{CALLBACK_PATH}"

    def __enter__(self) -> CallbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> str:
        """The authorization code; LoginError if refused, forged or not back in time."""
        if not self._done.wait(timeout):
            raise LoginError(
                f"no answer from Spotify within {timeout:.0f} s; run 'gitarchive login' again"
            )
        if self.error is not None:
            raise LoginError(self.error)
        assert self.code is not None
        return self.code

    def receive(self, query: dict[str, str]) -> tuple[int, str]:
        """Handle one redirect: (HTTP status, the page's message for the browser)."""
        with self._lock:
            if self._done.is_set():
                return 409, "This sign-in is already finished; you can close this tab."
            status, page = self._answer(query)
            self._done.set()
        return status, page

    def _answer(self, query: dict[str, str]) -> tuple[int, str]:
        given = query.get("state", "").encode()
        if not secrets.compare_digest(given, self._state.encode()):
            self.error = ("the answer to the sign-in did not carry this sign-in's state (a stale "
                          "tab or a forged request); nothing was saved, run 'gitarchive login' "
                          "again")
            status, page = 400, "The sign-in was refused: its state does not match."
        elif "error" in query:
            reason = query["error"] if query["error"].replace("_", "").isalnum() else "error"
            self.error = f"Spotify did not sign you in ({reason}); nothing was saved"
            status, page = 400, f"Spotify did not sign you in ({reason})."
        elif not query.get("code"):
            self.error = "Spotify's answer carried no authorization code; nothing was saved"
            status, page = 400, "Spotify's answer carried no authorization code."
        else:
            self.code = query["code"]
            status, page = 200, "Signed in to gitarchive. You can close this tab."
        return status, page


class _CallbackHTTPServer(ThreadingHTTPServer):
    """The loopback server, knowing the CallbackServer its requests report to."""

    callback: CallbackServer


class _CallbackHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Silent: the request line holds the code."""

    def do_GET(self) -> None:  # noqa: N802 - the base's name
        url = urlsplit(self.path)
        if url.path != CALLBACK_PATH:
            status, page = 404, "Not found."
        else:
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            server = self.server
            assert isinstance(server, _CallbackHTTPServer)  # the only server it is given to
            status, page = server.callback.receive(query)
        body = (f"<!doctype html><title>gitarchive</title><p>{html.escape(page)}</p>\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


def login(
    app: AppConfig,
    *,
    port: int = DEFAULT_PORT,
    show_url: Callable[[str, str], None],
    open_browser: Callable[[str], bool] | None,
    timeout: float = LOGIN_TIMEOUT,
) -> LoginResult:
    """Run the whole sign-in; returns the refresh token (saving it is the caller's choice).

    ``show_url(url, redirect_uri)`` is always called; ``open_browser(url)`` too, when
    given (a failing or missing browser is not an error: the URL is shown anyway).
    """
    verifier, state = new_verifier(), secrets.token_urlsafe(24)
    with CallbackServer(port, state) as server:
        url = authorize_url(app, server.redirect_uri, code_challenge(verifier), state)
        show_url(url, server.redirect_uri)
        if open_browser is not None:
            with contextlib.suppress(Exception):  # no browser is fine: the URL is shown
                open_browser(url)
        code = server.wait(timeout)
        redirect_uri = server.redirect_uri
    tokens = _exchange(app, code, verifier, redirect_uri)
    user = _me(app, tokens["access_token"])
    scope = tokens.get("scope")
    return LoginResult(
        refresh_token=tokens["refresh_token"],
        scope=scope if isinstance(scope, str) else "",
        user_id=user.get("id") or "",
        display_name=user.get("display_name") or user.get("id") or "",
    )


def _exchange(app: AppConfig, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
    """Trade the code (and the verifier that proves we asked for it) for tokens."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": app.client_id,
        "code_verifier": verifier,
    }
    try:
        response = requests.post(app.token_url, data=form, timeout=30,
                                 auth=(app.client_id, app.client_secret))
    except requests.RequestException:
        raise LoginError("could not reach Spotify's token endpoint; nothing was saved") from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if not response.ok or not isinstance(data, dict):
        error = data.get("error") if isinstance(data, dict) else None
        reason = f": {error}" if isinstance(error, str) and error.isidentifier() else ""
        raise LoginError(
            f"Spotify refused to finish the sign-in (HTTP {response.status_code}{reason}); "
            f"check {ENV_ID} and {ENV_SECRET}, then run 'gitarchive login' again"
        )
    if not all(isinstance(data.get(k), str) and data[k] for k in ("access_token",
                                                                  "refresh_token")):
        raise LoginError("Spotify's token endpoint answered without a refresh token")
    return data


def _me(app: AppConfig, access_token: str) -> dict[str, Any]:
    try:
        response = requests.get(f"{app.api_base}/me", timeout=30,
                                headers={"Authorization": f"Bearer {access_token}"})
        data = response.json() if response.ok else None
    except (requests.RequestException, ValueError):
        data = None
    return data if isinstance(data, dict) else {}


# ------------------------------------------------------------------- whoami


@dataclass(frozen=True)
class Identity:
    """What ``whoami`` reports: the token's kind, its source, its user and scopes."""

    client_id: str
    kind: str  # "user" or "app"
    source: str  # where the refresh token came from, or "client credentials"
    scopes: tuple[str, ...]
    user_id: str = ""
    display_name: str = ""


def token_source(environ: Mapping[str, str] | None = None) -> str:
    """Where commands take the user token from: the environment wins over the saved login."""
    env = os.environ if environ is None else environ
    if env.get(ENV_REFRESH, "").strip():
        return ENV_REFRESH
    path = credentials.credentials_path(env)
    return str(path) if path.exists() else "client credentials"


def whoami(environ: Mapping[str, str] | None = None) -> Identity:
    """Ask Spotify who the configured credentials are (CredentialsError, SpotifyError)."""
    env = os.environ if environ is None else environ
    with SpotifyClient.from_env(env, max_retries=2) as client:
        scopes = tuple(sorted(client.granted_scopes() or ()))
        if not client.has_user_token:
            return Identity(client.client_id, "app", "client credentials", scopes)
        me = client.me()
        return Identity(
            client.client_id, "user", token_source(env), scopes,
            user_id=str(me["id"]),
            display_name=str(me.get("display_name") or me["id"]),
        )

