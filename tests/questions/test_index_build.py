"""The query index as indexing.py writes it: fresh builds, their order, their crash safety.

A fresh index is written into a new file renamed over the old one once complete; a
daily update rewrites only the playlists whose rows changed; ``search`` takes the
rows in the table's own order. Each must answer exactly as a sort of the rows would.
"""

from __future__ import annotations

import marshal
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from history_support import at, json_files, playlist, registry

from gitarchive.archive.model import Link, Track
from gitarchive.cli import main
from gitarchive.errors import StoreError
from gitarchive.git.store import Store
from gitarchive.history.sync import sync
from gitarchive.questions.index import TrackRow, index_path
from gitarchive.questions.indexing import NEW_SUFFIX, build, open_index

# Playlist names that tie in lower case (then the ID decides), titles in every case,
# accented, with % and braces (the table is %-formatted), one title twice (the key decides).
NAMES = {"PL" + "3" * 20: "b mix", "PL" + "1" * 20: "A Mix", "PL" + "2" * 20: "a mix",
         "PL" + "4" * 20: "Ärger"}
TITLES = ["apple", "Banana", "éclair", "Zebra", "zebra", "100% Pure {Love}", "%s %d", "Ape",
          "apple"]


def song(n: int, title: str) -> Track:
    return Track(url=f"https://open.spotify.com/track/TR{n:020d}", name=title,
                 album=Link(f"Album {n % 3}", ""), artists=(Link(f"Artist {n % 4}", ""),),
                 duration_ms=200_000)


def tracks(first: int, count: int) -> list[Track]:
    return [song(n, TITLES[n % len(TITLES)]) for n in range(first, first + count)]


def commit(store: Store, day: str, **lists: list[Track]) -> None:
    files: dict[str, bytes | None] = {}
    for p, songs in lists.items():
        files.update(json_files(playlist(p, NAMES[p], songs)))
    store.commit(files, f"run {day}", when=(at(day), 0))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store.init(tmp_path / "archive", bare=True)
    store.commit(registry(*NAMES), "register", when=(at("2024-01-01"), 0))
    first, second, third, fourth = NAMES
    commit(store, "2024-01-02", **{first: tracks(0, 12), second: tracks(5, 9),
                                   third: tracks(2, 7), fourth: tracks(1, 4)})
    commit(store, "2024-01-05", **{first: tracks(3, 12), third: tracks(0, 3)})
    commit(store, "2024-01-09", **{second: tracks(9, 6)})
    return store


def ask(store: Store, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--repo", str(store.git_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the index's tables (the record of current.py aside)."""
    with sqlite3.connect(path) as db:
        return {table: db.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()
                for table in ("writes", "playlists", "tracks")}


def test_search_gives_tracks_in_the_order_of_a_sort(store: Store) -> None:
    with open_index(store) as index:
        hits = index.search("a")
        some = index.search("e", list(NAMES)[1:3])
    assert len(hits) > 20 and {t.pid for t in hits} == set(NAMES)
    assert hits == sorted(hits, key=lambda t: (t.playlist.lower(), t.pid, t.name.lower(), t.key))
    assert some == sorted(some, key=lambda t: (t.playlist.lower(), t.pid, t.name.lower(), t.key))
    assert {t.pid for t in some} == set(list(NAMES)[1:3])
    assert all(isinstance(t, TrackRow) for t in hits)
    out = ask(store, "search", "pure")
    assert "100% Pure {Love}" in out and "%s %d" not in out
    assert "%s %d" in ask(store, "search", "%s")


def test_a_fresh_index_holds_what_updates_made(store: Store) -> None:
    """Asked after every commit, the index is updated; built afresh, it is the same,
    digests too (a state loaded from disk and one replayed give the same rows)."""
    path = index_path(store)
    first = ask(store, "search", "a")
    commit(store, "2024-01-12", **{list(NAMES)[0]: tracks(4, 10)})
    updated_answer = ask(store, "search", "a")
    assert updated_answer != first
    updated = tables(path)
    path.unlink()
    assert ask(store, "search", "a") == updated_answer
    assert tables(path) == updated
    path.unlink()  # and with no saved state: the writes come from the replay's own walk
    shutil.rmtree(path.parent / "history-state")
    assert ask(store, "search", "a") == updated_answer
    assert tables(path) == updated
    synced = sync(store, full=True)  # the state a rebuild hands over: replayed, not loaded
    head = store.head()
    assert head is not None
    build(path, [], synced.state, str(head.id))
    assert tables(path)["playlists"] == updated["playlists"]
    assert tables(path)["tracks"] == updated["tracks"]


KILLED_BUILD = """
import sys, time
from pathlib import Path
from gitarchive.questions.indexing import build

def writes():
    yield ("PL" + "9" * 20, 1, 0, "0" * 40, "json", None)
    print("building", flush=True)
    time.sleep(60)  # killed here, halfway through the new file
    yield from ()

build(Path(sys.argv[1]), writes(), None, "0" * 40)
"""


def test_a_killed_build_leaves_the_index_as_it_was(store: Store) -> None:
    expected = ask(store, "search", "a")
    path = index_path(store)
    before = tables(path)
    child = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(path)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "building\n"
    child.send_signal(signal.SIGKILL)
    child.wait()
    leftover = path.with_name(path.name + NEW_SUFFIX)
    assert leftover.exists()
    assert tables(path) == before
    result = CliRunner().invoke(main, ["search", "a", "--repo", str(store.git_dir)])
    assert result.stdout == expected and result.stderr == ""
    path.unlink()  # the next fresh build removes what the killed one left
    assert ask(store, "search", "a") == expected
    assert not leftover.exists() and tables(path) == before


def test_a_fresh_build_that_fails_leaves_the_index_as_it_was(store: Store) -> None:
    ask(store, "search", "a")
    path = index_path(store)
    before = path.read_bytes()

    def failing() -> object:
        yield ("PL" + "9" * 20, 1, 0, "0" * 40, "json", None)
        raise OSError("disk full")

    with pytest.raises(StoreError, match="could not write the query index.*disk full"):
        build(path, failing(), None, None)  # type: ignore[arg-type]  # a generator that fails
    assert path.read_bytes() == before
    assert not path.with_name(path.name + NEW_SUFFIX).exists()  # its space given back


def test_a_full_disk_while_building_is_an_error_not_damage(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite failing to write the new file is no damaged index: said once, not healed
    (a heal would throw the index away and build it all again on the same full disk)."""
    ask(store, "search", "a")
    with sqlite3.connect(index_path(store)) as db:
        db.execute("UPDATE meta SET value = 'old' WHERE key = 'format'")  # a fresh build next
    before = index_path(store).read_bytes()
    real = sqlite3.connect

    def full(path: object, *args: object, **kwargs: object) -> sqlite3.Connection:
        if str(path).endswith(NEW_SUFFIX):
            raise sqlite3.OperationalError("database or disk is full")
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite3, "connect", full)
    result = CliRunner().invoke(main, ["search", "a", "--repo", str(store.git_dir)])
    assert result.exit_code != 0
    assert "could not write the query index" in result.stderr
    assert "damaged" not in result.stderr and "rebuilding" not in result.stderr
    assert index_path(store).read_bytes() == before


@pytest.mark.parametrize("damage", [
    "UPDATE tracks SET rows = x'0001'",  # no marshalled tracks
    "UPDATE tracks SET rows = x'e9e9070000'",  # marshal of an int, not a list
    "UPDATE tracks SET haystack = haystack || char(0) || 'a'",  # a text more than tracks
    "UPDATE tracks SET haystack = 'a'",  # fewer texts than tracks
])
def test_a_damaged_track_row_is_thrown_away_and_rebuilt(store: Store, damage: str) -> None:
    expected = ask(store, "search", "a")
    with sqlite3.connect(index_path(store)) as db:
        db.execute(damage)
    result = CliRunner().invoke(main, ["search", "a", "--repo", str(store.git_dir)])
    assert result.exit_code == 0, result.output
    assert result.stdout == expected
    assert "query index" in result.stderr and "rebuilding it" in result.stderr
    assert ask(store, "search", "a") == expected


def test_search_leaves_the_garbage_collector_as_it_found_it(store: Store) -> None:
    import gc

    ask(store, "search", "a")
    assert gc.isenabled()
    gc.disable()
    try:
        ask(store, "search", "a")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_old_index_write_ahead_log_is_never_applied_to_a_new_one(store: Store) -> None:
    """A fresh build removes the old index's WAL before its file takes the name: a
    stale log left there would be replayed into the new file (wrong rows, or damage)."""
    ask(store, "search", "a")
    path = index_path(store)
    wal = path.with_name(path.name + "-wal")
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    with db:
        db.execute("DELETE FROM tracks")
    stale = wal.read_bytes()
    assert stale
    db.close()
    wal.write_bytes(stale)  # as if its writer had died before a checkpoint
    synced = sync(store)
    head = store.head()
    assert head is not None
    build(path, [], synced.state, str(head.id))
    assert not path.with_name(path.name + NEW_SUFFIX).exists()
    with sqlite3.connect(path) as new:
        assert new.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        rows = new.execute("SELECT rows FROM tracks").fetchall()
        assert sum(len(marshal.loads(row)) for row, in rows) > 20


def test_a_search_matches_one_track_never_the_text_between_two(tmp_path: Path) -> None:
    """A playlist's tracks share one row, their texts joined by a separator: a search
    spanning two tracks' texts finds neither; a title holding the separator character
    (hostile input) still finds itself and shifts no other track's match."""
    store = Store.init(tmp_path / "archive", bare=True)
    pid, empty = "PL" + "5" * 20, "PL" + "6" * 20
    NAMES.update({pid: "odd", empty: "no track"})
    try:
        store.commit(registry(pid, empty), "register", when=(at("2024-01-01"), 0))
        songs = [song(1, "alpha"), song(2, "be\x00ta"), song(3, "gamma")]
        commit(store, "2024-01-02", **{pid: songs, empty: []})
        with open_index(store) as index:
            assert [t.name for t in index.search("alpha")] == ["alpha"]
            assert [t.name for t in index.search("gamma")] == ["gamma"]
            assert [t.name for t in index.search("be")] == ["be\x00ta"]
            assert [t.name for t in index.search("ta")] == ["be\x00ta"]
            assert index.search("album 1\x00") == []  # one track's end, the next one's start
            assert index.search("\x00") == []
            assert len(index.search("")) == 3
    finally:
        del NAMES[pid], NAMES[empty]
