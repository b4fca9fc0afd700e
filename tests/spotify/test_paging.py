"""The one pager: every list Spotify serves in pages stops at a bad ``next`` link."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gitarchive.errors import WriteError
from gitarchive.spotify import paging
from gitarchive.spotify.writes import PlaylistWriter

BASE = "https://api.example/v1"


def page(n: int, link: object = None, total: int | None = None, items: int = 2) -> dict[str, Any]:
    return {"items": [f"e{n}.{i}" for i in range(items)], "next": link, "total": total}


def listed(first: Any, pages: dict[str, Any]) -> list[Any]:
    return list(paging.follow(first, pages.__getitem__, subject="thing", error=ValueError))


def test_follows_links_to_the_end() -> None:
    pages = {"b": page(2, "c"), "c": page(3)}
    assert [p["items"][0] for p in listed(page(1, "b"), pages)] == ["e1.0", "e2.0", "e3.0"]


def test_stops_at_an_empty_page_or_a_page_without_items() -> None:
    assert len(listed(page(1, "b"), {"b": page(2, "c", items=0)})) == 2  # never asks for "c"
    assert listed(None, {}) == [None]  # not a page: the caller says what is wrong with it
    assert len(listed({"items": "x", "next": "b"}, {})) == 1


@pytest.mark.parametrize(
    ("first", "pages", "message"),
    [
        (page(1, "b"), {"b": page(2, "b")}, "thing: Spotify's paging links loop back to b"),
        (page(1, "b?offset=2", total=4), {"b?offset=2": page(2, "b?offset=4", total=4)},
         "goes on past the 4 entries it announced"),
        (page(1, 17), {}, "thing: unexpected paging link 17"),
    ],
)
def test_bad_links_raise_the_callers_error(first: Any, pages: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        listed(first, pages)


def test_a_listing_that_never_ends_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paging, "MAX_PAGES", 5)
    endless = {f"p{n}": page(n, f"p{n + 1}") for n in range(100)}
    with pytest.raises(ValueError, match="more than 5 pages"):
        listed(page(0, "p1"), endless)


class LoopingApi:
    """A client whose every listing links back to its own first page."""

    def __init__(self) -> None:
        self.calls = 0

    def user_request(self, method: str, path: str, **_: Any) -> Answer:
        self.calls += 1
        item = {"item": {"uri": "spotify:track:x"}, "id": "P", "name": "P", "owner": {"id": "me"}}
        return Answer(json.dumps({"items": [item], "next": f"{BASE}/loop"}).encode())


class Answer:
    """What the writer reads of a successful response."""

    status_code = 200
    ok = True

    def __init__(self, content: bytes) -> None:
        self.content = content


@pytest.mark.parametrize("listing", ["my_playlists", "item_uris"])
def test_publishings_listings_fail_instead_of_hanging(listing: str) -> None:
    api = LoopingApi()
    writer = PlaylistWriter(api)  # type: ignore[arg-type]
    with pytest.raises(WriteError, match="loop back"):
        list(writer.my_playlists()) if listing == "my_playlists" else writer.item_uris("P")
    assert api.calls == 2  # the first page and its link, whose page links to itself: stopped
