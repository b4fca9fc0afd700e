"""One track across an archive's change of format: its plain line, then its JSON entry.

Archives from before 2022 hold plain files only (a track is known by its lower-cased
line); later ones JSON snapshots (a track is known by its Spotify ID). The replay
continues a plain line with the JSON track that renders to it; ``log`` and ``diff``
compare snapshots the same way, so a change of format is no change of tracks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from gitarchive.archive.model import PLAIN_KEY_PREFIX, Track, plain_key

T = TypeVar("T")


def plain_keys(keys: Iterable[str]) -> set[str]:
    """The keys of ``keys`` that are plain lines'."""
    return {key for key in keys if key.startswith(PLAIN_KEY_PREFIX)}


def by_key(pairs: Iterable[tuple[str, T]], plain: set[str],
           line_key: Callable[[T], str]) -> dict[str, T]:
    """Each track of ``pairs`` (key, track) by its key, where one known by its ID whose
    plain line (``line_key``: a model Track's, or a parsed TrackMeta's) is one of
    ``plain`` goes by that line's key instead."""
    if not plain:
        return dict(pairs)
    found = {}
    for key, track in pairs:
        if key not in plain:
            line = line_key(track)
            key = line if line in plain else key
        found[key] = track
    return found


def track_line_key(track: Track) -> str:
    """A model Track's plain line key (the replay's ``plain_key_of`` for parsed ones)."""
    return plain_key(track.plain_line)


def when_of(dates: dict[str, int], key: str, track: Track) -> int | None:
    """When ``track`` (known as ``key``) came or went, by either of its keys in ``dates``."""
    found = dates.get(key)
    return found if found is not None else dates.get(track_line_key(track))
