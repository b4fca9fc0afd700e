"""Linked playlist IDs: ``gitarchive link OLD NEW`` joins a re-issued playlist's histories.

Spotify sometimes re-issues a playlist under a new ID: in one commit the old ID's
file is deleted and the new ID's added with the same name line. The user records
that NEW continues OLD in ``playlists/links`` (beside ``registry/``, committed like
a registry change), one ``OLD NEW`` pair per line, sorted by NEW::

    37i9dQZF1DX0XUsuxWHRQd 2cXaTJqbeKeJbeDJh1DX4j

The file sits outside ``registry/`` so tools that read every name there as a
playlist ID (spotify-playlist-archive, ``gitarchive check``) are not disturbed.
The replay reads HEAD's links: where NEW's first snapshot is written, its history
starts as a copy of OLD's (tracks, dates, first scrape), so its cumulative view
carries OLD's tracks on; OLD keeps its own view. ``gitarchive unlink NEW`` removes
the pair. Nothing is ever linked automatically: ``rebuild`` only suggests pairs.
"""

from __future__ import annotations

from collections.abc import Mapping

import pygit2

from gitarchive.archive import layout
from gitarchive.errors import LinkError
from gitarchive.git.store import Store

LINKS_PATH = f"{layout.ROOT}/links"

# NEW -> OLD: which playlist's history each linked playlist continues.
Links = Mapping[str, str]


def parse(data: bytes) -> dict[str, str]:
    """The pairs of a links file (NEW -> OLD); raises LinkError naming the bad line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LinkError(f"{LINKS_PATH} is not UTF-8 text") from exc
    links: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts or line.lstrip().startswith("#"):
            continue
        if len(parts) != 2 or not all(layout.is_playlist_id(p) for p in parts):
            raise LinkError(f"{LINKS_PATH} line {number} is not 'OLD_ID NEW_ID'")
        old, new = parts
        if old == new or new in links:
            raise LinkError(f"{LINKS_PATH} line {number} links {new} twice or to itself")
        links[new] = old
    return links


def to_bytes(links: Links) -> bytes:
    return "".join(f"{links[new]} {new}\n" for new in sorted(links)).encode()


def from_tree(repo: pygit2.Repository, tree: pygit2.Tree | None) -> dict[str, str]:
    """The links of a tree; an unreadable file counts as no links (the replay never fails)."""
    if tree is None:
        return {}
    try:
        entry = tree[LINKS_PATH]
    except KeyError:
        return {}
    blob = repo[entry.id]
    if not isinstance(blob, pygit2.Blob):
        return {}
    try:
        return parse(blob.data)
    except LinkError:
        return {}


def load(store: Store) -> dict[str, str]:
    """HEAD's links (NEW -> OLD); LinkError when the file is malformed."""
    data = store.read(LINKS_PATH)
    return parse(data) if data is not None else {}


def chain(links: Links, pid: str) -> list[str]:
    """``pid`` and the IDs it continues, newest first (A -> B -> C gives [C, B, A])."""
    found = [pid]
    while found[-1] in links and links[found[-1]] not in found:
        found.append(links[found[-1]])
    return found


def link(store: Store, old_ref: str, new_ref: str) -> tuple[str, str] | None:
    """Record that NEW continues OLD, in one commit; None when it was already recorded."""
    old, new = layout.parse_playlist_ref(old_ref), layout.parse_playlist_ref(new_ref)
    if old == new:
        raise LinkError("a playlist cannot continue itself")
    links = load(store)
    if links.get(new) == old:
        return None
    if new in links:
        raise LinkError(
            f"{new} already continues {links[new]}; run 'gitarchive unlink {new}' first"
        )
    taken = [n for n, o in links.items() if o == old]
    if taken:
        raise LinkError(f"{old} is already continued by {taken[0]}")
    if new in chain(links, old):
        raise LinkError(f"{old} already continues {new}: linking back would make a loop")
    links[new] = old
    store.commit({LINKS_PATH: to_bytes(links)},
                 f"Link {old} -> {new}\n\n{new} continues the history of {old}.")
    return old, new


def unlink(store: Store, new_ref: str) -> tuple[str, str]:
    """Undo ``link OLD NEW`` in one commit; returns (OLD, NEW)."""
    new = layout.parse_playlist_ref(new_ref)
    links = load(store)
    if new not in links:
        raise LinkError(f"{new} is not linked to another playlist")
    old = links.pop(new)
    store.commit({LINKS_PATH: to_bytes(links) if links else None},
                 f"Unlink {old} -> {new}")
    return old, new


def command(old: str, new: str) -> str:
    """The exact command that links two IDs (for suggestions)."""
    return f"gitarchive link {old} {new}"
