"""A local stand-in for the Spotify Web API, for tests, `gitarchive demo` and benchmarks.

It serves the token endpoint and the playlist endpoints on 127.0.0.1 (an
ephemeral port) the way Spotify serves a development-mode app since the February
2026 migration: `GET /v1/playlists/{id}` with the first page of entries embedded,
`GET /v1/playlists/{id}/items` paged with `next` links, and 403 on the old
`/tracks` endpoint. Playlists can be changed while it runs, and failures can be
scripted, so the real client code path (requests, retries, paging) is exercised.

    with StandIn(load_fixture_playlists()) as server:  # gitarchive.spotify.fixtures
        client = SpotifyClient(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET,
                               api_base=server.api_base, token_url=server.token_url)
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from gitarchive.spotify.apijson import Shape, all_entries, as_new_entry, shaped_entry
from gitarchive.spotify.standin_users import DEFAULT_USER, Mode, Users
from gitarchive.spotify.standin_writes import Writes

Paging = Literal["loop", "endless", "untotalled"]

DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"
DEMO_REFRESH_TOKEN = "demo-refresh"
MAX_PAGE = 100


@dataclass
class _Fault:
    path_substring: str
    status: int
    times: int
    headers: dict[str, str]
    body: bytes | None
    cut: bool = False  # announce the whole body, send half of it, drop the connection


class StandIn:
    """A threaded HTTP server that answers like Spotify's Web API; use it as a context manager."""

    def __init__(
        self,
        playlists: Mapping[str, dict[str, Any]] | None = None,
        *,
        shape: Shape = "new",
        client_id: str = DEMO_CLIENT_ID,
        client_secret: str = DEMO_CLIENT_SECRET,
        refresh_token: str = DEMO_REFRESH_TOKEN,
        mode: Mode = "extended",
        user_id: str = DEFAULT_USER,
    ) -> None:
        self.shape: Shape = shape
        self.user_id = user_id  # who signs in at /authorize, and whose refresh_token is
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.requests: list[tuple[str, str]] = []  # (method, path with query), in order
        self._lock = threading.Lock()
        self._playlists: dict[str, dict[str, Any]] = {}
        self._faults: list[_Fault] = []
        self._responses: dict[tuple[str, str], tuple[int, bytes]] = {}
        self._tokens: set[str] = set()
        self._paging: dict[str, Paging] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.users = Users(self, mode)  # sign-in, user tokens, /me, the 2026 access rule
        self.writes = Writes(self, self.users)  # playlists users create and fill
        for pid, data in (playlists or {}).items():
            self.set_playlist(pid, data)

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> StandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.standin = self
        self._server = server
        # A short poll interval makes stop() quick: tests start many servers.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in server is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/api/token"

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/authorize"

    def token_user(self, authorization: str) -> str | None:
        """The user ID behind a request's ``Authorization`` header; None for an app token."""
        return self.users.token_user(authorization)

    # ------------------------------------------------------------------ control

    def set_playlist(self, pid: str, data: dict[str, Any]) -> None:
        """Serve `data` (an API-shaped playlist with all its entries, either shape) for `pid`."""
        held = all_entries(data)  # not a list: its pages hold that instead of entries
        entries = [as_new_entry(e) for e in held] if isinstance(held, list) else held
        meta = {k: copy.deepcopy(v) for k, v in data.items() if k not in ("items", "tracks")}
        with self._lock:
            self._playlists[pid] = {"meta": meta, "entries": entries}
            self._responses.clear()

    def remove_playlist(self, pid: str) -> None:
        """From now on, answer 404 for `pid`."""
        with self._lock:
            self._playlists.pop(pid, None)
            self._responses.clear()

    def fail_next(
        self,
        path_substring: str,
        status: int,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: str | bytes | None = None,
        cut: bool = False,
    ) -> None:
        """Answer the next `times` requests whose path contains `path_substring` with `status`.

        A 200 with a `body` scripts a malformed answer; without `body`, an error JSON
        like Spotify's is sent. `cut` breaks the connection half-way through the body.
        Faults apply before authentication.
        """
        raw = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._faults.append(
                _Fault(path_substring, status, times, dict(headers or {}), raw, cut)
            )

    def issued_tokens(self) -> list[str]:
        """The access tokens handed out and still valid (tests look for them in output)."""
        with self._lock:
            return sorted(self._tokens)

    def set_paging(self, pid: str, paging: Paging) -> None:
        """Break `pid`'s `next` links: "loop" points every page back to the first page of
        /items, "endless" never stops (pages past the end repeat the entries),
        "untotalled" is endless and announces no `total` either."""
        with self._lock:
            self._paging[pid] = paging
            self._responses.clear()

    def expire_tokens(self) -> None:
        """Invalidate every issued access token: the next API call gets 401."""
        with self._lock:
            self._tokens.clear()

    # ----------------------------------------------------------- request logic

    def _record(self, method: str, path: str) -> _Fault | None:
        """Count the request; return the scripted fault that answers it, if any."""
        with self._lock:
            self.requests.append((method, path))
            for fault in self._faults:
                if fault.path_substring in path and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _issue_token(self, form: dict[str, str], authorization: str) -> tuple[int, Any]:
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if authorization.startswith("Basic "):
            try:
                decoded = base64.b64decode(authorization[6:]).decode()
                client_id, _, client_secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                pass
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return 400, {"error": "invalid_client", "error_description": "Invalid client"}
        grant = form.get("grant_type")
        if grant in ("authorization_code", "refresh_token"):
            return self.users.issue(form)
        if grant != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens.add(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}

    def _authorized(self, authorization: str) -> bool:
        with self._lock:
            return authorization.startswith("Bearer ") and authorization[7:] in self._tokens

    def _api_response(self, path: str, raw_query: str) -> tuple[int, bytes]:
        """The encoded answer, cached until a playlist changes: benchmarks fetch 1,000
        playlists on a 2-core machine, and the stand-in must not cost more than the client."""
        key = (path, raw_query)
        with self._lock:
            cached = self._responses.get(key)
        if cached is not None:
            return cached
        query = {k: v[0] for k, v in parse_qs(raw_query).items()}
        status, data = self._api(path, query)
        answer = (status, _json(data))
        with self._lock:
            self._responses[key] = answer
        return answer

    def _api(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")  # v1, playlists, {id}[, items|tracks]
        if len(parts) not in (3, 4) or parts[:2] != ["v1", "playlists"]:
            return 404, _error(404, "Service not found")
        pid = parts[2]
        with self._lock:
            stored = self._playlists.get(pid)
        if stored is None:
            return 404, _error(404, "Resource not found")
        if len(parts) == 3:
            return 200, self._playlist_object(pid, stored)
        if parts[3] == "items":
            return 200, self._page(pid, stored["entries"], query, "items", self.shape)
        if parts[3] == "tracks" and self.shape == "old":  # the API before the migration
            return 200, self._page(pid, stored["entries"], query, "tracks", "old")
        if parts[3] == "tracks":
            return 403, _error(403, "Forbidden")
        return 404, _error(404, "Service not found")

    def _playlist_object(self, pid: str, stored: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = copy.deepcopy(stored["meta"])
        first = {"offset": "0", "limit": str(MAX_PAGE)}
        if self.shape in ("new", "both"):
            data["items"] = self._page(pid, stored["entries"], first, "items", self.shape)
        if self.shape in ("old", "both"):
            data["tracks"] = self._page(pid, stored["entries"], first, "tracks", self.shape)
        return data

    def _page(
        self,
        pid: str,
        entries: list[dict[str, Any]],
        query: dict[str, str],
        endpoint: str,
        shape: Shape,
    ) -> dict[str, Any]:
        offset = max(_int(query.get("offset"), 0), 0)
        limit = min(max(_int(query.get("limit"), MAX_PAGE), 1), MAX_PAGE)
        href = f"{self.api_base}/playlists/{pid}/{endpoint}"
        end = offset + limit
        paging = self._paging.get(pid)
        if not isinstance(entries, list):  # a hostile page (set_playlist): as it was given
            return {"href": f"{href}?offset={offset}&limit={limit}", "items": entries,
                    "limit": limit, "next": None, "offset": offset, "previous": None,
                    "total": 1}
        served = entries[offset:end]
        following = f"{href}?offset={end}&limit={limit}" if end < len(entries) else None
        if paging == "loop":
            following = f"{self.api_base}/playlists/{pid}/items?offset=0&limit={limit}"
        elif paging in ("endless", "untotalled"):
            following = f"{href}?offset={end}&limit={limit}"
            served = served or entries[:limit]
        return {
            "href": f"{href}?offset={offset}&limit={limit}",
            "items": [shaped_entry(e, shape) for e in served],
            "limit": limit,
            "next": following,
            "offset": offset,
            "previous": (
                f"{href}?offset={max(offset - limit, 0)}&limit={limit}" if offset else None
            ),
            "total": None if paging == "untotalled" else len(entries),
        }


class _Server(ThreadingHTTPServer):
    """The HTTP server, knowing the StandIn whose playlists it serves."""

    standin: StandIn


class _Handler(BaseHTTPRequestHandler):
    """Routes one request to the StandIn it belongs to."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the real API, for requests.Session

    @property
    def standin(self) -> StandIn:
        server = self.server
        assert isinstance(server, _Server)  # the only server this handler is given to
        return server.standin

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Quiet: tests and the demo must not print request logs to stderr."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        standin = self.standin
        fault = standin._record(method, self.path)
        if fault is not None:
            payload = fault.body
            if payload is None:
                payload = _json(_error(fault.status, HTTPStatus(fault.status).phrase))
            return self._send(fault.status, payload, fault.headers, cut=fault.cut)
        url = urlsplit(self.path)
        authorization = self.headers.get("Authorization", "")
        if method == "GET" and url.path == "/authorize":
            status, data, headers = standin.users.authorize(url.query)
            return self._send(status, _json(data), headers)
        if method == "POST" and url.path == "/api/token":
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            status, data = standin._issue_token(form, authorization)
        elif standin.writes.serve(self, method, url, body):
            return
        elif method != "GET":
            status, data = 405, _error(405, "Method not allowed")
        elif not standin._authorized(authorization):
            status, data = 401, _error(401, "Invalid access token")
        elif (routed := standin.users.route(url.path, authorization)) is not None:
            status, data = routed
        else:
            return self._send(*standin._api_response(url.path, url.query), {})
        self._send(status, _json(data), {})

    def _send(
        self, status: int, payload: bytes, headers: Mapping[str, str], *, cut: bool = False
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if cut:
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)


def _json(data: Any) -> bytes:
    try:
        return json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # a lone surrogate, scripted by a test: sent escaped
        return json.dumps(data).encode()


def _error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "message": message}}


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default
