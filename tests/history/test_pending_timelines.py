"""fetch's charts' timelines are recorded by the replay of its coming commit (one pass).

history/pending.py replays the new snapshot tree as one more commit and records the
timelines as that replay reads each new version, as the daily rebuild does; it never
reads the history a second time (timeline_read.update) when the saved timelines go
on from the saved state. Every path — a usual day, a commit that writes no snapshot,
a clock that went back, an unreadable saved timeline — leaves the timelines a
whole-history read gives, saved as of fetch's commit, and the charts a rebuild draws.
"""

from __future__ import annotations

import json
import pickle
import shutil
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pygit2
import pytest
from history_support import (
    History,
    json_files,
    pid,
    playlist,
    read_alone,
    registry,
    timelines_as_dict,
    track,
)

from gitarchive.archive import layout
from gitarchive.git.store import Store
from gitarchive.history import saved, timeline, timeline_read
from gitarchive.history.pending import pending_views
from gitarchive.history.rebuild import rebuild

DAY = 86_400
T0 = 1_700_000_000


def _fetch(h: History, changes: dict[str, bytes | None], clock: int,
           alike: dict[str, str] | None = None) -> pygit2.Oid:
    """fetch's way: views computed on the coming tree, committed with it, state saved
    (the new files' contents in memory, as fetch holds them)."""
    tree = h.store.write_tree(h.store.tree(), changes)
    contents = {str(pygit2.hash(data)): data for data in changes.values() if data is not None}
    views, pending = pending_views(h.store, tree, (clock, 0), githistory_base=None,
                                   contents=contents, alike=alike)
    oid = h.store.commit({**changes, **views}, "fetch", when=(clock, 0))
    assert oid is not None and pending.save(oid)
    return oid


def _as_a_whole_read(h: History, oid: pygit2.Oid) -> None:
    """Saved as of ``oid`` with the replay state (the next run goes on from both), equal
    to a whole-history read; a full rebuild changes nothing (same views and charts)."""
    commit = h.repo[oid].peel(pygit2.Commit)
    kept = timeline.load_meta(h.store, commit)
    state = saved.load(h.store)
    assert kept is not None and state is not None
    assert kept.head == state.head == str(oid)
    assert kept.gens == state.gens and kept.last_key == state.state.last_key
    kept_now = timelines_as_dict(timeline_read.update(h.store, save=False))
    with tempfile.TemporaryDirectory() as tmp:  # a copy: what is kept here goes on
        copied = Path(tmp) / "copy"
        shutil.copytree(h.repo.path, copied)
        assert kept_now == read_alone(Store(copied))
        assert rebuild(Store(copied), full=True).commit is None


def _days(h: History, first: int) -> list[tuple[dict[str, bytes | None], int]]:
    return [
        (json_files(playlist(pid(1), "One", [track(n) for n in (1, 2, 3)])), first),
        (json_files(playlist(pid(2), "Two", [track(7), track(8)])), first + DAY),
        (json_files(playlist(pid(1), "One, renamed", [track(n) for n in (2, 3, 4)])),
         first + 2 * DAY),
    ]


@pytest.fixture
def history(tmp_path: Path) -> History:
    h = History(str(tmp_path))
    h.commit({**json_files(playlist(pid(1), "One", [track(0), track(1)])),
              **json_files(playlist(pid(2), "Two", [track(7)])), **registry(pid(1), pid(2))},
             T0)
    return h


def test_daily_fetches_never_read_the_history_twice(history: History,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    h = history
    first = json_files(playlist(pid(1), "One", [track(0)]))
    _as_a_whole_read(h, _fetch(h, first, T0 + DAY))  # the first: a whole replay

    def second_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("the history read a second time for the timelines")

    for changes, clock in _days(h, T0 + 2 * DAY):
        with monkeypatch.context() as patched:
            patched.setattr(timeline_read, "update", second_read)
            oid = _fetch(h, changes, clock)
        _as_a_whole_read(h, oid)


def test_a_commit_without_snapshots_moves_the_timelines_along(history: History) -> None:
    h = history
    _fetch(h, *_days(h, T0 + DAY)[0])
    oid = _fetch(h, {"README.md": b"an archive\n"}, T0 + 2 * DAY)  # no snapshot written
    _as_a_whole_read(h, oid)
    for changes, clock in _days(h, T0 + 3 * DAY)[1:]:
        _as_a_whole_read(h, _fetch(h, changes, clock))


def test_a_fetch_dated_before_the_newest_commit(history: History) -> None:
    """A clock that went back: the whole history replayed in order, every timeline recorded."""
    h = history
    h.commit(json_files(playlist(pid(2), "Two", [track(7), track(9)])), T0 + 3 * DAY)
    _as_a_whole_read(h, _fetch(h, *_days(h, T0 + DAY)[0]))  # sorts before the newest
    for changes, clock in _days(h, T0 + 4 * DAY)[1:]:
        _as_a_whole_read(h, _fetch(h, changes, clock))


def test_an_unreadable_saved_timeline_is_read_again(history: History) -> None:
    """One playlist's row unreadable, another's follower count alone moving."""
    h = history
    _fetch(h, *_days(h, T0 + DAY)[0])
    with closing(sqlite3.connect(timeline.state_path(h.store))) as db, db:
        db.execute("UPDATE timelines SET data = 'not json' WHERE pid = ?", (pid(2),))
    for n, (changes, clock) in enumerate(_days(h, T0 + 2 * DAY)[1:]):
        followers = _followers(pid(1), "One", [1, 2, 3], 9) if n == 0 else {}
        _as_a_whole_read(h, _fetch(h, {**changes, **followers}, clock))


def _followers(p: str, name: str, numbers: list[int], count: int) -> dict[str, bytes | None]:
    return json_files(replace(playlist(p, name, [track(n) for n in numbers]),
                              num_followers=count))


def _rows(h: History) -> dict[str, bytes | str]:
    with closing(sqlite3.connect(timeline.state_path(h.store))) as db:
        return dict(db.execute("SELECT pid, data FROM timelines"))


def test_follower_counts_alone_rewrite_no_playlist_file(history: History) -> None:
    """Most days most playlists change only their follower count: their saved state file
    and timeline row stay as they are, only the blob moves in the small records; a day
    with other changes, and a rebuild, go on from there as from a whole-history read."""
    h = history
    _fetch(h, {**_followers(pid(1), "One", [0, 1], 5), **_followers(pid(2), "Two", [7], 5)},
           T0 + DAY)
    for day in range(2, 5):
        state = saved.load(h.store)
        assert state is not None
        files, rows = dict(state.state.files), _rows(h)
        oid = _fetch(h, {**_followers(pid(1), "One", [0, 1], 5 + day),
                         **_followers(pid(2), "Two", [7] if day < 4 else [7, 8], 5 + day)},
                     T0 + day * DAY)
        after = saved.load(h.store)
        assert after is not None
        assert after.state.files[pid(1)] == files[pid(1)] and _rows(h)[pid(1)] == rows[pid(1)]
        blob = str(h.repo[oid].peel(pygit2.Commit).tree[layout.pretty_json_path(pid(1))].id)
        assert after.state.sources[pid(1)][0] == blob
        assert after.state.playlists[pid(1)].json_blob == blob
        changed_two = after.state.files[pid(2)] != files[pid(2)]
        assert changed_two == (day == 4), day  # its tracks changed on day 4 only
        _as_a_whole_read(h, oid)
    assert rebuild(h.store).commit is None


def test_timelines_saved_as_json_text_are_read(history: History,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows of formats 1 and 2 (JSON text) are read as saved, the history never read
    again for them; the rows a run rewrites are pickled from then on."""
    h = history
    _fetch(h, *_days(h, T0 + DAY)[0])
    with closing(sqlite3.connect(timeline.state_path(h.store))) as db, db:
        meta = json.loads(db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()[0])
        meta["format"] = "gitarchive-timelines/2"
        db.execute("UPDATE meta SET value = ? WHERE key = 'state'", (json.dumps(meta),))
        for key, data in list(db.execute("SELECT pid, data FROM timelines")):
            assert isinstance(data, bytes)
            text = json.dumps(timeline.Timeline.from_row(data).to_dict())
            db.execute("UPDATE timelines SET data = ? WHERE pid = ?", (text, key))
    assert all(isinstance(data, str) for data in _rows(h).values())

    def second_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("the history read a second time for the timelines")

    changes, clock = _days(h, T0 + 2 * DAY)[1]  # Two changes, One does not
    with monkeypatch.context() as patched:
        patched.setattr(timeline_read, "update", second_read)
        oid = _fetch(h, changes, clock)
    _as_a_whole_read(h, oid)
    rows = _rows(h)
    assert isinstance(rows[pid(2)], bytes) and isinstance(rows[pid(1)], str)


def test_state_and_timelines_of_the_former_formats_are_read(history: History) -> None:
    """A state saved by format 6 and timelines by format 1 (no separate blobs) are read
    as they are and saved in the new formats: nothing replayed, nothing lost."""
    h = history
    _fetch(h, _followers(pid(1), "One", [0, 1], 5), T0 + DAY)
    path = saved.state_path(h.store)
    manifest = pickle.loads(path.read_bytes())
    manifest["format"] = "gitarchive-history/6"
    del manifest["sources"]
    path.write_bytes(pickle.dumps(manifest))
    with closing(sqlite3.connect(timeline.state_path(h.store))) as db, db:
        meta = json.loads(db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()[0])
        meta["format"] = "gitarchive-timelines/1"
        del meta["sources"]
        db.execute("UPDATE meta SET value = ? WHERE key = 'state'", (json.dumps(meta),))
    old = saved.load(h.store)
    assert old is not None and not old.state.sources
    for day in (2, 3):
        oid = _fetch(h, _followers(pid(1), "One", [0, 1], 5 + day), T0 + day * DAY)
        _as_a_whole_read(h, oid)
        new = saved.load(h.store)
        assert new is not None and pid(1) in new.state.sources


@pytest.mark.parametrize("said", ["its own", "another"])
def test_a_snapshot_said_alike_takes_the_states_digest_only_from_its_own_blob(
    history: History, monkeypatch: pytest.MonkeyPatch, said: str
) -> None:
    """fetch says which new JSON snapshot equals HEAD's but for the follower count
    (``alike``): when HEAD's is the state's snapshot, its digest is the state's and the
    file is not hashed; said alike another blob, it is hashed as ever. Either way the
    state and timelines go on as a whole-history read's."""
    from gitarchive.history import pending

    h = history
    _fetch(h, _followers(pid(1), "One", [0, 1], 5), T0 + DAY)
    hashed: list[bytes] = []
    original = pending.snapshot_digest

    def counting(data: bytes) -> bytes:
        hashed.append(data)
        return original(data)

    monkeypatch.setattr(pending, "snapshot_digest", counting)
    before = h.store.tree()
    assert before is not None
    old = str(before[layout.pretty_json_path(pid(1))].id)
    changes = _followers(pid(1), "One", [0, 1], 6)
    new = str(pygit2.hash(changes[layout.pretty_json_path(pid(1))] or b""))
    oid = _fetch(h, changes, T0 + 2 * DAY, {new: old if said == "its own" else "0" * 40})
    assert len(hashed) == (0 if said == "its own" else 1)
    state = saved.load(h.store)
    assert state is not None and state.state.sources[pid(1)][0] == new  # moved alone
    _as_a_whole_read(h, oid)
