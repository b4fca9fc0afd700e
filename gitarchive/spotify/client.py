"""Spotify Web API client: credentials, paging and retries in, model objects out.

Two layers, so each can be read on its own:

* HTTP (`SpotifyClient`): one `requests.Session`, a lazily fetched token reused
  across playlists, a timeout on every request, a bounded retry budget for 429,
  5xx and network failures, one token refresh on 401.
* Parsing (spotify/parse.py: `parse_playlist`, `parse_entry`): API JSON to
  `gitarchive.archive.model` objects, accepting both the pre-2026 shape
  (`tracks`/`track`) and the February 2026 one (`items`/`item`).

No message, exception or repr ever contains the client secret, the refresh
token or an access token.

At a little over 400 lines this module is better whole: its one class holds the
token, its lock, the shared 429 pause and the retry loop, and every request path
(playlist reads, the user's /me requests, publish's writes) goes through that one
state; split across modules, the state would be shared by convention instead.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from gitarchive import safejson, stopping
from gitarchive.archive.layout import is_spotify_owned
from gitarchive.errors import (
    ITEMS_RULE_DATE,
    AmbiguousWrite,
    CredentialsError,
    ForbiddenError,
    ItemsForbidden,
    NotOnSpotify,
    NotSignedIn,
    PlaylistError,
    SpotifyError,
)
from gitarchive.spotify import credentials, paging
from gitarchive.spotify.credentials import ENV_ID as ENV_ID
from gitarchive.spotify.credentials import ENV_REFRESH as ENV_REFRESH
from gitarchive.spotify.credentials import ENV_SECRET as ENV_SECRET
from gitarchive.spotify.credentials import app_credentials as app_credentials
from gitarchive.spotify.parse import (
    FetchResult,
    endpoint_of,
    entries_page,
    json_body,
    oauth_error,
    parse_playlist,
)
from gitarchive.spotify.pause import Pause
from gitarchive.spotify.session import HostSession

API_BASE = "https://api.spotify.com/v1"
TOKEN_URL = "https://accounts.spotify.com/api/token"

# What we ask for when no page is embedded; later pages follow Spotify's `next` links. 50 is
# accepted whether the /items maximum is 50 or 100 (public clients disagree on it).
PAGE_LIMIT = 50
MAX_RETRY_AFTER = 120.0  # longer waits asked by a 429 are not worth blocking a run for
MAX_BACKOFF = 30.0
TOKEN_MARGIN = 60.0  # refresh a token this many seconds before Spotify says it expires

ENV_API_BASE = "SPOTIFY_API_BASE"
ENV_TOKEN_URL = "SPOTIFY_TOKEN_URL"


def not_found(pid: str) -> NotOnSpotify:
    """Spotify's 404 for ``pid``, with why a person most likely sees it."""
    message = f"Spotify has no playlist {pid} (404)"
    if is_spotify_owned(pid):
        message += (
            ": this looks like one of Spotify's own playlists, and since 2024-11-27 "
            "Spotify does not serve its own editorial and algorithmic playlists to new apps"
        )
    else:
        message += ": check the ID; the playlist may have been deleted or made private"
    return NotOnSpotify(message, pid)


class HandBack(Exception):
    """A request a forked copy of the client may not make (its token ran out or was
    refused): the process that forked it makes it instead."""


# --------------------------------------------------------------------------- HTTP


class SpotifyClient:
    """A small client for the two playlist endpoints gitarchive needs."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str | None = None,
        *,
        api_base: str = API_BASE,
        token_url: str = TOKEN_URL,
        timeout: float = 30,
        max_retries: int = 5,
        sleep: Callable[[float], None] = stopping.sleep,
        session: requests.Session | None = None,
        on_new_refresh_token: Callable[[str], None] | None = None,
    ) -> None:
        self.client_id = client_id
        self._on_new_refresh_token = on_new_refresh_token  # Spotify replaced the refresh token
        self._secret = client_secret
        self._refresh_token = refresh_token
        self.api_base = api_base.rstrip("/")
        self.token_url = token_url
        self.timeout = timeout
        self.max_retries = max_retries
        self._sleep = sleep
        self._shared_session = session
        self._local = threading.local()  # one requests.Session per thread: not thread-safe
        self._sessions: list[requests.Session] = []
        self._lock = threading.RLock()  # guards the token, the session list and the pause
        self._token: str | None = None
        self._token_expiry = 0.0
        self.pause = Pause()  # a 429 pauses every thread, not only the one that got it
        self._token_failure: CredentialsError | None = None  # the run's one token attempt
        self._scope: str | None = None  # what the token endpoint said the token may do
        self._me: dict[str, Any] | None = None  # GET /me, once asked
        self._token_kept = False  # a forked copy: it never asks the token endpoint
        self._inherited: list[Any] = []  # a forked copy's parent's sessions, never used

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> SpotifyClient:
        """Build a client from SPOTIFY_* variables; missing ones raise CredentialsError."""
        env = os.environ if environ is None else environ
        client_id, secret = app_credentials(env)
        for name, key in ((ENV_API_BASE, "api_base"), (ENV_TOKEN_URL, "token_url")):
            if env.get(name):
                kwargs.setdefault(key, env[name])
        refresh = env.get(ENV_REFRESH, "").strip() or None
        if refresh is None:  # the environment wins; else the login saved by 'gitarchive login'
            saved = credentials.load_for(client_id, env)
            if saved is not None:
                refresh = saved.refresh_token
                kwargs.setdefault("on_new_refresh_token", lambda token: credentials.save_rotated(
                    credentials.SavedLogin(saved.client_id, token, saved.scope), env))
        return cls(client_id, secret, refresh, **kwargs)

    def __repr__(self) -> str:
        kind = "user token" if self._refresh_token else "client credentials"
        return f"SpotifyClient(client_id={self.client_id!r}, {kind}, api_base={self.api_base!r})"

    @property
    def _session(self) -> requests.Session:
        if self._shared_session is not None:
            return self._shared_session
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = HostSession()
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        if self._shared_session is not None:
            self._shared_session.close()

    def __enter__(self) -> SpotifyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_playlist(self, pid: str) -> FetchResult:
        """Fetch a playlist and all its entries (first page embedded, then `next` links)."""
        data = self._api_get(f"{self.api_base}/playlists/{pid}", pid)
        page = entries_page(data)
        try:
            if page is None or not isinstance(page.get("items"), list):
                # No embedded entries: ask the items endpoint from the start.
                page = self._api_get(
                    f"{self.api_base}/playlists/{pid}/items",
                    pid,
                    params={"limit": PAGE_LIMIT, "offset": 0},
                )
            pages = list(paging.follow(
                page, lambda link: self._api_get(self._checked_next(link, pid), pid),
                subject=f"playlist {pid}", error=PlaylistError,
            ))
        except ForbiddenError:  # the details were served, the items not: the 2026 rule
            raise ItemsForbidden(pid, user_token=self.has_user_token) from None
        return parse_playlist(pid, data, pages)

    def _checked_next(self, url: Any, pid: str) -> str:
        # The token is sent along with the request: never to a host we were not configured for.
        if not isinstance(url, str) or not url.startswith(self.api_base + "/"):
            raise PlaylistError(f"playlist {pid}: unexpected paging link {url!r}")
        return url

    def _api_get(self, url: str, pid: str, params: dict[str, Any] | None = None) -> Any:
        """GET an API URL as JSON, refreshing the token once on 401."""
        response = self._authorized_send("GET", url, params=params)
        status = response.status_code
        if status == 404:
            raise not_found(pid)
        if status == 403:
            raise ForbiddenError(
                f"Spotify refused access to playlist {pid} (403): a private playlist needs the "
                f"token of a user who may see it (run 'gitarchive login', or set {ENV_REFRESH}); "
                f"since {ITEMS_RULE_DATE} development-mode apps may read the items only of "
                "playlists that user owns or collaborates on"
            )
        if not response.ok:
            raise SpotifyError(f"Spotify answered HTTP {status} for playlist {pid}")
        return json_body(response,
                          PlaylistError(f"playlist {pid}: Spotify's answer is not valid JSON"))

    def _authorized_send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """`_send` with the bearer token, renewed once if Spotify answers 401."""
        for _ in range(2):
            headers = {"Authorization": f"Bearer {self.access_token()}"}
            response = self._send(method, url, headers=headers, **kwargs)
            if response.status_code != 401:
                return response
            self._token = None
        raise CredentialsError(
            "Spotify rejected a freshly issued access token (401 twice); "
            f"check the app behind {ENV_ID}"
        )

    @property
    def forkable(self) -> bool:
        """Whether a forked copy can make requests of its own (``in_forked_copy``): not with
        a session given from outside, whose connections this process holds."""
        return self._shared_session is None

    def in_forked_copy(self) -> None:
        """Call once in a process forked from the one that uses this client: its own
        connections from now on (never the parent's sockets, which the parent goes on
        using), and never a token request: a refresh token Spotify rotates would be saved
        twice or lost. Once the token held is refused or runs out, each request raises
        HandBack: the parent, which may ask for tokens, makes it."""
        self._inherited = [self._local, self._sessions]  # kept, not closed: the parent's
        self._local = threading.local()
        self._sessions = []
        self._on_new_refresh_token = None
        self._token_kept = True

    def access_token(self) -> str:
        """A valid access token: the one held, else a new one (never printed or logged)."""
        with self._lock:  # concurrent fetches share one token, fetched once
            if self._token is None or time.monotonic() >= self._token_expiry:
                if self._token_kept:
                    raise HandBack("the access token ran out in a forked copy")
                self._token, lifetime = self._fetch_token()
                self._token_expiry = time.monotonic() + max(lifetime - TOKEN_MARGIN, 0.0)
            return self._token

    def _fetch_token(self) -> tuple[str, float]:
        """Ask the token endpoint, once per run when it fails: every playlist needs a token.

        A token endpoint that keeps failing (5xx, no connection) spends the retry budget
        once; later playlists get the same CredentialsError at once instead of waiting
        through the back-off again each.
        """
        if self._token_failure is not None:
            raise CredentialsError(str(self._token_failure))
        try:
            return self._ask_token()
        except CredentialsError:
            raise
        except SpotifyError as exc:
            self._token_failure = CredentialsError(
                f"no access token from Spotify ({exc}); no playlist can be fetched"
            )
            raise self._token_failure from exc

    def _ask_token(self) -> tuple[str, float]:
        """Ask the token endpoint: refresh_token grant for a user token, else client credentials."""
        if self._refresh_token:
            form = {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
        else:
            form = {"grant_type": "client_credentials"}
        auth = (self.client_id, self._secret)
        response = self._send("POST", self.token_url, data=form, auth=auth)
        if response.status_code in (400, 401):
            raise CredentialsError(
                f"Spotify rejected the credentials in {ENV_ID} / {ENV_SECRET}"
                + (f" / {ENV_REFRESH}" if self._refresh_token else "")
                + f" (HTTP {response.status_code}{oauth_error(response)}); "
                "check them at https://developer.spotify.com/dashboard"
            )
        if not response.ok:
            raise SpotifyError(f"Spotify's token endpoint answered HTTP {response.status_code}")
        try:
            data = safejson.loads(response.content)
            token = data["access_token"]
            lifetime = float(data.get("expires_in") or 3600)
            scope = data.get("scope")
            self._scope = scope if isinstance(scope, str) else None
        except (ValueError, KeyError, TypeError) as exc:
            raise SpotifyError("Spotify's token endpoint answered without an access token") from exc
        if not isinstance(token, str) or not token:
            raise SpotifyError("Spotify's token endpoint answered without an access token")
        rotated = data.get("refresh_token")
        if self._refresh_token and isinstance(rotated, str) and rotated not in (
            "", self._refresh_token
        ):
            self._refresh_token = rotated  # Spotify may replace it: keep the one that works
            if self._on_new_refresh_token is not None:
                self._on_new_refresh_token(rotated)
        return token, lifetime

    def _send(
        self, method: str, url: str, *, retry_unsafe: bool = True, **kwargs: Any
    ) -> requests.Response:
        """One request with retries: 429 waits Retry-After, 5xx and network errors back off.

        Every wait counts against `max_retries`; when the budget is spent, SpotifyError.
        ``retry_unsafe=False`` (a write that must not happen twice): a 5xx or a lost
        connection, after which Spotify may or may not have done it, raises AmbiguousWrite.
        """
        failures = 0
        while True:
            wait = self.pause.until - time.monotonic()
            if wait > 0 and failures == 0:
                self._sleep(wait)  # another thread was rate-limited: honour its Retry-After
            try:
                response = self._session.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                problem = "timed out" if isinstance(exc, requests.Timeout) else "no connection"
                if isinstance(exc, requests.exceptions.ChunkedEncodingError):
                    problem = "connection broken in the middle of the answer"
                if not retry_unsafe:
                    raise AmbiguousWrite(f"{method} {endpoint_of(url)}: {problem}") from exc
                delay = backoff(failures)
            except requests.RequestException as exc:  # anything else requests refuses
                raise SpotifyError(
                    f"request to {endpoint_of(url)} failed ({type(exc).__name__})"
                ) from exc
            else:
                if response.status_code == 429:
                    problem = "rate limited (429)"
                    delay = _retry_after(response, failures)
                    if delay > MAX_RETRY_AFTER:
                        raise SpotifyError(
                            f"Spotify rate-limits this app for {delay:.0f} s; try again later"
                        )
                    self.pause.extend(time.monotonic() + delay)  # every thread waits
                elif response.status_code >= 500:
                    problem = f"server error (HTTP {response.status_code})"
                    if not retry_unsafe:
                        raise AmbiguousWrite(f"{method} {endpoint_of(url)}: {problem}")
                    delay = backoff(failures)
                else:
                    return response
            failures += 1
            if failures > self.max_retries:
                raise SpotifyError(
                    f"giving up on {endpoint_of(url)} after {failures} attempts: {problem}"
                )
            self._sleep(delay)

    # ------------------------------------------ requests as the signed-in user (publish)

    @property
    def has_user_token(self) -> bool:
        """Whether requests are made as a user (refresh-token grant), not as the app."""
        return self._refresh_token is not None

    def granted_scopes(self) -> frozenset[str] | None:
        """The scopes the token endpoint listed for our token (None: it listed none).

        Fetches the token first if none is held yet.
        """
        self.access_token()
        return frozenset(self._scope.split()) if self._scope is not None else None

    def user_request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        retry_unsafe: bool = True,
    ) -> requests.Response:
        """One API request (``/me/playlists`` or a paging link from Spotify) with our token.

        429, 5xx and lost connections are retried as `_send` does (with
        ``retry_unsafe=False``, 5xx and lost connections raise AmbiguousWrite);
        the caller reads the status of the answer.
        """
        url = path if path.startswith(("http://", "https://")) else self.api_base + path
        if not url.startswith(self.api_base + "/"):  # the token goes along: our host only
            raise SpotifyError(f"unexpected link from Spotify: {endpoint_of(url)!r}")
        return self._authorized_send(
            method, url, params=params, json=body, retry_unsafe=retry_unsafe
        )

    def get_json(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        """GET ``/me``, ``/me/playlists`` or a paging link as JSON (SpotifyError otherwise)."""
        response = self.user_request("GET", path, params=params)
        where = endpoint_of(response.url or path)
        if not response.ok:
            raise SpotifyError(f"Spotify answered HTTP {response.status_code} for {where}")
        return json_body(response, SpotifyError(f"Spotify's answer for {where} is not valid "
                                                 "JSON"))

    def me(self) -> dict[str, Any]:
        """The signed-in user's profile (``GET /me``: id, display_name); asked once."""
        if self._me is None:
            if not self.has_user_token:
                raise NotSignedIn(
                    "this needs a signed-in user: run 'gitarchive login' (or set "
                    f"{ENV_REFRESH}); an app token has no user"
                )
            data = self.get_json("/me")
            if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
                raise SpotifyError("Spotify's answer for /me carries no user ID")
            self._me = data
        return self._me


def backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` failed attempts: doubling, capped."""
    return min(2.0**failures, MAX_BACKOFF)


def _retry_after(response: requests.Response, failures: int) -> float:
    """Seconds asked by Retry-After; our own back-off when it is missing or no number (nan)."""
    try:
        delay = float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return backoff(failures)
    if math.isnan(delay):
        return backoff(failures)
    return max(delay, 0.0)  # inf stays inf: more than MAX_RETRY_AFTER, the run gives up
