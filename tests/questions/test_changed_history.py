"""Questions on histories that changed under them: deleted snapshots, renames."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitarchive.archive import layout
from gitarchive.git.store import Store
from tests.questions.test_query import (
    OLD,
    ROAD,
    at,
    build_archive,
    fails,
    files,
    ok,
    run,
    snapshot,
    track,
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


def test_show_header_says_as_of_when_and_last_changed_alike_for_latest_and_a_revision(
    tmp_path: Path,
) -> None:
    store = build_archive(tmp_path / "a")  # Road Trip last changed 2024-02-01
    store.commit(files(snapshot(OLD, "Old Mix", [track(9)])), "run 4", when=(at("2024-03-09"), 0))
    latest = ok(store, "show", ROAD).splitlines()[1]
    at_main = ok(store, "show", ROAD, "--at", "main").splitlines()[1]
    on_day = ok(store, "show", ROAD, "--at", "2024-02-15").splitlines()[1]
    assert latest.startswith("as of the latest run, 2024-03-09; last changed 2024-02-01 (commit ")
    assert at_main.startswith("as of main, 2024-03-09; last changed 2024-02-01 (commit ")
    assert on_day.startswith("as of 2024-02-15; last changed 2024-02-01 (commit ")
    assert len({line.split(";")[1] for line in (latest, at_main, on_day)}) == 1


@pytest.mark.parametrize("fmt", ["csv", "json", "sqlite"])
def test_export_refuses_a_missing_folder_and_makes_none(tmp_path: Path, fmt: str) -> None:
    store = build_archive(tmp_path / "a")
    target = tmp_path / "some" / "typo" / "dir" / "file.out"
    result = run(store, "export", "--format", fmt, "-o", str(target))
    assert result.exit_code == 2
    assert f"there is no folder {target.parent}; nothing was exported" in result.output
    assert not (tmp_path / "some").exists()


def test_a_name_from_before_a_rename_says_what_the_playlist_is_called_now(
    tmp_path: Path,
) -> None:
    store = build_archive(tmp_path / "a")  # Road Trip: "Road Trip 2024" since 2024-02-01
    ok(store, "rebuild")  # records the timelines (fetch keeps them too)
    for command in (("show",), ("log",), ("diff",)):
        out = fails(store, *command, "road trip")
        assert out.strip().endswith(
            f"'Road Trip' is what {ROAD} was called until 2024-02-01; it is now "
            "'Road Trip 2024': give that name or its ID")
    assert "no playlist is named 'Nothing Like It'" in fails(store, "log", "Nothing Like It")
