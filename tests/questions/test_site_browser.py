"""The static site as a person sees it: headless Chromium driven over the DevTools protocol.

Skipped when no Chromium is installed (Debian: ``apt-get install chromium``; .ci/run
installs it). Screenshots of the index and a playlist page at desktop (1280) and
phone (390) widths go to the test's temporary directory, or to
``$GITARCHIVE_SCREENSHOTS`` when set (to look at them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cdp import Browser, Page, browser, find_chromium
from site_support import Built, build_history

from gitarchive.questions import site

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium binary found (install Debian's 'chromium' package or set $CHROMIUM)",
)


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Built, Path]:
    root = tmp_path_factory.mktemp("browser")
    built = build_history(str(root / "repo"))
    site.build(built.history.store, root / "site")
    return built, root / "site"


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    assert CHROMIUM is not None
    with browser(CHROMIUM, tmp_path_factory.mktemp("profile")) as running:
        yield running


def _shots(tmp_path: Path) -> Path:
    where = os.environ.get("GITARCHIVE_SCREENSHOTS")
    folder = Path(where) if where else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _open(chromium: Browser, url: str, width: int = 1280, *, mobile: bool = False) -> Page:
    page = chromium.page()
    page.viewport(width, 900, mobile=mobile)
    page.goto(url)
    return page


def _visible_rows(page: Page, table: str) -> list[str]:
    return page.eval(
        f"Array.from(document.querySelectorAll('#{table} tbody tr'))"
        ".filter(r => !r.hidden).map(r => r.cells[1].textContent)"
        if table == "current" else
        f"Array.from(document.querySelectorAll('#{table} tbody tr'))"
        ".filter(r => !r.hidden).map(r => r.cells[0].textContent)"
    )


def test_index_filters_sorts_and_shows_no_errors(
    built_site: tuple[Built, Path], chromium: Browser, tmp_path: Path
) -> None:
    built, out = built_site
    page = _open(chromium, (out / "index.html").as_uri())
    page.screenshot(_shots(tmp_path) / "index-desktop.png", 1280)
    assert page.errors() == []
    assert page.eval("window.__pwned") is None
    names = _visible_rows(page, "playlists")
    assert len(names) == 2 and any("<script>alert(1)</script>" in n for n in names)
    page.eval("const f = document.querySelector('input[data-filter]');"
              "f.value = 'plain'; f.dispatchEvent(new Event('input'))")
    assert _visible_rows(page, "playlists") == ["Plain name"]
    assert page.eval("document.querySelector('[data-count=playlists]').textContent") == "1 of 2"
    page.eval("const g = document.querySelector('input[data-filter]');"
              "g.value = ''; g.dispatchEvent(new Event('input'))")
    page.eval("document.querySelectorAll('#playlists th')[1].click()")  # tracks now, ascending
    counts = page.eval("Array.from(document.querySelectorAll('#playlists tbody tr'))"
                       ".map(r => Number(r.cells[1].textContent))")
    assert counts == sorted(counts) and counts == [1, 4]
    page.eval("document.querySelectorAll('#playlists th')[1].click()")
    assert page.eval("Array.from(document.querySelectorAll('#playlists tbody tr'))"
                     ".map(r => Number(r.cells[1].textContent))") == [4, 1]
    phone = _open(chromium, (out / "index.html").as_uri(), 390, mobile=True)
    phone.screenshot(_shots(tmp_path) / "index-phone.png", 390, mobile=True)
    assert phone.errors() == []
    assert phone.eval("document.documentElement.scrollWidth") <= 390  # nothing spills over


def test_playlist_page_date_picker_copy_and_filter(
    built_site: tuple[Built, Path], chromium: Browser, tmp_path: Path
) -> None:
    built, out = built_site
    url = (out / "p" / f"{built.a}.html").as_uri()
    page = _open(chromium, url)
    page.screenshot(_shots(tmp_path) / "playlist-desktop.png", 1280)
    assert page.errors() == []
    assert page.eval("window.__pwned") is None
    assert page.eval("document.querySelectorAll('figure.chart > svg').length") == 3
    assert _visible_rows(page, "current") == ["Song 1", "Song 2", "Song 4", "Song 5"]
    # As of 2026-01-06: songs 1 and 4 and the hostile track 3 (removed on 2026-02-10).
    page.eval("const d = document.getElementById('asof'); d.value = '2026-01-06';"
              "d.dispatchEvent(new Event('change'))")
    rows = _visible_rows(page, "current")
    assert sorted(rows) == sorted(["Song 1", "Song 4",
                                   "</script><script>window.__pwned=1</script> 3"])
    assert page.eval("document.getElementById('asof-label').textContent") == (
        "as of 2026-01-06 (3 tracks)")
    assert page.eval("document.querySelectorAll('#current tbody script, #current tbody img')"
                     ".length") == 0
    page.eval("window.__copied = null; navigator.clipboard.writeText = t => "
              "{ window.__copied = t; return Promise.resolve(); }")
    page.eval("document.getElementById('copy').click()")
    copied = page.eval("new Promise(r => setTimeout(() => r(window.__copied), 50))")
    assert copied is not None and sorted(copied.split("\n")) == sorted([
        "https://open.spotify.com/track/TR00000000000000000001",
        "https://open.spotify.com/track/TR00000000000000000004",
        "https://open.spotify.com/track/TRX0000000000000000003",
    ])
    assert page.eval("document.getElementById('copied').textContent") == "Copied 3 links"
    page.eval("const e = document.getElementById('asof'); e.value = '2026-03-02';"
              "e.dispatchEvent(new Event('change'))")
    assert _visible_rows(page, "current") == ["Song 1", "Song 2", "Song 4", "Song 5"]
    page.eval("const f = document.querySelector('input[data-filter=cumulative]');"
              "f.value = 'SONG 2'; f.dispatchEvent(new Event('input'))")
    assert _visible_rows(page, "cumulative") == ["Song 2"]
    stints = page.eval("document.querySelector('#cumulative tbody tr:not([hidden])')"
                       ".cells[5].textContent")
    assert stints == "2"
    data = json.loads(page.eval("document.getElementById('history').textContent"))
    assert len(data["tracks"]) == 5
    assert page.errors() == []
    phone = _open(chromium, url, 390, mobile=True)
    phone.screenshot(_shots(tmp_path) / "playlist-phone.png", 390, mobile=True)
    assert phone.errors() == []
    assert phone.eval("document.documentElement.scrollWidth") <= 390


def test_pages_degrade_to_plain_tables_without_javascript(
    built_site: tuple[Built, Path], chromium: Browser
) -> None:
    built, out = built_site
    page = chromium.page()
    page.send("Emulation.setScriptExecutionDisabled", {"value": True})
    page.goto((out / "p" / f"{built.a}.html").as_uri())
    page.send("Emulation.setScriptExecutionDisabled", {"value": False})
    # The tools stay hidden, the tables are all there.
    assert page.eval("Array.from(document.querySelectorAll('.tools')).every(t => t.hidden)")
    assert page.eval("document.querySelectorAll('#current tbody tr').length") == 4
    assert page.eval("document.querySelectorAll('#cumulative tbody tr').length") == 5
