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
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from gitarchive.archive.layout import is_spotify_owned
from gitarchive.errors import (
    AmbiguousWrite,
    CredentialsError,
    ForbiddenError,
    NotOnSpotify,
    PlaylistError,
    SpotifyError,
)
from gitarchive.spotify.parse import FetchResult, entries_page, parse_playlist

API_BASE = "https://api.spotify.com/v1"
TOKEN_URL = "https://accounts.spotify.com/api/token"

# What we ask for when no page is embedded; later pages follow Spotify's `next` links. 50 is
# accepted whether the /items maximum is 50 or 100 (public clients disagree on it).
PAGE_LIMIT = 50
MAX_RETRY_AFTER = 120.0  # longer waits asked by a 429 are not worth blocking a run for
MAX_BACKOFF = 30.0
TOKEN_MARGIN = 60.0  # refresh a token this many seconds before Spotify says it expires

ENV_ID = "SPOTIFY_CLIENT_ID"
ENV_SECRET = "SPOTIFY_CLIENT_SECRET"
ENV_REFRESH = "SPOTIFY_REFRESH_TOKEN"
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
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.client_id = client_id
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
        self._pause_until = 0.0  # a 429 pauses every thread, not only the one that got it
        self._scope: str | None = None  # what the token endpoint said the token may do

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> SpotifyClient:
        """Build a client from SPOTIFY_* variables; missing ones raise CredentialsError."""
        env = os.environ if environ is None else environ
        missing = [name for name in (ENV_ID, ENV_SECRET) if not env.get(name, "").strip()]
        if missing:
            raise CredentialsError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
                f"set {ENV_ID} and {ENV_SECRET} to your app's credentials from "
                f"https://developer.spotify.com/dashboard (and optionally {ENV_REFRESH} "
                "to read private playlists)"
            )
        for name, key in ((ENV_API_BASE, "api_base"), (ENV_TOKEN_URL, "token_url")):
            if env.get(name):
                kwargs.setdefault(key, env[name])
        return cls(
            env[ENV_ID].strip(),
            env[ENV_SECRET].strip(),
            env.get(ENV_REFRESH, "").strip() or None,
            **kwargs,
        )

    def __repr__(self) -> str:
        kind = "user token" if self._refresh_token else "client credentials"
        return f"SpotifyClient(client_id={self.client_id!r}, {kind}, api_base={self.api_base!r})"

    @property
    def _session(self) -> requests.Session:
        if self._shared_session is not None:
            return self._shared_session
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
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
        if page is None or not isinstance(page.get("items"), list):
            # No embedded entries: ask the items endpoint from the start.
            page = self._api_get(
                f"{self.api_base}/playlists/{pid}/items",
                pid,
                params={"limit": PAGE_LIMIT, "offset": 0},
            )
        pages = [page]
        while isinstance(page, dict) and page.get("next") and page.get("items"):
            page = self._api_get(self._checked_next(page["next"], pid), pid)
            pages.append(page)
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
                f"Spotify refused access to playlist {pid} (403): a private playlist needs a "
                f"user token (set {ENV_REFRESH}); development-mode apps get 403 on "
                "/playlists/{id}/tracks and may only read the entries of playlists the user "
                "owns or collaborates on"
            )
        if not response.ok:
            raise SpotifyError(f"Spotify answered HTTP {status} for playlist {pid}")
        try:
            return response.json()
        except ValueError as exc:
            raise PlaylistError(f"playlist {pid}: Spotify's answer is not valid JSON") from exc

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

    def access_token(self) -> str:
        """A valid access token: the one held, else a new one (never printed or logged)."""
        with self._lock:  # concurrent fetches share one token, fetched once
            if self._token is None or time.monotonic() >= self._token_expiry:
                self._token, lifetime = self._fetch_token()
                self._token_expiry = time.monotonic() + max(lifetime - TOKEN_MARGIN, 0.0)
            return self._token

    def _fetch_token(self) -> tuple[str, float]:
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
                + f" (HTTP {response.status_code}{_oauth_error(response)}); "
                "check them at https://developer.spotify.com/dashboard"
            )
        if not response.ok:
            raise SpotifyError(f"Spotify's token endpoint answered HTTP {response.status_code}")
        try:
            data = response.json()
            token = data["access_token"]
            lifetime = float(data.get("expires_in") or 3600)
            scope = data.get("scope")
            self._scope = scope if isinstance(scope, str) else None
        except (ValueError, KeyError, TypeError) as exc:
            raise SpotifyError("Spotify's token endpoint answered without an access token") from exc
        if not isinstance(token, str) or not token:
            raise SpotifyError("Spotify's token endpoint answered without an access token")
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
            wait = self._pause_until - time.monotonic()
            if wait > 0 and failures == 0:
                self._sleep(wait)  # another thread was rate-limited: honour its Retry-After
            try:
                response = self._session.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = "timed out" if isinstance(exc, requests.Timeout) else "no connection"
                if not retry_unsafe:
                    raise AmbiguousWrite(f"{method} {_where(url)}: {problem}") from exc
                delay = backoff(failures)
            else:
                if response.status_code == 429:
                    problem = "rate limited (429)"
                    delay = _retry_after(response, failures)
                    if delay > MAX_RETRY_AFTER:
                        raise SpotifyError(
                            f"Spotify rate-limits this app for {delay:.0f} s; try again later"
                        )
                    with self._lock:  # every thread waits, not only the one that was told
                        self._pause_until = max(self._pause_until, time.monotonic() + delay)
                elif response.status_code >= 500:
                    problem = f"server error (HTTP {response.status_code})"
                    if not retry_unsafe:
                        raise AmbiguousWrite(f"{method} {_where(url)}: {problem}")
                    delay = backoff(failures)
                else:
                    return response
            failures += 1
            if failures > self.max_retries:
                raise SpotifyError(
                    f"giving up on {_where(url)} after {failures} attempts: {problem}"
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
            raise SpotifyError(f"unexpected link from Spotify: {_where(url)!r}")
        return self._authorized_send(
            method, url, params=params, json=body, retry_unsafe=retry_unsafe
        )


def backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` failed attempts: doubling, capped."""
    return min(2.0**failures, MAX_BACKOFF)


def _retry_after(response: requests.Response, failures: int) -> float:
    try:
        return max(float(response.headers["Retry-After"]), 0.0)
    except (KeyError, ValueError):
        return backoff(failures)


def _where(url: str) -> str:
    """The URL without its query: enough to name the endpoint in a message."""
    return url.split("?", 1)[0]


def _oauth_error(response: requests.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return f": {error}" if isinstance(error, str) and error.isidentifier() else ""
