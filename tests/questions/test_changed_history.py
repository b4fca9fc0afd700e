"""Questions on histories that changed under them: deleted snapshots, renames."""

from __future__ import annotations

from pathlib import Path

from gitarchive.archive import layout
from gitarchive.git.store import Store
from tests.questions.test_query import (
    ROAD,
    at,
    build_archive,
    ok,
)


def deleted_archive(path: Path) -> Store:
    """build_archive's, then Road Trip's snapshot files deleted on 2024-03-05."""
    store = build_archive(path)
    store.commit({layout.pretty_json_path(ROAD): None, layout.plain_path(ROAD): None},
                 "delete Road Trip", when=(at("2024-03-05"), 0))
    return store


def test_search_says_a_deleted_snapshots_tracks_are_no_longer_there(tmp_path: Path) -> None:
    store = deleted_archive(tmp_path / "a")
    out = ok(store, "search", "halo")
    row = next(line for line in out.splitlines() if "Road Trip" in line)
    assert "yes" not in row.split("Halo", 1)[1]
    assert "no (snapshot deleted 2024-03-05)" in row
