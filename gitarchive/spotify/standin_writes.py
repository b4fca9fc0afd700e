"""The stand-in's write side: playlists a signed-in user creates and fills (for `publish`).

Kept apart from standin.py (which serves the archived playlists to `fetch`) so the
two grow separately. Who a token acts for, and with which scopes, it asks the
stand-in's users (standin_users.py, which also answers ``GET /v1/me``). It answers,
for a user token:

* ``GET /v1/me/playlists`` (paged: the served playlists in the user's library, then
  the ones created here, private ones only with ``playlist-read-private``),
  ``POST /v1/me/playlists``;
* ``GET /v1/playlists/{id}`` and ``GET /v1/playlists/{id}/items`` for the playlists
  created here; ``PUT`` (replace) and ``POST`` (append) ``/v1/playlists/{id}/items``
  with at most 100 URIs, only by the owner and with the playlist-modify scope;
* ``GET /v1/search?type=track`` over the tracks of the served playlists.

Faults, per method: `fail` answers an error status without doing anything (a 429,
a 500 before Spotify acted) or, with ``applied=True``, after doing the work (a 500
after it acted); `drop_after` does the work and closes the connection unanswered,
as a network failure after Spotify acted would.
"""

from __future__ import annotations

import copy
import html
import json
import re
import secrets
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import SplitResult, parse_qs

from gitarchive.spotify.standin_search import error_body, paged, search_tracks, window
from gitarchive.spotify.standin_users import DEFAULT_USER, Users


class StandInHost(Protocol):
    """What the writes need of the stand-in they extend (kept structural: no import back)."""

    _lock: threading.Lock
    _playlists: dict[str, Any]

    @property
    def api_base(self) -> str: ...

    def _authorized(self, authorization: str) -> bool: ...

MAX_URIS = 100
MAX_DESCRIPTION = 300
MAX_LIST_PAGE = 50
OPEN_URL = "https://open.spotify.com"

_TRACK_URI = re.compile(r"spotify:track:[0-9A-Za-z]{22}")
_ID_CHARS = string.ascii_letters + string.digits


@dataclass
class CreatedPlaylist:
    """A playlist a user made through the API, as the stand-in keeps it."""

    pid: str
    owner: str
    name: str
    description: str
    public: bool
    uris: list[str] = field(default_factory=list)
    version: int = 1
    followed: bool = True  # "deleting" a playlist on Spotify unfollows it; it still answers

    @property
    def snapshot_id(self) -> str:
        return f"{self.pid}-v{self.version}"


@dataclass
class _Fault:
    method: str
    path_substring: str
    times: int
    status: int | None  # None: close the connection without an answer
    applied: bool  # whether the work is done before failing
    headers: dict[str, str]
    skip: int = 0  # let this many matching requests through first
    hold: Hold | None = None  # wait for the test to release the request, then do it


@dataclass
class Hold:
    """A request kept waiting: `arrived` when it is, `release` lets it go on, `done` after."""

    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


class Writes:
    """The users' playlists and the tokens that act for them; one per StandIn."""

    def __init__(self, standin: StandInHost, users: Users) -> None:
        self.standin = standin
        self.users = users  # who a token acts for, and its scopes
        self._lock = threading.Lock()
        self._playlists: dict[str, CreatedPlaylist] = {}  # in creation order
        self._faults: list[_Fault] = []

    # ---------------------------------------------------------------- control

    def fail(
        self, method: str, path_substring: str, status: int, *, times: int = 1,
        applied: bool = False, headers: Mapping[str, str] | None = None, skip: int = 0,
    ) -> None:
        """Answer `times` `method` requests on a matching path (after letting `skip`
        through) with `status`, having done nothing (default) or the work (``applied``)."""
        with self._lock:
            self._faults.append(_Fault(method, path_substring, times, status, applied,
                                       dict(headers or {}), skip))

    def hold(self, method: str, path_substring: str, *, skip: int = 0) -> Hold:
        """Keep the next matching request (after `skip`) waiting until ``release`` is set,
        then do it: the client may be killed meanwhile, as a kill mid-request would."""
        hold = Hold()
        with self._lock:
            self._faults.append(_Fault(method, path_substring, 1, None, True, {}, skip, hold))
        return hold

    def drop_after(self, method: str, path_substring: str, times: int = 1) -> None:
        """Do the next `times` matching requests, then close the connection unanswered."""
        with self._lock:
            self._faults.append(_Fault(method, path_substring, times, None, True, {}))

    def clear_faults(self) -> None:
        """Forget the faults not used up yet: the next requests are answered normally."""
        with self._lock:
            self._faults.clear()

    def add_playlist(
        self, name: str, uris: list[str], *, owner: str = DEFAULT_USER, description: str = "",
        public: bool = False,
    ) -> str:
        """A playlist that already exists in an account (for --into); its ID."""
        with self._lock:
            return self._create(owner, name, description, public, list(uris)).pid

    def playlists(self, owner: str = DEFAULT_USER) -> list[CreatedPlaylist]:
        """Copies of the playlists `owner` has, in creation order (for assertions)."""
        with self._lock:
            return [copy.deepcopy(p) for p in self._playlists.values() if p.owner == owner]

    def edit(self, pid: str, uris: list[str]) -> None:
        """The owner changes the playlist's items by hand (in the Spotify app, say)."""
        with self._lock:
            self._playlists[pid].uris = list(uris)

    def delete(self, pid: str) -> None:
        """The owner deletes the playlist: as on Spotify, it leaves their library (unfollowed)
        but still answers GET /playlists/{id} and its items."""
        with self._lock:
            self._playlists[pid].followed = False

    # ---------------------------------------------------------------- serving

    def serve(
        self, handler: BaseHTTPRequestHandler, method: str, url: SplitResult, body: bytes
    ) -> bool:
        """Answer the request if it is one of ours; False leaves it to standin.py."""
        parts = url.path.strip("/").split("/")
        if not self._ours(method, parts):
            return False
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        authorization = handler.headers.get("Authorization", "")
        fault = self._fault(method, url.path)
        headers: dict[str, str] = {}
        if fault is not None and fault.hold is not None:
            fault.hold.arrived.set()
            fault.hold.release.wait(timeout=60)
            status, data = self._answer(method, parts, query, body, authorization)
            fault.hold.done.set()
            fault = None
        elif fault is None or fault.applied:
            status, data = self._answer(method, parts, query, body, authorization)
        if fault is not None:
            if fault.status is None:
                handler.close_connection = True  # done, but the client never hears of it
                return True
            status, data, headers = fault.status, error_body(fault.status, "Fault"), fault.headers
        payload = json.dumps(data, ensure_ascii=False).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        try:
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:  # the client is gone (killed while its request was held)
            handler.close_connection = True
        return True

    def _ours(self, method: str, parts: list[str]) -> bool:
        if parts == ["v1", "me", "playlists"] or parts == ["v1", "search"]:
            return True
        if parts[:2] != ["v1", "playlists"] or len(parts) not in (3, 4):
            return False
        if method in ("PUT", "POST"):
            return len(parts) == 4 and parts[3] == "items"
        with self._lock:
            return parts[2] in self._playlists

    def _fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method and fault.path_substring in path:
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _answer(
        self, method: str, parts: list[str], query: dict[str, str], body: bytes,
        authorization: str,
    ) -> tuple[int, Any]:
        if not self.standin._authorized(authorization):
            return 401, error_body(401, "Invalid access token")
        grant = self.users.grant_of(authorization)
        if parts == ["v1", "search"]:
            return search_tracks(self._catalog(), query, f"{self.standin.api_base}/search")
        if grant is None:  # an app token (client credentials) is no one
            return 401, error_body(401, "Only valid bearer authentication supported")
        user, scopes = grant.user, frozenset(grant.scope.split())
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return 400, error_body(400, "Error parsing JSON.")
        with self._lock:
            if parts == ["v1", "me", "playlists"]:
                if method == "GET":
                    return 200, self._list(user, scopes, query)
                if method == "POST":
                    return self._create_for(user, scopes, payload)
            if parts[:2] == ["v1", "playlists"]:
                return self._playlist_call(method, parts, user, scopes, query, payload)
        return 404, error_body(404, "Service not found")

    def _create_for(
        self, user: str, scopes: frozenset[str], payload: Any
    ) -> tuple[int, Any]:
        if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
            return 400, error_body(400, "Missing required field: name")
        public = payload.get("public", True) is not False
        if _modify_scope(public) not in scopes:
            return 403, error_body(403, "Insufficient client scope")
        description = payload.get("description") or ""
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            return 400, error_body(400, "Invalid description")
        created = self._create(user, payload["name"], description, public, [])
        return 201, self._object(created, {})

    def _create(
        self, owner: str, name: str, description: str, public: bool, uris: list[str]
    ) -> CreatedPlaylist:
        pid = "".join(secrets.choice(_ID_CHARS) for _ in range(22))
        created = self._playlists[pid] = CreatedPlaylist(pid, owner, name, description, public,
                                                         uris)
        return created

    def _playlist_call(
        self, method: str, parts: list[str], user: str, scopes: frozenset[str],
        query: dict[str, str], payload: Any,
    ) -> tuple[int, Any]:
        pid = parts[2]
        playlist = self._playlists.get(pid)
        if playlist is None:
            exists = pid in self.standin._playlists
            return (403, error_body(403, "Forbidden")) if exists else (
                404, error_body(404, "Resource not found"))
        if method == "GET":
            if len(parts) == 3:
                return 200, self._object(playlist, query)
            return 200, self._page(playlist, query)
        if playlist.owner != user:
            return 403, error_body(403, "You cannot change a playlist you do not own")
        if _modify_scope(playlist.public) not in scopes:
            return 403, error_body(403, "Insufficient client scope")
        uris = payload.get("uris") if isinstance(payload, dict) else None
        if not isinstance(uris, list) or len(uris) > MAX_URIS:
            return 400, error_body(400, f"'uris' must be a list of at most {MAX_URIS} URIs")
        bad = [u for u in uris if not isinstance(u, str) or not _TRACK_URI.fullmatch(u)]
        if bad:
            return 400, error_body(400, f"Invalid base62 id: {bad[0]!r}")
        if method == "PUT":
            playlist.uris = list(uris)
            status = 200
        else:
            position = payload.get("position")
            at = position if isinstance(position, int) else len(playlist.uris)
            playlist.uris[at:at] = uris
            status = 201
        playlist.version += 1
        return status, {"snapshot_id": playlist.snapshot_id}

    # ----------------------------------------------------------------- shapes

    def _summary(self, playlist: CreatedPlaylist) -> dict[str, Any]:
        pid = playlist.pid
        return {
            "collaborative": False,
            "description": html.escape(playlist.description),  # Spotify sends it escaped
            "external_urls": {"spotify": f"{OPEN_URL}/playlist/{pid}"},
            "href": f"{self.standin.api_base}/playlists/{pid}",
            "id": pid,
            "name": playlist.name,
            "owner": {"display_name": playlist.owner, "id": playlist.owner, "type": "user",
                      "uri": f"spotify:user:{playlist.owner}"},
            "public": playlist.public,
            "snapshot_id": playlist.snapshot_id,
            "items": {"href": f"{self.standin.api_base}/playlists/{pid}/items",
                      "total": len(playlist.uris)},
            "type": "playlist",
            "uri": f"spotify:playlist:{pid}",
        }

    def _object(self, playlist: CreatedPlaylist, query: dict[str, str]) -> dict[str, Any]:
        data = self._summary(playlist)
        data["items"] = self._page(playlist, {"offset": "0", "limit": str(MAX_URIS)})
        return data

    def _page(self, playlist: CreatedPlaylist, query: dict[str, str]) -> dict[str, Any]:
        offset, limit = window(query, MAX_URIS)
        href = f"{self.standin.api_base}/playlists/{playlist.pid}/items"
        items = [self._entry(uri, playlist.owner) for uri in playlist.uris[offset:offset + limit]]
        return paged(href, items, offset, limit, len(playlist.uris))

    def _entry(self, uri: str, owner: str) -> dict[str, Any]:
        tid = uri.rsplit(":", 1)[-1]
        item = self._catalog().get(tid)
        if item is None:
            item = {
                "album": {"external_urls": {}, "id": None, "name": "", "type": "album"},
                "artists": [], "duration_ms": 0, "name": "",
            }
        item = {**item, "id": tid, "type": "track", "uri": uri, "is_local": False,
                "external_urls": {"spotify": f"{OPEN_URL}/track/{tid}"}}
        return {"added_at": "2026-01-01T00:00:00Z", "added_by": {"id": owner},
                "is_local": False, "item": item}

    def _list(self, user: str, scopes: frozenset[str], query: dict[str, str]) -> dict[str, Any]:
        offset, limit = window(query, MAX_LIST_PAGE)
        visible = self.users.library(user) + [
            self._summary(p) for p in self._playlists.values()
            if p.owner == user and p.followed
            and (p.public or "playlist-read-private" in scopes)
        ]
        items = visible[offset:offset + limit]
        return paged(f"{self.standin.api_base}/me/playlists", items, offset, limit,
                      len(visible))

    def _catalog(self) -> Mapping[str, dict[str, Any]]:
        """Track objects by ID from every served playlist (names for the items we list)."""
        with self.standin._lock:
            served = list(self.standin._playlists.values())
        found: dict[str, dict[str, Any]] = {}
        for stored in served:
            for entry in stored["entries"]:
                item = entry.get("item") if isinstance(entry, dict) else None
                if isinstance(item, dict) and item.get("id") and item.get("type") == "track":
                    found.setdefault(item["id"], item)
        return found



def _modify_scope(public: bool) -> str:
    return "playlist-modify-public" if public else "playlist-modify-private"
