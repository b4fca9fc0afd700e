"""A JSON snapshot file's digest without its follower count: what the views keep of it.

Most days most playlists change only their follower count, which the replay and the
timelines ignore; equal digests mean the same snapshot for them. A fetch knows most
of its new files equal the last ones but for that line (it read the last ones to reuse
their tracks): comparing them there spares hashing 1,000 files in the run's one thread.
"""

from __future__ import annotations

import hashlib

_FOLLOWERS = b'\n  "num_followers": '


def snapshot_digest(data: bytes) -> bytes:
    """A digest of a JSON snapshot file without its follower count line (a raw newline
    cannot occur inside a JSON string, so the line is the top-level field's)."""
    return hashlib.blake2b(_without_followers(data), digest_size=16).digest()


def same_snapshot(data: bytes, other: bytes) -> bool:
    """Whether the two files have the same ``snapshot_digest`` because they are equal but
    for the follower count line: known by comparing them, without hashing either."""
    return _without_followers(data) == _without_followers(other)


def _without_followers(data: bytes) -> bytes:
    """The file without its follower count line: what ``snapshot_digest`` hashes."""
    start = data.find(_FOLLOWERS)
    end = data.find(b"\n", start + 1) if start >= 0 else -1
    return data[:start] + data[end:] if end > 0 else data
