"""Writing playlists to a Spotify account as the signed-in user (for `publish`).

A thin layer over SpotifyClient (its session, token, 401 renewal and 429/5xx
retries): create a playlist, replace or append its items in batches of at most 100
URIs, read a playlist and its items back, list the user's playlists, search tracks.

Writes that must not happen twice (creating a playlist, appending items) are sent
with ``retry_unsafe=False``: when Spotify may or may not have acted (a 5xx, a lost
connection) they raise AmbiguousWrite, and the caller looks before trying again.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from gitarchive import safejson
from gitarchive.errors import CredentialsError, ScopeError, WriteError
from gitarchive.spotify import credentials, paging
from gitarchive.spotify.client import ENV_REFRESH, SpotifyClient, app_credentials

MAX_URIS = 100  # Spotify's limit per PUT/POST of playlist items
ITEMS_PAGE = 50
LIST_PAGE = 50

MODIFY_PUBLIC = "playlist-modify-public"
MODIFY_PRIVATE = "playlist-modify-private"
READ_PRIVATE = "playlist-read-private"
LOGIN_HINT = "run 'gitarchive login' to sign in again and grant it"


def lacking(missing: list[str], why: str) -> ScopeError:
    """The ScopeError for ``missing`` scopes, needed for ``why``."""
    names = " and ".join(missing)
    return ScopeError(f"the Spotify sign-in lacks the scope {names} ({why}): {LOGIN_HINT}",
                      missing)


def refresh_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The signed-in user's refresh token, from where SpotifyClient.from_env takes it:
    SPOTIFY_REFRESH_TOKEN, else the login saved by 'gitarchive login' for this app."""
    env = os.environ if environ is None else environ
    token = env.get(ENV_REFRESH, "").strip()
    if token:
        return token
    client_id, _ = app_credentials(env)
    saved = credentials.load_for(client_id, env)
    return saved.refresh_token if saved is not None else None


def user_client(environ: Mapping[str, str] | None = None, **kwargs: Any) -> SpotifyClient:
    """A client acting as the signed-in user; CredentialsError when no one is signed in."""
    env = os.environ if environ is None else environ
    if refresh_token(env) is None:
        raise CredentialsError(
            "publishing needs a signed-in Spotify user: run 'gitarchive login' "
            f"(or set {ENV_REFRESH})"
        )
    return SpotifyClient.from_env(env, **kwargs)  # a rotated saved token is saved again


def track_uri(url: str) -> str | None:
    """``https://open.spotify.com/track/<id>`` (or a track URI) -> ``spotify:track:<id>``."""
    if url.startswith("spotify:track:"):
        tid = url.rsplit(":", 1)[-1]
    elif "/track/" in url:
        tid = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    else:
        return None
    return f"spotify:track:{tid}" if len(tid) == 22 and tid.isalnum() and tid.isascii() else None


@dataclass(frozen=True)
class RemotePlaylist:
    """What we need to know of a playlist in the user's account."""

    pid: str
    name: str
    description: str  # HTML entities decoded
    owner: str
    public: bool | None

    @classmethod
    def from_api(cls, data: Any) -> RemotePlaylist:
        try:
            return cls(
                pid=data["id"],
                name=data.get("name") or "",
                description=html.unescape(data.get("description") or ""),
                owner=(data.get("owner") or {}).get("id") or "",
                public=data.get("public"),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise WriteError("Spotify answered a playlist without its id") from exc


class PlaylistWriter:
    """The user's playlists through one SpotifyClient (which it does not close)."""

    def __init__(self, client: SpotifyClient) -> None:
        self.client = client

    def require_scopes(self, needed: Mapping[str, str]) -> None:
        """ScopeError naming every scope in ``needed`` (scope -> why) the token lacks."""
        if not self.client.has_user_token:
            raise CredentialsError(
                "publishing needs a signed-in Spotify user, not app credentials: "
                f"run 'gitarchive login' (or set {ENV_REFRESH})"
            )
        granted = self.client.granted_scopes()
        if granted is None:  # the token endpoint did not say: let Spotify decide per request
            return
        missing = [scope for scope in needed if scope not in granted]
        if missing:
            raise lacking(missing, "; ".join(dict.fromkeys(needed[s] for s in missing)))

    def me(self) -> str:
        """The signed-in user's ID (the client asks ``GET /me`` once)."""
        return str(self.client.me()["id"])

    def my_playlists(self) -> Iterator[RemotePlaylist]:
        """Every playlist in the user's library (GET /me/playlists, page by page)."""
        what = "the list of your playlists"
        first = self._json(self.client.user_request(
            "GET", "/me/playlists", params={"limit": LIST_PAGE, "offset": 0}), what)
        for page in self._pages(first, what):
            for item in page.get("items") or []:
                if isinstance(item, dict):
                    yield RemotePlaylist.from_api(item)

    def playlist(self, pid: str) -> RemotePlaylist | None:
        """The playlist ``pid``, or None when Spotify has none (404)."""
        response = self.client.user_request("GET", f"/playlists/{pid}")
        if response.status_code == 404:
            return None
        return RemotePlaylist.from_api(self._json(response, f"playlist {pid}"))

    def item_uris(self, pid: str) -> list[str | None]:
        """The URIs of the playlist's entries in order (None: an unavailable entry)."""
        uris: list[str | None] = []
        what = f"the items of playlist {pid}"
        first = self._json(self.client.user_request(
            "GET", f"/playlists/{pid}/items", params={"limit": ITEMS_PAGE, "offset": 0}), what)
        for page in self._pages(first, what):
            items = page.get("items")
            if not isinstance(items, list):
                raise WriteError(f"Spotify answered the items of playlist {pid} without items")
            for entry in items:
                if not isinstance(entry, dict):
                    raise WriteError(f"an item of playlist {pid} is not an object")
                item = entry.get("item") or entry.get("track")
                uri = item.get("uri") if isinstance(item, dict) else None
                uris.append(uri if isinstance(uri, str) else None)
        return uris

    def _pages(self, first: Any, what: str) -> Iterator[dict[str, Any]]:
        """``first`` and the pages after it (paging.follow: no loop, no endless listing)."""
        def get(link: str) -> Any:
            return self._json(self.client.user_request("GET", link), what)

        for page in paging.follow(first, get, subject=what, error=WriteError):
            if not isinstance(page, dict):
                raise WriteError(f"Spotify's answer to {what} is not a page of items")
            yield page

    def create(self, name: str, description: str, public: bool) -> RemotePlaylist:
        """POST /me/playlists; AmbiguousWrite if it may or may not have been created."""
        body = {"name": name, "description": description, "public": public,
                "collaborative": False}
        response = self.client.user_request("POST", "/me/playlists", body=body,
                                            retry_unsafe=False)
        return RemotePlaylist.from_api(self._json(response, "creating the playlist"))

    def replace(self, pid: str, uris: list[str]) -> None:
        """PUT: the playlist holds exactly ``uris`` (at most 100) afterwards; safe to repeat."""
        self._check_batch(uris)
        response = self.client.user_request("PUT", f"/playlists/{pid}/items",
                                            body={"uris": uris})
        self._json(response, f"replacing the items of playlist {pid}")

    def append(self, pid: str, uris: list[str]) -> None:
        """POST: ``uris`` (at most 100) added at the end; AmbiguousWrite when unsure."""
        self._check_batch(uris)
        response = self.client.user_request("POST", f"/playlists/{pid}/items",
                                            body={"uris": uris}, retry_unsafe=False)
        self._json(response, f"adding items to playlist {pid}")

    def search_track(self, query: str, limit: int = 5) -> list[dict[str, Any]]:
        """GET /search for tracks: the track objects of the first page."""
        response = self.client.user_request(
            "GET", "/search", params={"q": query, "type": "track", "limit": limit}
        )
        data = self._json(response, "a track search")
        items = (data.get("tracks") or {}).get("items") if isinstance(data, dict) else None
        return [i for i in items or [] if isinstance(i, dict)]

    @staticmethod
    def _check_batch(uris: list[str]) -> None:
        if len(uris) > MAX_URIS:
            raise ValueError(f"at most {MAX_URIS} URIs per request, not {len(uris)}")

    @staticmethod
    def _json(response: requests.Response, what: str) -> Any:
        status = response.status_code
        if status == 403:
            raise WriteError(
                f"Spotify refused {what} (403{_message(response)}): the playlist must be "
                f"yours, and the sign-in needs the scopes {MODIFY_PUBLIC}, {MODIFY_PRIVATE} "
                f"and {READ_PRIVATE} ({LOGIN_HINT})"
            )
        if status == 404:
            raise WriteError(f"Spotify found nothing for {what} (404)")
        if not response.ok:
            raise WriteError(f"Spotify answered HTTP {status}{_message(response)} to {what}")
        try:
            return safejson.loads(response.content)
        except ValueError as exc:
            raise WriteError(f"Spotify's answer to {what} is not valid JSON") from exc


def _message(response: requests.Response) -> str:
    """Spotify's short error message (``{"error": {"message": ...}}``), if any."""
    try:
        message = safejson.loads(response.content)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return ""
    return f": {message[:120]}" if isinstance(message, str) and message else ""
