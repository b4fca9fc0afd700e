"""One track across an archive's change of format: its plain line, then its JSON entry.

Archives from before 2022 hold plain files only (a track is known by its lower-cased
line); later ones JSON snapshots (a track is known by its Spotify ID). The replay
continues a plain line with the JSON track that renders to it; ``log`` and ``diff``
compare snapshots the same way, so a change of format is no change of tracks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gitarchive.archive.model import PLAIN_KEY_PREFIX, Track, plain_key


def plain_keys(keys: Iterable[str]) -> set[str]:
    """The keys of ``keys`` that are plain lines'."""
    return {key for key in keys if key.startswith(PLAIN_KEY_PREFIX)}


def by_key(keys: Sequence[str], tracks: Sequence[Track], plain: set[str]) -> dict[str, Track]:
    """``tracks`` by their ``keys``, where one known by its ID whose plain line is one of
    ``plain`` goes by that line's key instead."""
    found = {}
    for key, track in zip(keys, tracks, strict=True):
        if plain and key not in plain:
            line = plain_key(track.plain_line)
            key = line if line in plain else key
        found[key] = track
    return found


def when_of(dates: dict[str, int], key: str, track: Track) -> int | None:
    """When ``track`` (known as ``key``) came or went, by either of its keys in ``dates``."""
    found = dates.get(key)
    return found if found is not None else dates.get(plain_key(track.plain_line))
