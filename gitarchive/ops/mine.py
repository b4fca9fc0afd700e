"""The signed-in user's own playlists: ``gitarchive add --mine``.

Since 2026-03-09 a development-mode app reads the tracks of exactly these
playlists: the ones the user owns and the collaborative ones. ``GET /me/playlists``
also lists playlists the user merely follows; those are left out (Spotify would
answer 403 for their tracks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitarchive.archive import layout, registry
from gitarchive.errors import PlaylistRefError, SpotifyError
from gitarchive.git.store import Store
from gitarchive.spotify import paging
from gitarchive.spotify.client import SpotifyClient

ME_PAGE_LIMIT = 50  # the most /me/playlists gives per page


@dataclass(frozen=True)
class LibraryPlaylist:
    """One entry of /me/playlists, as far as registering needs it."""

    pid: str
    name: str
    owner_id: str
    collaborative: bool


@dataclass
class MineResult:
    """What ``add --mine`` did: registered now, already registered, and left out (followed)."""

    user_id: str
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    followed_only: list[LibraryPlaylist] = field(default_factory=list)
    collaborative: list[str] = field(default_factory=list)  # registered ones not owned


def library(client: SpotifyClient) -> list[LibraryPlaylist]:
    """Every playlist in the user's library, following Spotify's paging."""
    found: list[LibraryPlaylist] = []
    first = client.get_json("/me/playlists", params={"limit": ME_PAGE_LIMIT, "offset": 0})
    for page in paging.follow(first, client.get_json, subject="your playlists (/me/playlists)",
                              error=SpotifyError):
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise SpotifyError("Spotify's answer for /me/playlists has no list of playlists")
        found.extend(filter(None, map(_library_entry, page["items"])))
    return found


def _library_entry(item: Any) -> LibraryPlaylist | None:
    """A playlist entry, or None for what is not one (Spotify sends null for some)."""
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        return None
    try:
        pid = layout.parse_playlist_ref(item["id"])
    except PlaylistRefError:
        return None
    owner = item.get("owner")
    if not isinstance(owner, dict):
        owner = {}
    return LibraryPlaylist(
        pid=pid,
        name=str(item.get("name") or pid),
        owner_id=str(owner.get("id") or ""),
        collaborative=item.get("collaborative") is True,
    )


def add_mine(store: Store, client: SpotifyClient, *, owned_only: bool = False) -> MineResult:
    """Register the user's own (and, unless owned_only, collaborative) playlists in one commit.

    Playlists already registered keep their entry (and alias) untouched.
    """
    user = str(client.me()["id"])  # NotSignedIn for an app token: it has no playlists
    result = MineResult(user)
    current, _ = registry.load(store)
    wanted: list[str] = []
    for playlist in library(client):
        owned = playlist.owner_id == user
        if not owned and (owned_only or not playlist.collaborative):
            if not owned_only:
                result.followed_only.append(playlist)
            continue
        if playlist.pid in wanted:
            continue
        if playlist.pid in current:
            result.already.append(playlist.pid)
        else:
            wanted.append(playlist.pid)
            if not owned:
                result.collaborative.append(playlist.pid)
    if wanted:
        result.added = registry.add(store, wanted)
    return result
