"""Follow Spotify's ``next`` links: the one pager for every list the API serves in pages.

A playlist's items, the user's library (``/me/playlists``) and a playlist's current
items before a publish are all pages linked by ``next``. Spotify has served links that
loop back, run past the ``total`` they announce, or never end; a nightly run that
followed them would hang. Every listing goes through :func:`follow`, so each of them
stops at the first such link with an error naming what was being listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

MAX_PAGES = 2_000  # 100,000 entries at 50 a page: ten times what Spotify allows a playlist


def follow(
    first: Any, get: Callable[[str], Any], *, subject: str, error: type[Exception]
) -> Iterator[Any]:
    """``first`` and every page its ``next`` links lead to (``get(link)``), in order.

    Listing ends at a page with no link, no entries, or one that is not a page at all
    (the caller checks what it needs of each page). A link that is not text, points
    back to a page already read, goes on past the announced ``total`` or past
    MAX_PAGES raises ``error("<subject>: …")`` instead of reading on.
    """
    page, seen, entries = first, set(), 0
    while True:
        yield page
        if not isinstance(page, dict):
            return
        items, link = page.get("items"), page.get("next")
        if not isinstance(items, list) or not items or not link:
            return
        entries += len(items)
        if not isinstance(link, str):
            raise error(f"{subject}: unexpected paging link {link!r}")
        if link in seen:
            where = link.split("?", 1)[0]
            raise error(f"{subject}: Spotify's paging links loop back to {where}")
        seen.add(link)
        if len(seen) >= MAX_PAGES:
            raise error(f"{subject}: Spotify's answer has more than {MAX_PAGES} pages")
        total = page.get("total")
        if isinstance(total, int) and not isinstance(total, bool) and entries >= total:
            raise error(
                f"{subject}: Spotify's paging goes on past the {total} entries it announced"
            )
        page = get(link)
