"""A parsed playlist as bytes and back, for a process that fetched it to hand it to another.

``marshal`` of plain tuples, not a pickle of the model objects: pickling a 100-track
playlist costs ~0.66 ms (as much as rendering it), in the process whose CPU is the run's
wall time; the plain tuples go through in a fraction of that, and the objects are
built back by the model's own fast constructors. Every field goes through as it was
(str, int or None: what the parse lets in), so the objects built back are equal to
those that were sent.
"""

from __future__ import annotations

import marshal

from gitarchive.archive.model import Link, Playlist, new_link, new_track
from gitarchive.spotify.parse import FetchResult


def _link(link: Link) -> tuple[str, str]:
    return (link.name, link.url)


def dumps(result: FetchResult) -> bytes:
    """``result`` as bytes (``loads`` builds it back)."""
    playlist = result.playlist
    tracks = tuple(
        (t.url, t.name, (t.album.name, t.album.url), tuple(_link(a) for a in t.artists),
         t.duration_ms, t.added_at, t.added_by)
        for t in playlist.tracks
    )
    return marshal.dumps((
        (playlist.url, playlist.original_name, playlist.description, _link(playlist.owner),
         tracks, playlist.snapshot_id, playlist.num_followers, playlist.unique_name),
        tuple(result.skipped), result.tracks_print,
    ))


def loads(data: bytes) -> FetchResult:
    """The FetchResult ``dumps`` was given (equal objects)."""
    fields, skipped, printed = marshal.loads(data)
    url, name, description, owner, tracks, snapshot_id, followers, unique = fields
    built = tuple(
        new_track(t_url, t_name, new_link(*album), tuple(new_link(*a) for a in artists),
                  duration, added_at, added_by)
        for t_url, t_name, album, artists, duration, added_at, added_by in tracks
    )
    playlist = Playlist(url, name, description, new_link(*owner), built, snapshot_id,
                        followers, unique)
    return FetchResult(playlist, list(skipped), printed)
