"""``search``: where a song was, in every playlist's whole history, from the index alone.

Apart from query.py (which reads snapshots through pygit2) so that a search answered
from a current index (questions/current.py) loads no git code at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from gitarchive.errors import QueryError
from gitarchive.questions.index import QueryIndex, TrackRow


class Hit(NamedTuple):
    playlist_name: str
    track: TrackRow


def search(index: QueryIndex, text: str, pids: Iterable[str] | None = None) -> list[Hit]:
    """Tracks matching ``text`` in any playlist's whole history, by playlist then title."""
    if not text.strip():
        raise QueryError("give some text to search for")
    names = {pid: row.name for pid, row in index.playlists().items()}
    folded = {pid: name.lower() for pid, name in names.items()}  # once per playlist, not hit
    hits = [Hit(names.get(t.pid, t.pid), t) for t in index.search(text.strip(), pids)]
    hits.sort(key=lambda h: (folded.get(h.track.pid, h.track.pid.lower()), h.track.pid,
                             h.track.name.lower(), h.track.key))
    return hits
