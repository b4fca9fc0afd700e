"""A full replay's timelines are written whole into a new file renamed over the old one
(history/timeline_file.py): no rollback journal of the old file's pages, the old file
whole until the rename, whatever a killed write left behind removed."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from site_support import build_history

from gitarchive.history import sync, timeline, timeline_file, timeline_read


def rows(path: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return [*db.execute("SELECT pid, data FROM timelines ORDER BY pid"),
                *db.execute("SELECT key, value FROM meta ORDER BY key")]


def test_a_full_replays_timelines_replace_the_file(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    path = timeline.state_path(store)
    timeline_read.update(store)  # read alone: the file as it was written in place
    before = rows(path)
    old = path.stat().st_ino
    new = path.with_name(path.name + timeline_file.NEW_SUFFIX)
    new.write_bytes(b"left by a killed write")
    journal = path.with_name(path.name + "-journal")
    journal.write_bytes(b"a stale journal of the old file")
    synced = sync.sync(store, full=True, timelines=True)
    assert synced.timelines is not None and synced.timelines.full
    assert path.stat().st_ino != old  # a new file, renamed over the old one
    assert not new.exists() and not journal.exists()
    assert rows(path) == before  # the same rows as one written in place


def test_a_whole_write_that_fails_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "timelines.sqlite"
    with closing(timeline_file.connect(path)) as db, db:
        db.execute("INSERT INTO timelines VALUES ('p', 'old')")

    def fill(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO timelines VALUES ('p', 'new')")
        raise OSError("disk full")

    with pytest.raises(OSError):
        timeline_file.write_whole(path, fill)
    assert rows(path) == [("p", "old")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["timelines.sqlite"]
