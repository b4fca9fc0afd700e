"""A full rebuild's forked half begins the questions' index (questions/indexing.Rows):
the index's writes table in a file of its own, made once it has sent its share, while
this process saves and commits; the index built from it is the one built from nothing,
and no such file is left behind."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from history_support import History, eight_playlists

from gitarchive.history import rebuild as rebuild_module
from gitarchive.history import sync as sync_module
from gitarchive.history.sync import Synced
from gitarchive.questions.index import index_path
from gitarchive.questions.indexing import BEGUN, Rows, open_index, state_rows

TABLES = {"meta": "1", "writes": "1, 2, 3, 4, 5", "playlists": "1", "tracks": "1"}


def archive(path: Path) -> History:
    return eight_playlists(str(path))


def tables(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(db) as con:
        return {name: list(con.execute(f"SELECT * FROM {name} ORDER BY {order}"))
                for name, order in TABLES.items()}


def begun_files(h: History) -> list[str]:
    path = index_path(h.store)
    return sorted(p.name for p in path.parent.glob(path.name + BEGUN + "*"))


def rebuilt(h: History, rows: object) -> Synced:
    result = rebuild_module.rebuild(h.store, full=True, rows=rows)  # type: ignore[arg-type]
    assert result.synced is not None
    return result.synced


@pytest.fixture
def split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0)  # halves in two processes
    monkeypatch.setattr(sync_module, "two_cores", lambda: True)


@pytest.mark.usefixtures("split")
def test_the_index_begun_by_the_forked_half_is_the_whole_one(tmp_path: Path) -> None:
    h = archive(tmp_path / "a")
    synced = rebuilt(h, Rows())
    assert synced.prepared is not None
    made_at = synced.prepared()  # the child ended well, its file whole
    assert made_at is not None and made_at.startswith(str(index_path(h.store)) + BEGUN)
    assert begun_files(h) == [Path(made_at).name]
    assert Path(made_at).stat().st_size > 0  # made by the child, not here
    with open_index(h.store, synced=synced):
        pass
    assert begun_files(h) == []  # renamed into the index
    made = tables(index_path(h.store))
    assert made["writes"] and made["tracks"]
    os.unlink(index_path(h.store))
    plain = rebuilt(h, state_rows)  # nothing begun: every table written here
    assert plain.prepared is None
    with open_index(h.store, synced=plain):
        pass
    assert tables(index_path(h.store)) == made


@pytest.mark.usefixtures("split")
def test_without_a_begun_index_the_build_writes_it_all(tmp_path: Path) -> None:
    """A plain RowsFn begins nothing; a begun file removed since (a build beside this
    one took it) is written here; either way the same index."""
    h = archive(tmp_path / "a")
    synced = rebuilt(h, state_rows)
    assert synced.prepared is None
    with open_index(h.store, synced=synced):
        pass
    whole = tables(index_path(h.store))
    os.unlink(index_path(h.store))
    synced = rebuilt(h, Rows())
    made_at = synced.prepared() if synced.prepared is not None else None
    assert made_at is not None
    os.unlink(made_at)
    with open_index(h.store, synced=synced):
        pass
    assert tables(index_path(h.store)) == whole


@pytest.mark.usefixtures("split")
def test_begun_files_left_behind_are_removed(tmp_path: Path) -> None:
    """A rebuild killed before its index (a begun file left) and one whose index was
    current already (not built): none left once an index is opened."""
    h = archive(tmp_path / "a")
    path = index_path(h.store)
    path.parent.mkdir(parents=True, exist_ok=True)
    killed = path.with_name(path.name + BEGUN + "1")
    killed.write_bytes(b"half a file")
    synced = rebuilt(h, Rows())
    with open_index(h.store, synced=synced):
        pass
    assert begun_files(h) == []
    again = rebuilt(h, Rows())  # nothing to commit: HEAD is the index's
    made_at = again.prepared() if again.prepared is not None else None
    assert made_at is not None and Path(made_at).exists()
    with open_index(h.store, synced=again):
        pass
    assert begun_files(h) == []


def test_begun_files_of_stopped_rebuilds_go_without_a_whole_build(tmp_path: Path) -> None:
    """A full rebuild stopped mid-way leaves its forked half's file (named for the rebuild's
    process); the next question or daily run removes it, though it builds no whole index.
    A file of a rebuild still running (its process alive) is left to it."""
    h = archive(tmp_path / "a")
    with open_index(h.store, synced=rebuilt(h, Rows())):
        pass
    gone = subprocess.Popen(["true"])
    gone.wait()
    path = index_path(h.store)
    stopped = path.with_name(f"{path.name}{BEGUN}{gone.pid}")
    running = path.with_name(f"{path.name}{BEGUN}{os.getppid()}")
    for left in (stopped, running, stopped.with_name(stopped.name + "-journal")):
        left.write_bytes(b"half a file")
    with open_index(h.store):  # the index is current: nothing is built
        pass
    assert begun_files(h) == [running.name]


def test_a_begun_index_that_cannot_be_written_is_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child's failure to write it costs nothing but the file: no file, nothing left."""
    h = archive(tmp_path / "a")
    rows = Rows()
    path = rows.begun_at(h.store)

    def full(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(sqlite3, "connect", full)
    rows.prepare(h.store, [], path)
    assert begun_files(h) == []


@pytest.mark.usefixtures("split")
def test_a_child_that_dies_beginning_the_index_leaves_it_to_the_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed while it begins the index (after it sent its share): no begun file is
    taken, the index is built whole here, the same."""
    h = archive(tmp_path / "a")
    synced = rebuilt(h, state_rows)
    with open_index(h.store, synced=synced):
        pass
    whole = tables(index_path(h.store))
    os.unlink(index_path(h.store))

    def dies(self: Rows, store: object, events: object, path: str) -> None:
        Path(path).write_bytes(b"half an index")
        os._exit(3)

    monkeypatch.setattr(Rows, "prepare", dies)
    synced = rebuilt(h, Rows())
    assert synced.prepared is not None and synced.prepared() is None
    with open_index(h.store, synced=synced):
        pass
    assert tables(index_path(h.store)) == whole
    assert begun_files(h) == []
