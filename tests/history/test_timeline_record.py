"""Timelines recorded by the whole-history replay equal those read on their own (issue 9).

A full rebuild reads the history once: the replay hands each version to a Recorder
(history/timeline_record.py) instead of timeline_read.py reading every blob again.
The two must agree on every quirk of real archives, in one process and split over two.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pygit2
import pytest
from history_support import (
    History,
    json_files,
    pid,
    plain_files,
    playlist,
    read_alone,
    read_alone_timelines,
    registry,
    tid,
    timelines_as_dict,
    track,
)

from benchmarks import synth
from gitarchive.archive import layout
from gitarchive.archive.model import plain_key
from gitarchive.archive.snapshots import ParsedSnapshot, TrackMeta
from gitarchive.git.packwriter import Stored
from gitarchive.git.store import Store
from gitarchive.history import (
    feeds,
    parallel,
    pictures,
    pieces,
    saved,
    timeline,
    timeline_read,
    timeline_record,
)
from gitarchive.history import rebuild as rebuild_module
from gitarchive.history import sync as sync_module
from gitarchive.history.events import Event
from gitarchive.history.pending import pending_views
from gitarchive.history.publish import render_all
from gitarchive.history.rebuild import rebuild
from gitarchive.history.state import state_to_dict
from gitarchive.history.sync import save_state, sync
from gitarchive.history.timeline import Timelines


@pytest.fixture(scope="module")
def quirky(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Plain days then JSON, with placeholders, renames, re-issued IDs, mixed offsets,
    early files and unreadable versions (benchmarks/synth.py)."""
    path = tmp_path_factory.mktemp("quirky")
    synth.build(path, 16, 70, **synth.layout_options("mixed", 35),
                quirks=synth.Quirks(placeholders=0.2, renames=2, reissues=2, offsets=True,
                                    early_files=True, unreadable=4))
    return path


@pytest.mark.parametrize("split", [False, True])
def test_recorded_timelines_are_those_read_alone(quirky: Path, split: bool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(quirky)
    expected = read_alone(store)
    assert len(expected["timelines"]) >= 16  # type: ignore[arg-type]
    if split:
        monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0)
    synced = sync(store, full=True, timelines=True)
    assert synced.timelines is not None
    assert timelines_as_dict(synced.timelines) == expected
    # saved: the next reader starts from them and reads no commit again
    again = timeline_read.update(store, save=False)
    assert not again.full and timelines_as_dict(again) == expected


@pytest.mark.parametrize("split", [False, True])
def test_rebuild_reads_the_history_once(quirky: Path, tmp_path: Path, split: bool,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A full rebuild draws its charts from the recorded timelines, not a second read
    (split: each half draws its own, the archive feed comes from both halves' latest
    changes); the files are those drawn from timelines read alone."""
    if split:
        monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0)
    work = tmp_path / "work"
    shutil.copytree(quirky, work)
    store = Store(work)
    timeline.forget(store)

    def second_read(*args: object, **kwargs: object) -> Timelines:
        raise AssertionError("the history was read a second time for the timelines")

    monkeypatch.setattr(timeline_read, "update", second_read)
    result = rebuild(store, full=True)
    assert result.pictures and result.synced is not None
    assert bool(result.synced.drawn) == split  # the halves drew their own
    assert bool(result.synced.rendered) == split  # and rendered their views
    views = {path: store.read(path) for path in result.changed}
    assert views == render_all(result.synced.state, timezone=None, githistory_base=None)
    drawn = {path: store.read(path) for path in result.pictures}
    monkeypatch.undo()
    timeline.forget(store)
    head = store.head()
    assert head is not None
    state = result.synced.state
    alone = pictures.files(store, sorted(state.playlists), tree=head.tree, compare_with=None,
                           timezone=None, gaps=pictures.fetch_gaps(state, state.playlists))
    assert {path: alone[path] for path in drawn} == drawn
    assert set(alone) == set(drawn)  # every playlist's pictures and the archive feed


def test_pictures_drawn_on_two_cores_are_those_drawn_on_one(quirky: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    store = Store(quirky)
    synced = sync(store, full=True, timelines=True)
    head = store.head()
    assert head is not None and synced.timelines is not None
    pids = sorted(synced.state.playlists)
    gaps = pictures.fetch_gaps(synced.state, pids)

    def draw() -> dict[str, bytes | None]:
        return pictures.files(store, pids, tree=head.tree, compare_with=None, timezone=None,
                              gaps=gaps, timelines=synced.timelines)

    monkeypatch.setattr(pictures, "PARALLEL_MIN_PICTURES", 10**9)
    alone = draw()
    forks: list[int] = []
    real = parallel.Forked

    def counted(*args: object) -> object:
        forks.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(pictures, "PARALLEL_MIN_PICTURES", 1)
    monkeypatch.setattr(parallel, "Forked", counted)  # the halves' fork (parallel.in_halves)
    assert draw() == alone and forks == [1]
    assert len([p for p in alone if p.endswith("-tenure.svg")]) >= 12


def test_archive_feed_from_saved_digests_is_the_full_one(quirky: Path, tmp_path: Path) -> None:
    """The archive feed of a daily run draws the playlists it did not touch from the
    digests saved with the timelines; it is the feed of a whole-history read."""
    work = tmp_path / "work"
    shutil.copytree(quirky, work)
    store = Store(work)
    timeline.forget(store)
    timeline_read.update(store)
    archive = synth.SynthArchive.resume(work, plain_only=False, day=70)
    for _ in range(3):
        archive.add_day()
        daily = timeline_read.update(store)
        assert len(daily.loaded) < len(daily.pids)  # only what the day touched was loaded
        from_digests = feeds.archive_feed(daily.recent_changes())
        timeline.forget(store)
        assert from_digests == feeds.archive_feed(
            timeline_read.update(store).recent_changes())


def test_placeholders_in_either_half_leave_no_timeline(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A playlist that only ever had an empty file has no timeline, whichever process
    of a split replay read it (found by the property test)."""
    h = History(str(tmp_path))
    h.commit({**json_files(playlist(pid(1), "First", [track(0)])), **registry(pid(1))},
             1_700_000_000)
    h.commit({layout.plain_path(pid(n)): b"" for n in range(2, 12)}, 1_700_086_400)
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0)
    split = sync(h.store, full=True, timelines=True).timelines
    assert split is not None
    assert timelines_as_dict(split) == read_alone(h.store)
    assert [t.pid for t in split] == [pid(1)]


class DiesWhenSent:
    """Pictures that kill the process sending them: the forked half dies mid-way."""

    def __reduce__(self) -> tuple[object, ...]:
        os._exit(3)

    def __len__(self) -> int:
        return 1  # counted as held where made (claimed.HELD)


@pytest.mark.parametrize("ahead", [False, True])
def test_a_half_that_dies_mid_way_is_replayed_here(quirky: Path, ahead: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The forked half sends its playlists, then dies sending its pictures: what it
    sent is not used, its half is replayed in this process, the state is the same.
    ``ahead``: the child wrote its playlists' saved files and sent their names; those
    files stand for playlists no longer in the state, so the save writes them anew."""
    store = Store(quirky)
    whole = sync(store, full=True)
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0)
    monkeypatch.setattr(pieces, "PIECE", 1)  # many pieces: it dies after some arrived

    def draw(lookup: object, pids: list[str], state: object, tree: str
             ) -> dict[str, dict[str, bytes]]:
        return {pid: {f"{pid}.svg": DiesWhenSent()} for pid in pids}  # type: ignore[dict-item]

    # kept as made (not written to the objects where made), so that sending them kills it
    monkeypatch.setattr(timeline_record, "store_all", lambda repo, contents: list(contents))
    split = sync(store, full=True, timelines=True, draw=draw, ahead=ahead)
    assert state_to_dict(split.state) == state_to_dict(whole.state)
    assert sorted(split.drawn) == sorted(t.pid for t in read_alone_timelines(store))
    assert bool(split.ahead) == ahead
    save_state(store, split, split.ahead)
    loaded = saved.load(store)
    assert loaded is not None and state_to_dict(loaded.state) == state_to_dict(whole.state)
    on_disk = {p.name for p in saved.state_dir(store).iterdir()} - {"manifest.pickle"}
    assert on_disk == set(loaded.state.files.values())


def test_fetch_saves_the_timelines_as_of_its_commit(tmp_path: Path) -> None:
    """Fetch draws its charts with its coming commit applied in memory; once the commit
    is made, the timelines are saved as of it (the next run parses nothing again), and
    they are those a whole-history read gives."""
    h = History(str(tmp_path))
    h.commit({**json_files(playlist(pid(1), "First", [track(0), track(1)])),
              **registry(pid(1))}, 1_700_000_000)
    for day, numbers in enumerate([[1, 2], [2, 3, 4]], start=1):
        clock = 1_700_000_000 + day * 86_400
        changes = json_files(playlist(pid(1), "First", [track(n) for n in numbers]))
        tree = h.store.write_tree(h.store.tree(), changes)
        views, pending = pending_views(h.store, tree, (clock, 0), githistory_base=None)
        oid = h.store.commit({**changes, **views}, "fetch", when=(clock, 0))
        assert oid is not None and pending.save(oid)
        saved = timeline.load_meta(h.store, h.repo[oid].peel(pygit2.Commit))
        assert saved is not None and saved.head == str(oid)  # as of the fetch's commit
        from_fetch = timelines_as_dict(timeline_read.update(h.store, save=False))
        assert from_fetch == read_alone(h.store)
        changes_of = [c.commit for c in timeline_read.update(h.store).get(pid(1)).changes]
        assert "" not in changes_of and str(oid) in changes_of


@pytest.mark.parametrize("kind", ["json", "plain"])
def test_large_and_small_changes_recorded_in_order(tmp_path: Path, kind: str) -> None:
    """Versions changing a few tracks or many (each way of ordering what came and went),
    reordered, or naming a track by a new chunk (its added_at moved): the recorded
    timeline is the one read alone, each change's tracks in the versions' own order."""
    h = History(str(tmp_path))
    day = 86_400
    days: list[list[int]] = [
        list(range(40)),
        list(range(40))[::-1],  # reordered: no change
        [*range(3, 40), 100, 101],  # a few gone and come
        [*range(200, 230), *range(20, 40), 100],  # many gone and come
        [*range(200, 230), 41, *range(20, 40), 100, 102],  # come in the middle
        [230, *range(205, 230), *range(21, 39), 102],  # gone at both ends
    ]
    for n, numbers in enumerate(days):
        tracks = [track(i, added_at=f"2023-01-0{1 + n % 2} 00:00:00" if i == 25 else None)
                  for i in numbers]  # track 25's chunk changes every day, its key does not
        snapshot = playlist(pid(1), "Big", tracks)
        files = json_files(snapshot) if kind == "json" else plain_files(snapshot)
        h.commit({**files, **registry(pid(1))}, 1_700_000_000 + n * day)
    recorded = sync(h.store, full=True, timelines=True).timelines
    assert recorded is not None
    expected = read_alone(h.store)
    assert timelines_as_dict(recorded) == expected
    (only,) = list(recorded)
    assert len(only.changes) == 6 - 1  # the reorder is no change

    def keys(*numbers: int) -> list[str]:  # a plain file's lines are sorted
        if kind == "json":
            return [tid(n) for n in numbers]
        return sorted(f"plain:song {n} -- artist {n} -- album {n}" for n in numbers)

    assert [len(c.added) for c in only.changes] == [40, 2, 30, 2, 1]
    assert only.changes[2].added == keys(*range(200, 230))
    assert only.changes[2].removed == keys(*range(3, 20), 101)
    assert only.changes[3].added == keys(41, 102)
    assert only.changes[4].removed == keys(*range(200, 205), 41, 20, 39, 100)


def test_json_tracks_look_for_a_plain_line_only_where_one_was_held(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A JSON track continues a plain line only where the last version held one: a JSON-only
    history makes no plain key for its new tracks (recorded, or read alone), and a plain
    history that turns JSON still has its lines continued (equal to the read alone)."""
    made: list[str] = []

    def counted(meta: TrackMeta) -> str:
        key = plain_key_of(meta)
        made.append(key)
        return key

    plain_key_of = timeline_read.plain_key_of
    monkeypatch.setattr(timeline_read, "plain_key_of", counted)
    monkeypatch.setattr(timeline_record, "plain_key_of", counted)
    for kinds in (["json"] * 4, ["plain", "plain", "json", "json"]):
        h = History(str(tmp_path / "-".join(kinds)))
        for n, kind in enumerate(kinds):
            snapshot = playlist(pid(1), "Big", [track(i) for i in range(n, 30 + 2 * n)])
            files = json_files(snapshot) if kind == "json" else plain_files(snapshot)
            h.commit({**files, **registry(pid(1))}, 1_700_000_000 + n * 86_400)
        made.clear()
        recorded = sync(h.store, full=True, timelines=True).timelines
        assert recorded is not None
        assert timelines_as_dict(recorded) == read_alone(h.store)
        (only,) = list(recorded)
        if kinds[0] == "json":
            assert made == []
        else:  # the JSON tracks took over their lines: no track came or went but by day
            assert made and not any(k.startswith("plain:") for k in only.order)
            assert [len(c.added) for c in only.changes] == [30, 2, 2, 2]


def plain_then_json(path: Path, playlists: int, *, json_from: int, seed: int, moves: int,
                    unreadable: int, days: int) -> synth.SynthArchive:
    """A synthetic archive of ``days`` days, plain files then JSON, with placeholders,
    ``moves`` renames and re-issued IDs, mixed offsets and unreadable versions."""
    archive = synth.SynthArchive(path, playlists, plain_only=True, json_from=json_from, seed=seed,
                                 quirks=synth.Quirks(placeholders=0.2, renames=moves,
                                                     reissues=moves, offsets=True,
                                                     unreadable=unreadable))
    for _ in range(days):
        archive.add_day()
    return archive


def test_incremental_rebuilds_record_the_timelines_as_they_replay(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Daily rebuilds after a full one go on with the saved timelines as the replay reads
    the new commits (no second walk, no whole parse of each version): through renames,
    re-issued IDs, unreadable versions and the move from plain files to JSON, the saved
    timelines and the pictures are those of a whole-history read."""
    path = tmp_path / "archive"
    archive = plain_then_json(path, 16, json_from=35, seed=3, moves=3, unreadable=30, days=25)
    store = Store(path)
    rebuild(store)
    archive.tip = store.repo.head.target  # the next day follows the rebuild's commit

    def second_read(*args: object, **kwargs: object) -> Timelines:
        raise AssertionError("the history was read a second time for the timelines")

    for day in range(25, 70):
        archive.add_day()
        if day % 3 == 1:
            continue  # two days at once now and then
        with monkeypatch.context() as patched:
            patched.setattr(timeline_read, "update", second_read)
            result = rebuild(store)
        archive.tip = store.repo.head.target
        assert not result.full and result.synced is not None
        if day % 10 == 0 or day == 69:
            copy = tmp_path / f"copy{day}"
            shutil.copytree(path, copy)
            assert timelines_as_dict(timeline_read.update(store, save=False)) == read_alone(
                Store(copy))
    head = store.head()
    assert head is not None
    state = sync(store).state
    drawn = pictures.files(store, sorted(state.playlists), tree=head.tree, compare_with=None,
                           timezone=None, gaps=pictures.fetch_gaps(state, state.playlists))
    timeline.forget(store)
    alone = pictures.files(store, sorted(state.playlists), tree=head.tree, compare_with=None,
                           timezone=None, gaps=pictures.fetch_gaps(state, state.playlists))
    assert drawn == alone
    committed = {path: store.read(path) for path in alone}
    assert {p: c for p, c in committed.items() if c is not None} == alone


def test_daily_views_and_pictures_made_on_two_cores_are_those_made_on_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A daily rebuild with much to draw makes its views and pictures in halves, one in a
    forked process: the commits are those of one process, and a full rebuild changes
    nothing after them (renames, re-issued IDs, unreadable versions, plain then JSON), also
    when the replay did not record the timelines (saved since by another run)."""
    path = tmp_path / "archive"
    archive = plain_then_json(path, 12, json_from=20, seed=5, moves=2, unreadable=10, days=15)
    rebuild(Store(path))
    forks: list[int] = []
    real = parallel.Forked

    def counted(*args: object, **kwargs: object) -> object:
        forks.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(parallel, "Forked", counted)
    for day in range(15, 30):
        archive.tip = Store(path).repo.head.target
        archive.add_day()
        trees = []
        for least in (10**9, 0):  # one process, then halves
            copy = tmp_path / f"day{day}-{least}"
            shutil.copytree(path, copy)
            monkeypatch.setattr(rebuild_module, "PARALLEL_MIN_WORK", least)
            if day % 2:  # the timelines saved as of the new commit already (as fetch does)
                timeline_read.update(Store(copy))
            before = len(forks)
            result = rebuild(Store(copy))
            assert not result.full
            forked = len(forks) > before
            assert forked == (least == 0 and result.playlists >= 2)
            assert result.synced is not None
            sent = [c for files in result.synced.rendered.values() for _, c in files]
            # split: each half wrote its files to the objects at once (the child sends ids)
            assert (bool(sent) and all(isinstance(c, Stored) for c in sent)) == forked
            trees.append(Store(copy).repo.head.peel(pygit2.Commit).tree_id)
        assert trees[0] == trees[1]
        shutil.rmtree(path)
        copy.rename(path)
    assert forks
    assert rebuild(Store(path), full=True).commit is None


def test_a_split_rebuild_publishes_the_views_branch_of_one_process(
        quirky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each half writes what it makes to the objects at once and keeps only their ids:
    the views branch (and a commit on the branch) hold what one process makes."""
    trees = []
    for least in (10**9, 0):  # one process, then halves
        monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", least)
        work = tmp_path / f"work{least}"
        shutil.copytree(quirky, work)
        store = Store(work)
        result = rebuild(store, full=True, views_branch="views")
        assert result.synced is not None and bool(result.synced.drawn) == (least == 0)
        committed = rebuild(store, full=True)  # then onto the branch itself
        assert committed.commit is not None
        trees.append((store.branch_tree("views").id, store.tree().id))
    assert trees[0] == trees[1]


class _CountedChange(timeline.Change):
    """A Change that counts how often its lists are replaced (compare's walks over it)."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in ("added", "removed"):
            self.__dict__["walks"] = self.__dict__.get("walks", 0) + 1
        super().__setattr__(name, value)


def test_a_json_version_continues_every_plain_line_in_one_walk_of_the_changes() -> None:
    """The first JSON version after plain ones continues each track's plain line (its
    changes and order named by the ID from then on) with one walk of the changes for all
    of them, not one per track; a local file named by a line that just went keeps it."""
    def meta(n: int, url: bool = True) -> TrackMeta:
        return TrackMeta(f"https://open.spotify.com/track/{tid(n)}" if url else "",
                         f"Song {n}", (f"Album {n}", ""), ((f"Artist {n}", ""),), 1000)

    plain = {n: plain_key(f"Song {n} -- Artist {n} -- Album {n}") for n in range(6)}
    line = timeline.Timeline(pid(1), name="P", order=[plain[n] for n in (0, 1, 2, 3)],
                             tracks={plain[n]: meta(n, url=False) for n in range(6)})
    line.changes = [_CountedChange(1, "c1", "b1", added=[plain[n] for n in range(5)],
                                   first=True, name="P"),
                    _CountedChange(2, "c2", "b2", added=[plain[5]], removed=[plain[4]]),
                    _CountedChange(3, "c3", "b3", removed=[plain[5]])]
    for change in line.changes:
        change.__dict__["walks"] = 0
    # IDs for 0, 1 and 3 (3 listed first); 2 gone; 5 back as a local file (no URL: its line).
    tracks = [(tid(3), meta(3), None), (tid(0), meta(0), None), (tid(1), meta(1), None),
              (plain[5], meta(5, url=False), None)]
    event = Event(4, 1, "c4", (), None)
    timeline_read.compare(line, ParsedSnapshot("P", "", "", tracks), event, "b4", adopt=True)
    assert [c.__dict__["walks"] for c in line.changes[:3]] == [2, 2, 2]  # added, removed
    assert line.changes[0].added == [tid(0), tid(1), plain[2], tid(3), plain[4]]
    assert (line.changes[1].added, line.changes[1].removed) == ([plain[5]], [plain[4]])
    assert line.order == [tid(3), tid(0), tid(1), plain[5]]
    last = line.changes[3]
    assert (last.added, last.removed) == ([plain[5]], [plain[2]])
    assert not {plain[0], plain[1], plain[3]} & set(line.tracks)
    assert line.tracks[tid(3)] == meta(3) and line.tracks[plain[5]] == meta(5, url=False)
