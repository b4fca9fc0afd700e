"""Where things live in an archive, and how people name playlists.

The layout is spotify-playlist-archive's, so existing archives keep working:
``playlists/{registry,plain,pretty,cumulative,followers}/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse

from gitarchive.errors import PlaylistRefError, RegistryError

ROOT = "playlists"
REGISTRY = f"{ROOT}/registry"
PLAIN = f"{ROOT}/plain"
PRETTY = f"{ROOT}/pretty"
CUMULATIVE = f"{ROOT}/cumulative"
FOLLOWERS = f"{ROOT}/followers"
INDEX = f"{ROOT}/index.md"

# Editorial and algorithmic playlists Spotify stopped serving to new apps on 2024-11-27.
SPOTIFY_OWNED_PREFIXES = ("37i9dQZF1", "37i9dQZEVX")

_ID = re.compile(r"[0-9A-Za-z]{22}")
_ALIAS_FORBIDDEN = re.compile(r"[\r\n\x00-\x1f]")


def registry_path(pid: str) -> str:
    return f"{REGISTRY}/{pid}"


def plain_path(pid: str) -> str:
    return f"{PLAIN}/{pid}"


def pretty_json_path(pid: str) -> str:
    return f"{PRETTY}/{pid}.json"


def pretty_md_path(pid: str) -> str:
    return f"{PRETTY}/{pid}.md"


def cumulative_json_path(pid: str) -> str:
    return f"{CUMULATIVE}/{pid}.json"


def cumulative_md_path(pid: str) -> str:
    return f"{CUMULATIVE}/{pid}.md"


def followers_path(pid: str) -> str:
    return f"{FOLLOWERS}/{pid}.json"


def snapshot_paths(pid: str) -> list[str]:
    """Every file a fetch writes for one playlist."""
    return [plain_path(pid), pretty_json_path(pid), pretty_md_path(pid), followers_path(pid)]


def is_playlist_id(text: str) -> bool:
    return bool(_ID.fullmatch(text))


def is_spotify_owned(pid: str) -> bool:
    """IDs of Spotify's own editorial/algorithmic playlists (404 to new apps since 2024-11-27)."""
    return pid.startswith(SPOTIFY_OWNED_PREFIXES)


def parse_playlist_ref(text: str) -> str:
    """A playlist ID from an ID, an open.spotify.com URL or a ``spotify:playlist:`` URI."""
    raw = text.strip()
    if is_playlist_id(raw):
        return raw
    if raw.startswith("spotify:"):
        parts = raw.split(":")
        # spotify:playlist:ID and the older spotify:user:NAME:playlist:ID
        if len(parts) >= 3 and parts[-2] == "playlist" and is_playlist_id(parts[-1]):
            return parts[-1]
    else:
        url = urlparse(raw if "://" in raw else f"https://{raw}")
        if url.hostname in ("open.spotify.com", "play.spotify.com"):
            segments = [s for s in url.path.split("/") if s]
            if "playlist" in segments:
                i = segments.index("playlist")
                if i + 1 < len(segments) and is_playlist_id(segments[i + 1]):
                    return segments[i + 1]
    raise PlaylistRefError(
        f"'{text}' is not a Spotify playlist: expected a 22-character ID "
        "(letters and digits), an https://open.spotify.com/playlist/<ID> URL "
        "or a spotify:playlist:<ID> URI"
    )


def check_alias(alias: str) -> str:
    """An alias is one non-empty line; returns it stripped or raises RegistryError."""
    stripped = alias.strip()
    if not stripped:
        raise RegistryError("an alias cannot be empty")
    if _ALIAS_FORBIDDEN.search(stripped):
        raise RegistryError("an alias must be a single line without control characters")
    return stripped


@dataclass(frozen=True)
class RegistryEntry:
    """A registered playlist: its ID and optional alias (registry file content)."""

    pid: str
    alias: str | None = None

    def to_bytes(self) -> bytes:
        return f"{self.alias}\n".encode() if self.alias else b""

    @classmethod
    def from_bytes(cls, pid: str, data: bytes) -> RegistryEntry:
        """Parse a registry file; raises RegistryError for a bad name or content."""
        if not is_playlist_id(pid):
            raise RegistryError(f"'{pid}' is not a playlist ID (22 letters and digits)")
        try:  # a byte order mark (a Windows editor's) is no part of the alias
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RegistryError(f"registry file of {pid} is not UTF-8 text") from exc
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1:
            raise RegistryError(f"registry file of {pid} must be empty or one line (an alias)")
        return cls(pid, check_alias(lines[0]) if lines else None)
