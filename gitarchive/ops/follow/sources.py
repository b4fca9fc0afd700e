"""A followed source's definition (committed) and its update state (this clone only).

The definition, ``playlists/follow/<name>.json``, says which archive and which of its
playlists; committed so that every clone follows the same. The state under
``.git/gitarchive/follow/`` remembers the last source tip seen, which is local: another
clone has fetched (or not) on its own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from gitarchive import safejson
from gitarchive.archive import layout
from gitarchive.archive.model import dump_json
from gitarchive.atomicfile import write_atomic
from gitarchive.errors import FollowError, StoreError
from gitarchive.git.identity import parse_git_date
from gitarchive.git.store import Store

FOLLOW_DIR = f"{layout.ROOT}/follow"
REF_PREFIX = "refs/gitarchive/follow/"
ALL = "all"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_PASSWORD_IN_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", re.IGNORECASE)


def follow_path(name: str) -> str:
    """Where the definition of the source ``name`` is committed."""
    return f"{FOLLOW_DIR}/{name}.json"


# ------------------------------------------------------------------ definitions


@dataclass
class Source:
    """A followed archive, as committed in ``playlists/follow/<name>.json``."""

    name: str
    url: str
    playlists: tuple[str, ...] | None  # None: every playlist of the source (--all)
    since: int | None = None  # versions older than this are never imported
    imported: dict[str, int] = field(default_factory=dict)  # pid -> newest imported version
    side: str | None = None  # tip of the imported side history

    @property
    def ref(self) -> str:
        return f"{REF_PREFIX}{self.name}"

    def follows(self, pid: str) -> bool:
        return self.playlists is None or pid in self.playlists

    def to_bytes(self) -> bytes:
        data = {
            "url": self.url,
            "playlists": ALL if self.playlists is None else sorted(self.playlists),
            "since": self.since,
            "imported": dict(sorted(self.imported.items())),
            "side": self.side,
        }
        return dump_json(data).encode()

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> Source:
        """Parse a definition; raises ValueError naming what is wrong."""
        try:
            raw = safejson.loads(data)
            url = raw["url"]
            playlists = raw["playlists"]
            if not isinstance(url, str) or not url:
                raise ValueError("no url")
            if playlists != ALL and not (
                isinstance(playlists, list) and all(layout.is_playlist_id(p) for p in playlists)
            ):
                raise ValueError("playlists must be a list of playlist IDs or \"all\"")
            imported = {str(k): int(v) for k, v in (raw.get("imported") or {}).items()}
            since = raw.get("since")
            side = raw.get("side")
            return cls(
                name, url, None if playlists == ALL else tuple(playlists),
                int(since) if since is not None else None, imported,
                str(side) if side else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{follow_path(name)} is not a follow definition: {exc}") from exc


def load_sources(store: Store, commit: pygit2.Commit | None = None) -> dict[str, Source]:
    """Every source defined at a commit (HEAD by default); a malformed one is an error."""
    reader = store.reader(commit)
    sources: dict[str, Source] = {}
    for filename, oid in sorted(reader.listing(FOLLOW_DIR).items()):
        if filename.endswith(".json"):
            name = filename[: -len(".json")]
            try:
                sources[name] = Source.from_bytes(name, store.blob(oid))
            except ValueError as exc:
                raise FollowError(f"{exc}; fix or remove the file") from exc
    return sources


def normalise_url(text: str) -> str:
    """A local path made absolute; URLs kept. Credentials in a URL are refused."""
    raw = text.strip()
    if not raw:
        raise FollowError("the source is empty: give a git URL or the path of an archive")
    if _PASSWORD_IN_URL.match(raw):
        raise FollowError(
            "the source URL contains a password; remove it and set GITARCHIVE_GIT_TOKEN "
            "(or use an SSH agent) instead, so it is never committed"
        )
    if "://" in raw or re.match(r"^[^/]+@[^/]+:", raw):
        return raw
    path = Path(raw).expanduser()
    if not path.exists():
        raise FollowError(f"{raw} is neither a URL nor an existing directory")
    return str(path.resolve())


def default_name(url: str) -> str:
    """A source name from its URL: the last path segment without ``.git``."""
    tail = re.split(r"[/:]", url.rstrip("/"))[-1]
    tail = tail.removesuffix(".git")
    if tail in ("", "."):
        tail = "source"
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", tail).strip("-.") or "source"
    return cleaned[:64]


def check_name(name: str) -> str:
    """``name`` when it can name a source (a file and a ref name), else FollowError."""
    if not _NAME.fullmatch(name):
        raise FollowError(
            f"'{name}' cannot name a source: use letters, digits, '.', '_' or '-' (at most 64)"
        )
    return name


def parse_since(text: str) -> int:
    """``--since DATE``: YYYY-MM-DD (midnight UTC) or any date git accepts."""
    raw = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raw += "T00:00:00+00:00"
    try:
        return parse_git_date(raw)[0]
    except StoreError as exc:
        raise FollowError(f"--since: cannot understand the date '{text}'") from exc


# ------------------------------------------------------------- local state


def state_path(store: Store, name: str) -> Path:
    """The update state's file: local to this clone, never committed."""
    return store.git_dir / "gitarchive" / "follow" / f"{name}.json"


def load_state(store: Store, name: str) -> dict[str, Any]:
    """The update state of a source in this clone; empty when none or unreadable."""
    try:
        data = safejson.loads(state_path(store, name).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def save_state(store: Store, name: str, data: dict[str, Any]) -> None:
    """Replace the update state of a source (atomically)."""
    path = state_path(store, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps(data, sort_keys=True) + "\n").encode())

