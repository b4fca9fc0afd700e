"""``search``: where a song was, in every playlist's whole history, from the index alone.

Apart from query.py (which reads snapshots through pygit2) so that a search answered
from a current index (questions/current.py) loads no git code at all.
"""

from __future__ import annotations

from collections.abc import Iterable

from gitarchive.errors import QueryError
from gitarchive.questions.index import QueryIndex, TrackRow, fold


def search(index: QueryIndex, text: str, pids: Iterable[str] | None = None) -> list[TrackRow]:
    """Tracks matching ``text`` in any playlist's whole history, by playlist then title
    (QueryIndex.search gives them in that order)."""
    if not text.strip():
        raise QueryError("give some text to search for")
    if not fold(text.strip()):  # it found every track: the empty text is in every name
        raise QueryError(f"'{text}' is only marks a search ignores (accents): give some letters")
    return index.search(text.strip(), pids)
