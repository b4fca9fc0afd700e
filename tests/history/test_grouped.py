"""A whole-history replay group by group is one replay of everything (history/grouped.py).

Groups of one playlist (every link and rename joining its playlists into one group),
of a few, and of all, give the state, the problems, the suggested links and the
timelines that applying every event to one state gives, on every quirk of real
archives (placeholders, renames, re-issued IDs, unreadable versions, a layout change).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pygit2
import pytest
from history_support import read_alone, timelines_as_dict

from benchmarks import synth
from gitarchive.archive import links as archive_links
from gitarchive.git import blobstream
from gitarchive.git.blobstream import BlobStream
from gitarchive.git.store import Store, blob_data
from gitarchive.history import claimed, grouped
from gitarchive.history import sync as sync_module
from gitarchive.history.grouped import fresh_state
from gitarchive.history.pieces import Piece
from gitarchive.history.replay import Replayer, add_candidates, planned_blobs
from gitarchive.history.state import state_to_dict
from gitarchive.history.sync import all_events, sync


@pytest.fixture(scope="module")
def quirky(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("grouped")
    synth.build(path, 24, 150, **synth.layout_options("mixed", 60),
                quirks=synth.Quirks(placeholders=0.2, renames=3, reissues=3, offsets=True,
                                    early_files=True, unreadable=5))
    return path


def one_replay(store: Store) -> tuple[dict[str, object], list[str], list[tuple[str, str, str]]]:
    """Every event applied to one state, in order: the semantics (replay.py)."""
    head = store.head()
    assert head is not None
    state = fresh_state(archive_links.from_tree(store.repo, head.tree))
    replayer = Replayer(state, partial(blob_data, store.repo))
    replayer.apply_all(all_events(store, head, {}))
    state.settle_pending()
    add_candidates(state, replayer.vanished, replayer.appeared)
    return state_to_dict(state), [str(p) for p in replayer.problems], state.candidates


@pytest.mark.parametrize("size", [1, 5, 10**6])
@pytest.mark.parametrize("split", [False, True])
def test_groups_replay_as_one(quirky: Path, size: int, split: bool,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(quirky)
    state, problems, candidates = one_replay(store)
    assert problems and candidates  # the quirks are there
    monkeypatch.setattr(grouped, "GROUP", size)
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0 if split else 10**9)
    synced = sync(store, full=True, timelines=True)
    assert state_to_dict(synced.state) == state
    assert sorted(str(p) for p in synced.problems) == sorted(problems)
    assert synced.state.candidates == candidates
    assert synced.timelines is not None
    assert timelines_as_dict(synced.timelines) == read_alone(store)


def test_groups_keep_joined_playlists_together(quirky: Path) -> None:
    """Each group holds whole sets of joined playlists, every group sees every event."""
    store = Store(quirky)
    head = store.head()
    assert head is not None
    events = all_events(store, head, {})
    links = archive_links.from_tree(store.repo, head.tree)
    root = grouped.joined(events, links)
    groups = grouped.split_events(events, links, size=2)
    assert len(groups) > 2 and all(len(group) == len(events) for group in groups)
    where: dict[str, int] = {}
    for n, group in enumerate(groups):
        for event, original in zip(group, events, strict=True):
            assert event.oid == original.oid and event.is_run == original.is_run
            for write in event.writes:
                assert where.setdefault(root(write.pid), n) == n
    assert sorted((e.oid, w.kind, w.pid) for group in groups for e in group
                  for w in e.writes) == sorted((e.oid, w.kind, w.pid) for e in events
                                               for w in e.writes)


def test_a_track_history_sent_to_the_parent_keeps_every_field() -> None:
    """A split replay's half pickles its TrackHistory objects field by field: each field,
    set to something other than its default, comes back."""
    import dataclasses
    import pickle

    from gitarchive.archive.snapshots import TrackMeta
    from gitarchive.history.state import TrackHistory

    meta = TrackMeta("https://open.spotify.com/track/ABC", "Song", ("Al", ""), (("Ar", ""),), 1)
    values = {"meta": meta, "first_seen": 1, "last_seen": 2, "removed": 3, "stints": 4,
              "added_at": 5, "asterisk": True, "in_snapshot": True, "present": True}
    assert set(values) == {f.name for f in dataclasses.fields(TrackHistory)}
    track = TrackHistory(**values)  # type: ignore[arg-type]
    assert pickle.loads(pickle.dumps(track)) == track


@pytest.mark.parametrize("timelines", [False, True])
def test_the_split_replays_halves_read_their_own_blobs(quirky: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       timelines: bool) -> None:
    """Each half of a split replay keeps a core busy: no reader process beside either (both
    read their blobs themselves, a window at a time), whereas a whole history replayed in
    one process still has its reader; the state is the one replay's."""
    store = Store(quirky)
    state, _, _ = one_replay(store)
    planned = tmp_path / "planned"
    reader = grouped.BlobStream

    def recorded(repo: pygit2.Repository, plan: list[tuple[str, str]], *,
                 here: bool = False) -> BlobStream:
        stream = reader(repo, plan, here=here)
        with planned.open("a") as out:  # from either process: 1 if it has a reader process
            out.write(f"{int(stream.proc is not None)}\n")
        return stream

    monkeypatch.setattr(grouped, "BlobStream", recorded)
    monkeypatch.setattr(blobstream, "MIN_BLOBS", 1)  # a reader for any plan it is given
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0)  # halves in two processes
    monkeypatch.setattr(sync_module, "two_cores", lambda: True)
    synced = sync(store, full=True, timelines=timelines)
    assert state_to_dict(synced.state) == state
    read = planned.read_text().split()  # a plan per half, or per group shared out
    assert set(read) == {"0"} and len(read) >= 2  # both processes: no reader process
    planned.unlink()
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 10**9)  # one process
    synced = sync(store, full=True, timelines=timelines)
    assert state_to_dict(synced.state) == state
    assert planned.read_text().split() == ["1"]


def test_the_forked_half_sends_each_group_as_soon_as_it_is_replayed(
        quirky: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing to record, the child sends a group's playlists once that group is
    replayed (the first piece holds playlists, what applies to its whole half comes last),
    and the state is the one replay's, the child's playlists last and in pid order."""
    store = Store(quirky)
    state, problems, candidates = one_replay(store)
    monkeypatch.setattr(grouped, "GROUP", 3)
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0)  # halves in two processes
    monkeypatch.setattr(sync_module, "two_cores", lambda: True)
    seen: list[Piece] = []
    whole = sync_module.assembled

    def noted(pieces: list[Piece]) -> object:
        seen.extend(pieces)
        return whole(pieces)

    monkeypatch.setattr(sync_module, "assembled", noted)
    synced = sync(store, full=True)
    assert state_to_dict(synced.state) == state
    assert sorted(str(p) for p in synced.problems) == sorted(problems)
    assert synced.state.candidates == candidates
    sending = [n for n, piece in enumerate(seen) if piece.playlists]
    assert len(sending) >= 2 and sending[0] == 0  # not after the whole half
    assert seen[-1].last and seen[-1].meta is not None
    theirs = sorted(pid for piece in seen for pid in piece.playlists)
    assert list(synced.state.playlists)[-len(theirs):] == theirs


def test_a_partition_makes_each_part_as_event_only_would(quirky: Path) -> None:
    """Each part's events are what ``Event.only`` makes of them (every field, the run
    kept), however they are copied (grouped.with_writes)."""
    store = Store(quirky)
    head = store.head()
    assert head is not None
    events = all_events(store, head, {})
    which = grouped.joined(events, archive_links.from_tree(store.repo, head.tree))
    parts = grouped.partition(events, lambda pid: hash(which(pid)) % 3, 3)
    for n, part in enumerate(parts):
        wanted = [e.only(lambda pid, n=n: hash(which(pid)) % 3 == n) for e in events]
        assert part == wanted
        assert [e.is_run for e in part] == [e.is_run for e in events]
    import dataclasses

    from gitarchive.history.events import Event

    assert [f.name for f in dataclasses.fields(Event)] == [  # every one copied (with_writes)
        "time", "gen", "oid", "writes", "registry", "run", "record", "followers"]
    some = next(e for e in events if len(e.writes) > 1 and not e.followers)
    run = some.run
    copied = grouped.with_writes(some, some.writes[:1], False)
    assert copied.writes == some.writes[:1] and copied.run is False and copied.key == some.key
    assert copied.followers is False  # still says its followers files were left out
    assert some.writes != copied.writes and some.run is run  # the original unchanged


def test_reads_at_least_counts_what_the_replay_reads(quirky: Path) -> None:
    """``reads_at_least`` decides as the whole plan's length does, at every threshold."""
    store = Store(quirky)
    head = store.head()
    assert head is not None
    events = all_events(store, head, {})
    planned = len(planned_blobs(events))
    for count in (0, 1, planned // 2, planned - 1, planned, planned + 1, 10**9):
        assert grouped.reads_at_least(events, count) == (planned >= count)
    assert grouped.reads_at_least([], 0) and not grouped.reads_at_least([], 1)


def test_a_split_replay_partitions_the_events_once_if_the_child_lives(
        quirky: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child's events (for its part replayed here, had it died) are not made when it
    sent everything: one partition (the groups'), not a second one with a core idle."""
    store = Store(quirky)
    state, _, _ = one_replay(store)
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 0)  # two processes
    monkeypatch.setattr(sync_module, "two_cores", lambda: True)
    calls: list[int] = []
    partition = grouped.partition

    def counted(*args: object) -> object:
        calls.append(1)
        return partition(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(grouped, "partition", counted)
    synced = sync(store, full=True, timelines=True)
    assert state_to_dict(synced.state) == state
    assert len(calls) == 1


def test_each_group_parses_with_a_cache_of_its_own(quirky: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """No parse cache outlives its group (a process's groups hold other playlists: one
    cache for all held every text they ever read), in one process and in a shared replay's
    (claimed.replayed); the state is still the one replay's."""
    store = Store(quirky)
    state, _, _ = one_replay(store)
    monkeypatch.setattr(grouped, "GROUP", 5)
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 10**9)  # one process
    chunkers: list[object] = []

    def noting(made: type[Replayer]) -> Callable[..., Replayer]:
        def replayer(*args: Any) -> Replayer:
            replaying = made(*args)
            chunkers.append(replaying.chunker)
            return replaying
        return replayer

    monkeypatch.setattr(grouped, "Replayer", noting(Replayer))
    monkeypatch.setattr(claimed, "Replayer", noting(Replayer))
    synced = sync(store, full=True, timelines=True)
    assert state_to_dict(synced.state) == state
    head = store.head()
    assert head is not None
    events = all_events(store, head, {})
    groups = grouped.split_events(events, synced.state.links)
    assert len(groups) > 2 and len(chunkers) == len(groups)
    assert len({id(c) for c in chunkers}) == len(chunkers)
    chunkers.clear()
    mine = fresh_state(synced.state.links)
    swaps: grouped.Swaps = ([], [])
    for _ in claimed.replayed(store.repo, mine, groups, range(len(groups)), None, swaps, []):
        pass
    add_candidates(mine, *swaps)
    assert state_to_dict(mine) == state
    assert len(chunkers) == len(groups) and len({id(c) for c in chunkers}) == len(groups)


def test_the_heaps_free_pages_go_back_after_each_group(quirky: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a group is replayed (its blobs and parse cache dropped), the C heap's free pages
    are given back, before the next group: one release per group."""
    store = Store(quirky)
    monkeypatch.setattr(grouped, "GROUP", 5)
    monkeypatch.setattr(sync_module, "PARALLEL_MIN_BLOBS", 10**9)  # one process
    released: list[int] = []
    replayed_so_far: list[int] = []
    monkeypatch.setattr(grouped, "release_free_memory", lambda: released.append(1))
    head = store.head()
    assert head is not None
    events = all_events(store, head, {})
    links = archive_links.from_tree(store.repo, head.tree)
    groups = grouped.split_events(events, links)
    state = fresh_state(links)
    for done in grouped.replayed_groups(state, groups, lambda target, group: Replayer(
            target, partial(blob_data, store.repo)), ([], []), []):
        replayed_so_far.append(len(done))
        assert len(released) == len(replayed_so_far)  # released before the group is handed on
    assert len(released) == len(groups) > 2
