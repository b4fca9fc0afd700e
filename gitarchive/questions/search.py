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
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8 (a Latin-1 terminal): never stored
        shown = text.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
        raise QueryError(f"the text to search for is not UTF-8 ('{shown}'): type it in a "
                         "UTF-8 terminal or locale (LANG=C.UTF-8)") from None
    if not fold(text.strip()):  # it found every track: the empty text is in every name
        raise QueryError(f"'{text}' is only marks a search ignores (accents): give some letters")
    return index.search(text.strip(), pids)
