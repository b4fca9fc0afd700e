"""Users for the Spotify stand-in: sign-in (PKCE), user tokens, /me, and who may read what.

The stand-in (spotify/standin.py) owns the HTTP server and the playlists; this
module adds what depends on *who* asks, and is the one place that says who a
token acts for (``grant_of``, ``token_user``; standin_writes.py asks it too):

* ``GET /authorize`` approves at once as the stand-in's current user and answers a
  302 to the ``redirect_uri`` with ``code`` and ``state`` (a test follows it to
  gitarchive's loopback server, as a browser would);
* the token endpoint's ``authorization_code`` grant (the S256 PKCE verifier is
  checked) and ``refresh_token`` grant, both answering the granted ``scope``;
* ``GET /v1/me``, and ``library``: the served playlists a user owns, collaborates on
  or follows (standin_writes.py lists them in ``GET /v1/me/playlists`` with the
  playlists the user created);
* in development mode, the rule Spotify applies since 2026-03-09: a user token reads
  ``/playlists/{id}/items`` only when the user owns the playlist or collaborates on
  it, an app token never; ``GET /playlists/{id}`` still serves the details, without
  entries. In extended mode (the default, what the older tests expect) every token
  reads everything.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

from gitarchive.spotify.standin_search import error_body


class UsersHost(Protocol):
    """What the users need of the stand-in they extend (structural: no import back)."""

    _lock: threading.Lock
    _playlists: dict[str, Any]
    _responses: dict[tuple[str, str], tuple[int, bytes]]
    _tokens: set[str]
    client_id: str
    refresh_token: str
    user_id: str


Mode = Literal["extended", "development"]

DEFAULT_USER = "demo-user"
ALL_SCOPES = (
    "playlist-read-private",
    "playlist-read-collaborative",
    "playlist-modify-public",
    "playlist-modify-private",
)
OPEN_URL = "https://open.spotify.com"


@dataclass(frozen=True)
class Grant:
    """Who a user token acts for, and what it may do."""

    user: str
    scope: str


@dataclass(frozen=True)
class _PendingCode:
    client_id: str
    redirect_uri: str
    challenge: str
    grant: Grant


def user_ref(user_id: str) -> dict[str, Any]:
    """A user as the API embeds one (an entry's ``added_by``, a playlist's owner)."""
    return {
        "external_urls": {"spotify": f"{OPEN_URL}/user/{user_id}"},
        "href": f"https://api.spotify.com/v1/users/{user_id}",
        "id": user_id,
        "type": "user",
        "uri": f"spotify:user:{user_id}",
    }


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a code verifier (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class Users:
    """The stand-in's users, the codes and tokens issued to them, and the access rule."""

    def __init__(self, standin: UsersHost, mode: Mode) -> None:
        self.standin = standin
        self.mode: Mode = mode
        self.scope = " ".join(ALL_SCOPES)  # granted to the environment's refresh token
        self.display_names: dict[str, str] = {DEFAULT_USER: "Demo User"}
        self.collaborators: dict[str, set[str]] = {}  # playlist ID -> user IDs
        self.followed: dict[str, list[str]] = {}  # user ID -> playlist IDs in their library
        self.deny_next = False  # the next /authorize is refused, as when the user says no
        self.rotate_refresh_tokens = False  # answer a refresh with a new token, old one dead
        self.secrets_seen: list[str] = []  # codes, verifiers and tokens: tests search for them
        self._codes: dict[str, _PendingCode] = {}
        self._refresh: dict[str, Grant] = {}
        self._access: dict[str, Grant] = {}  # user tokens only: an app token has no user

    # ------------------------------------------------------------------ control

    def add_user(self, user_id: str, display_name: str | None = None) -> None:
        self.display_names[user_id] = display_name or user_id

    def share(self, pid: str, *user_ids: str) -> None:
        """Make ``pid`` collaborative with these users as collaborators."""
        with self.standin._lock:
            self.collaborators.setdefault(pid, set()).update(user_ids)
            self.standin._playlists[pid]["meta"]["collaborative"] = True
            self.standin._responses.clear()

    def follow(self, user_id: str, *pids: str) -> None:
        """Put playlists in a user's library (listed by /me/playlists, not readable for that)."""
        self.followed.setdefault(user_id, []).extend(pids)

    def grant_of(self, authorization: str) -> Grant | None:
        """Who a request's bearer token acts for and its scope; None for an app token or none."""
        if not authorization.startswith("Bearer "):
            return None
        with self.standin._lock:
            return self._access.get(authorization[7:])

    def token_user(self, authorization: str) -> str | None:
        """The user ID a request's bearer token acts for; None for an app token or none."""
        grant = self.grant_of(authorization)
        return grant.user if grant is not None else None

    # ----------------------------------------------------------- sign-in

    def authorize(self, raw_query: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        """``GET /authorize``: (status, JSON error body, headers); approval is a 302."""
        query = {k: v[0] for k, v in parse_qs(raw_query).items()}
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != self.standin.client_id:
            return 400, {"error": "invalid_client", "error_description": "Invalid client"}, {}
        if urlsplit(redirect).scheme != "http" or urlsplit(redirect).hostname not in (
            "127.0.0.1", "::1"
        ):
            return 400, {"error": "invalid_request",
                         "error_description": "Insecure redirect URI"}, {}
        state = {"state": query["state"]} if "state" in query else {}
        challenge = query.get("code_challenge", "")
        if self.deny_next:
            self.deny_next = False
            answer = {"error": "access_denied", **state}
        elif query.get("response_type") != "code":
            answer = {"error": "unsupported_response_type", **state}
        elif query.get("code_challenge_method") != "S256" or len(challenge) < 43:
            answer = {"error": "invalid_request", **state}
        else:
            scopes = [s for s in query.get("scope", "").split() if s in ALL_SCOPES]
            code = secrets.token_urlsafe(32)
            pending = _PendingCode(self.standin.client_id, redirect, challenge,
                                   Grant(self.standin.user_id, " ".join(scopes)))
            with self.standin._lock:
                self._codes[code] = pending
                self.secrets_seen.append(code)
            answer = {"code": code, **state}
        separator = "&" if "?" in redirect else "?"
        return 302, {}, {"Location": f"{redirect}{separator}{urlencode(answer)}"}

    def issue(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The token endpoint's user grants (the client is already authenticated)."""
        grant_type = form.get("grant_type")
        refresh: str | None = None
        with self.standin._lock:
            self.secrets_seen.extend(v for k, v in form.items()
                                     if k in ("code_verifier", "refresh_token") and v)
            if grant_type == "authorization_code":
                pending = self._codes.pop(form.get("code", ""), None)  # a code works once
                if pending is None or pending.redirect_uri != form.get("redirect_uri"):
                    return 400, {"error": "invalid_grant",
                                 "error_description": "Invalid authorization code"}
                if s256(form.get("code_verifier", "")) != pending.challenge:
                    return 400, {"error": "invalid_grant",
                                 "error_description": "code_verifier was incorrect"}
                grant = pending.grant
                refresh = secrets.token_urlsafe(32)
                self._refresh[refresh] = grant
            else:
                given = form.get("refresh_token", "")
                if given == self.standin.refresh_token:  # the token tests set in the environment
                    grant = Grant(self.standin.user_id, self.scope)
                elif given in self._refresh:
                    grant = self._refresh[given]
                else:
                    return 400, {"error": "invalid_grant",
                                 "error_description": "Invalid refresh token"}
                if self.rotate_refresh_tokens:
                    self._refresh.pop(given, None)
                    refresh = secrets.token_urlsafe(32)
                    self._refresh[refresh] = grant
            token = secrets.token_urlsafe(24)
            self.standin._tokens.add(token)
            self._access[token] = grant
            self.secrets_seen.extend(t for t in (token, refresh) if t)
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": 3600,
                  "scope": grant.scope}
        if refresh is not None:
            answer["refresh_token"] = refresh
        return 200, answer

    # ----------------------------------------------------------- the API

    def route(self, path: str, authorization: str) -> tuple[int, Any] | None:
        """The answer to an authorized GET that depends on the user, else None (served as usual)."""
        parts = path.strip("/").split("/")
        user = self.token_user(authorization)
        if parts == ["v1", "me"]:
            if user is None:
                return 403, error_body(403, "Valid user authentication required")
            return 200, self._me(user)
        if self.mode != "development" or parts[:2] != ["v1", "playlists"] or len(parts) not in (
            3, 4
        ):
            return None
        pid = parts[2]
        with self.standin._lock:
            stored = self.standin._playlists.get(pid)
        if stored is None or self.may_read_items(user, pid):
            return None
        if len(parts) == 4:
            return 403, error_body(403, "Forbidden")
        return 200, copy.deepcopy(stored["meta"])  # the details, without any entries

    def may_read_items(self, user: str | None, pid: str) -> bool:
        """The 2026 development-mode rule: the user owns the playlist or collaborates on it."""
        if self.mode != "development":
            return True
        return user is not None and (user == self._owner(pid)
                                     or user in self.collaborators.get(pid, ()))

    def _owner(self, pid: str) -> str | None:
        with self.standin._lock:
            stored = self.standin._playlists.get(pid)
        owner = stored["meta"].get("owner") if stored else None
        return owner.get("id") if isinstance(owner, dict) else None

    def _me(self, user: str) -> dict[str, Any]:
        return {**user_ref(user), "display_name": self.display_names.get(user, user)}

    def library(self, user: str) -> list[dict[str, Any]]:
        """The served playlists in ``user``'s library (owned, collaborative, followed),
        simplified as ``/me/playlists`` lists them."""
        with self.standin._lock:
            playlists = dict(self.standin._playlists)
        followed = self.followed.get(user, [])
        return [self._simplified(pid, stored) for pid, stored in playlists.items()
                if self._owner(pid) == user or user in self.collaborators.get(pid, ())
                or pid in followed]

    @staticmethod
    def _simplified(pid: str, stored: dict[str, Any]) -> dict[str, Any]:
        meta = stored["meta"]
        keep = ("collaborative", "description", "external_urls", "href", "id", "name", "owner",
                "public", "snapshot_id", "type", "uri")
        data = {k: copy.deepcopy(meta[k]) for k in keep if k in meta}
        data.setdefault("id", pid)
        data["items"] = {"href": f"https://api.spotify.com/v1/playlists/{pid}/items",
                         "total": len(stored["entries"])}
        return data
