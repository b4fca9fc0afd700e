"""The replay state brought up to HEAD: the saved state plus new commits, or a full replay.

Used by every command that needs the cumulative state (rebuild, fetch, the query
index, export). A whole-history replay of a large archive runs on both cores
(parallel.Forked): playlists replay independently, so each process takes a share (a
rebuild's a group at a time, whichever process is free taking the next: claimed.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import pygit2

from gitarchive import collector, heal
from gitarchive.archive import links as archive_links
from gitarchive.errors import StateError
from gitarchive.git.blobstream import BlobStream
from gitarchive.git.store import Store, blob_data
from gitarchive.git.trust import unverified_reads
from gitarchive.history import claimed, grouped
from gitarchive.history import saved as history_state
from gitarchive.history.events import Event, sorted_events, walk_events
from gitarchive.history.grouped import fresh_state
from gitarchive.history.parallel import Forked, second_half, two_cores
from gitarchive.history.pieces import (
    HalfResult,
    Piece,
    RowsFn,
    Swaps,
    assembled,
    rows_of,
    taken,
)
from gitarchive.history.replay import Problem, Replayer, add_candidates, planned_blobs
from gitarchive.history.state import HistoryState
from gitarchive.history.timeline import Stale, Timelines, load_meta
from gitarchive.history.timeline import state_path as timeline_state_path
from gitarchive.history.timeline_read import begin_recorded, end_recorded
from gitarchive.history.timeline_record import (
    DrawFn,
    Drawn,
    Recorder,
    Recording,
    Rendered,
    RenderFn,
)
from gitarchive.history.walk import whole_history
from gitarchive.progress import ProgressFn, no_progress


@dataclass
class Synced:
    """The replay state as of ``head`` (None: empty repository)."""

    state: HistoryState
    gens: dict[str, int]
    head: pygit2.Commit | None
    problems: list[Problem] = field(default_factory=list)
    full: bool = False
    events: int = 0
    walked: list[Event] = field(default_factory=list)  # the events replayed (all, if full)
    timelines: Timelines | None = None  # recorded by the replay (timeline_record.py), saved
    drawn: Drawn = field(default_factory=dict)  # pid -> its pictures
    rendered: Rendered = field(default_factory=dict)  # pid -> its views
    # The timelines' save, left to the caller (sync's ``later``): None when done or not due.
    unsaved: Callable[[], None] | None = None
    ahead: history_state.Ahead = field(default_factory=dict)  # files written (sync's ahead)
    since: str | None = None  # an incremental replay: the commit the saved state was of
    extra: dict[str, object] = field(default_factory=dict)  # pid -> index rows (sync's rows)
    # The forked half's playlists left on disk here (sync's rows): has a view (first run).
    viewed: dict[str, bool] = field(default_factory=dict)
    prepared: Callable[[], str | None] | None = None  # the index begun by the forked half


def _halves(events: Sequence[Event], links: Mapping[str, str]) -> Callable[[str], bool]:
    """Which playlists the second process replays: those a link or a rename joins, together."""
    root = grouped.joined(events, links)
    return lambda pid: second_half(root(pid))


def _replay_split(
    store: Store, state: HistoryState, events: Sequence[Event], progress: ProgressFn,
    recording: Recording | None = None, ahead: history_state.AheadWriter | None = None,
    rows: RowsFn | None = None,
) -> list[Problem]:
    """A whole-history replay on both cores, a forked process replaying some playlists.

    Playlists are replayed independently (each against the same list of runs), so empty
    states fed the same events, each with the writes of its own playlists, hold between
    them exactly the one state a single replay builds; the child's playlists are then
    moved into ``state``. If the child fails, its part is replayed here. Playlists a link
    or a rename joins stay together. A rebuild (``recording``: timelines recorded, their
    pictures drawn and views rendered; ``ahead``: the playlists' saved files written as
    they come, and with ``rows`` the child's left on disk here, their index rows made
    there) is shared out a group at a time (claimed.py); the replay alone, by halves."""
    if recording is None and ahead is None:
        return _replay_halves(store, state, events, progress)
    groups, which = claimed.shares(events, state.links)
    claims = claimed.Claims(len(groups))
    git_dir, links = store.repo.path, state.links
    begun = claimed.beginning(store, events, rows) if ahead is not None else None
    swaps: Swaps = ([], [])
    problems: list[Problem] = []
    try:
        with Forked(lambda: claimed.child_pieces(Store(git_dir), groups, claims, links,
                                                 recording, ahead is not None,
                                                 rows if ahead is not None else None),
                    taken=partial(taken, ahead), background=True,
                    after=begun[1] if begun is not None else None) as child:
            claimed.shared_here(store, state, groups, claims, recording, ahead, rows, swaps,
                                problems, progress)
            received = child.finish()
    finally:
        claims.close()
    mine = set(claims.taken)  # the child's are the others, if it died
    if ahead is not None and begun is not None:
        ahead.prepared = partial(claimed.begun, child, begun[0])

    def theirs() -> Sequence[Event]:
        return grouped.partition(events, lambda pid: int(which(pid) not in mine), 2)[1]

    return _joined(store, state, events, received, theirs, recording, ahead, swaps, problems)


def _replay_halves(store: Store, state: HistoryState, events: Sequence[Event],
                   progress: ProgressFn) -> list[Problem]:
    """The replay alone on both cores: half the playlists in a forked process, which sends
    each group's as soon as it is replayed (``_half_as_replayed``)."""
    in_second = _halves(events, state.links)
    first, second = grouped.partition(events, lambda pid: int(in_second(pid)), 2)
    git_dir, links = store.repo.path, state.links
    swaps: Swaps = ([], [])
    with Forked(lambda: _half_as_replayed(Store(git_dir), second, links),
                taken=partial(taken, None), background=True) as child:
        # Each half reads its own blobs (no reader process: _replay_in_order's ``ahead``),
        # so nothing forks here any more: the thread taking the child's pieces runs now.
        problems = _replay_in_order(store, state, first, progress, swaps=swaps, ahead=False)
        received = child.finish()
    return _joined(store, state, events, received, lambda: second, None, None, swaps,
                   problems)


def _joined(store: Store, state: HistoryState, events: Sequence[Event], received: list[Piece],
            theirs: Callable[[], Sequence[Event]], recording: Recording | None,
            ahead: history_state.AheadWriter | None, swaps: Swaps, problems: list[Problem]
            ) -> list[Problem]:
    """The child's playlists (``received``) moved into ``state``; if it died, its part
    (``theirs()``: the events with its playlists' writes) replayed here first. Made only
    then: a partition of every event, it took 0.015 s with a core idle (JSON 1,000 x 365)."""
    whole = assembled(received)
    playlists, view_dirty, pending, their_problems, their_swaps, halves = (
        whole or _replay_half(store, theirs(), state.links, recording)
    )
    if whole is not None and ahead is not None:
        kept = {pid: found for piece in received for pid, found in piece.kept.items()}
        ahead.defer(state, {pid: (*piece.files[pid], kept[pid][0])
                            for piece in received for pid in piece.kept})
        ahead.kept.update((pid, (viewed, extra)) for pid, (_, viewed, extra) in kept.items())
    if recording is not None:
        recording.halves.extend(halves)
    for pid, playlist in playlists.items():
        state.playlists[pid] = playlist
    state.view_dirty |= view_dirty
    state.pending |= pending
    add_candidates(state, [*swaps[0], *their_swaps[0]], [*swaps[1], *their_swaps[1]])
    return grouped.in_event_order([*problems, *their_problems], grouped.event_order(events))


def _half_as_replayed(store: Store, events: Sequence[Event], links: Mapping[str, str]
                      ) -> Iterator[Piece]:
    """The child's half with nothing to record or write: each group's playlists sent as
    soon as the group is replayed (pieces.rows_of), while the parent's thread takes them
    during its own replay; all of them pickled here and unpickled there once both halves
    were replayed took ~0.3 s with a core idle (JSON, 1,000 x 365)."""
    state = fresh_state(links)
    swaps: Swaps = ([], [])
    met: list[Problem] = []
    for done in grouped.replayed_whole(store.repo, state, events, swaps, met, ahead=False):
        yield from rows_of(state, done)
    yield Piece(meta=(state.view_dirty, state.pending,
                      grouped.in_event_order(met, grouped.event_order(events)), swaps),
                last=True)


def _replay_half(store: Store, events: Sequence[Event], links: Mapping[str, str],
                 recording: Recording | None) -> HalfResult:
    """The child's part of _replay_split, here (it died), on a state of its own."""
    state = fresh_state(links)
    swaps: Swaps = ([], [])
    mine = (Recording(recording.draw, recording.tree, recording.render,
                      git_dir=recording.git_dir) if recording is not None else None)
    problems = _replay_in_order(store, state, events, no_progress, swaps=swaps,
                                recording=mine, ahead=False)
    playlists = {pid: state.playlists[pid] for pid in state.playlists}
    halves = [mine.half(state)] if mine is not None else []
    return playlists, state.view_dirty, state.pending, problems, swaps, halves


def all_events(store: Store, head: pygit2.Commit, gens: dict[str, int]) -> list[Event]:
    """Every commit's events, sorted (on both cores for a long history: walk.py)."""
    return whole_history(store.repo, head.id, gens)


PARALLEL_MIN_BLOBS = 4000  # a whole-history replay this large is split over two processes


def replay_events(
    store: Store,
    state: HistoryState,
    events: Sequence[Event],
    progress: ProgressFn,
    known: Mapping[str, bytes] | None = None,
    recording: Recording | None = None,
    ahead: history_state.AheadWriter | None = None,
    rows: RowsFn | None = None,
) -> list[Problem]:
    """Apply ``events`` to ``state``, on both cores for a whole history; ``recording`` gets
    the timelines of what was read (timeline_record.py), when given; ``known``: blob id ->
    content of blobs held in memory (fetch's new snapshots), not read again; ``ahead``:
    see _replay_split."""
    if (
        state.last_key is None
        and not known
        and two_cores()
        and grouped.reads_at_least(events, PARALLEL_MIN_BLOBS)
    ):
        return _replay_split(store, state, events, progress, recording, ahead, rows)
    return _replay_in_order(store, state, events, progress, known, recording=recording)


def _replay_in_order(
    store: Store,
    state: HistoryState,
    events: Sequence[Event],
    progress: ProgressFn,
    known: Mapping[str, bytes] | None = None,
    swaps: Swaps | None = None,
    recording: Recording | None = None,
    ahead: bool = True,
) -> list[Problem]:
    """Replay ``events`` here; ``swaps`` collects the playlists that vanished and appeared
    (a split replay matches both halves' into candidates), else they are matched now.
    ``recording`` gets the timelines of what was read (it holds saved ones to go on
    with when ``state`` is a saved state: an incremental replay). ``ahead``: a whole
    history's blobs read ahead by a reader process (grouped.replayed_whole); not when
    each half of a split replay already keeps a core busy."""
    repo = store.repo
    found: Swaps = swaps if swaps is not None else ([], [])
    if state.last_key is None and not known:  # a whole history: a group at a time
        met: list[Problem] = []
        for _ in grouped.replayed_whole(store.repo, state, events, found, met, progress,
                                        recording, ahead):
            pass
        problems = grouped.in_event_order(met, grouped.event_order(events))
    else:
        recorder = None
        if recording is not None:
            recorder = Recorder(partial(blob_data, repo), recording.timelines,
                                resumed=state if state.last_key is not None else None)
        plan = [step for step in planned_blobs(events) if not known or step[0] not in known]
        with BlobStream(repo, plan) as reader:
            replaying = Replayer(state, reader.read, known, recorder)
            replaying.apply_all(progress("Replaying history", events))
        state.settle_pending()
        found[0].extend(replaying.vanished)
        found[1].extend(replaying.appeared)
        problems = replaying.problems
    if swaps is None:
        add_candidates(state, *found)
    return problems


def sync(store: Store, *, full: bool = False, progress: ProgressFn = no_progress,
         timelines: bool = False, draw: DrawFn | None = None,
         render: RenderFn | None = None, later: bool = False, ahead: bool = False,
         rows: RowsFn | None = None) -> Synced:
    """The state as of HEAD (``_sync``), its trees and blobs read as git reads them.

    ``later``: an incremental replay's timelines are not saved here; ``Synced.unsaved``
    saves them (a daily rebuild writes them while it draws). ``ahead``: the playlists'
    saved files written as a split replay has them (``Synced.ahead``: for save_state,
    or saved.discard); ``rows``: with them, the forked half's playlists stay on disk
    here, their index rows made there (``Synced.extra``)."""
    # No garbage collection while it works (collector.paused): a whole replay makes
    # millions of objects, nearly none in a cycle, that the collector examined again and
    # again (JSON 1,000 x 365: ~0.15 s of the parent's time, most as the groups ended).
    with unverified_reads(), collector.paused():
        return _sync(store, full, progress, timelines, draw, render, later, ahead, rows)


def _sync(store: Store, full: bool, progress: ProgressFn, timelines: bool,
          draw: DrawFn | None, render: RenderFn | None, later: bool = False,
          ahead: bool = False, rows: RowsFn | None = None) -> Synced:
    """The state as of HEAD: the saved one plus new commits, or a replay of everything.

    The saved state is used only when it describes an ancestor of HEAD and every new
    event sorts after its last one; otherwise (rewritten history, a merged branch
    with older commits, clock skew, an unreadable saved playlist) the whole history
    is replayed, so both paths always give the same state. Only the playlists the
    new commits touch are read from the saved state. ``timelines``: a whole-history
    replay also records the timelines (``Synced.timelines``, saved), so charts and
    feeds need no second read of the history; ``draw`` (pictures.py) and ``render``
    (publish.py), if given, draw each half's pictures and render its cumulative views
    in its own process (``Synced.drawn``, ``Synced.rendered``; only a split replay does).
    An incremental replay with ``timelines`` goes on with the saved timelines when they
    describe the saved state's commit (``_resumable``): one walk of the new commits, and
    their versions compared by their new chunks alone.
    """
    head = store.head()
    if head is None:
        return Synced(HistoryState(), {}, None, full=True)
    links = archive_links.from_tree(store.repo, head.tree)
    saved = None if full else history_state.load(store)
    if (saved is not None and history_state.still_valid(store, saved, head)
            and saved.state.links == links):  # a link made or undone: replay it all
        kept = _resumable(store, saved, head) if timelines else None
        gens = dict(saved.gens)
        stop = pygit2.Oid(hex=saved.head)
        new = sorted_events(walk_events(store.repo, head.id, stop, gens))
        last = saved.state.last_key
        if not new or last is None or new[0].key > last:
            try:
                problems, recorded = _replay_saved(store, saved.state, new, progress, kept)
                for pid in sorted(saved.state.view_dirty):  # read now: errors mean replay
                    saved.state.playlists.get(pid)
            except StateError as exc:
                heal.notice(f"{exc}; replaying the whole history")
            else:
                unsaved = None
                if recorded is not None:
                    due = end_recorded(recorded[0], recorded[1], new, str(head.id), gens,
                                       save=not later)
                    unsaved = recorded[0].writer() if due and later else None
                return Synced(saved.state, gens, head, problems, full=False, events=len(new),
                              walked=new, timelines=recorded[0] if recorded else None,
                              unsaved=unsaved, since=saved.head)
    gens = {}
    events = all_events(store, head, gens)
    state = fresh_state(links)
    recording = (Recording(draw, str(head.tree_id), render, git_dir=store.repo.path)
                 if timelines else None)
    writer = history_state.AheadWriter(store) if ahead else None
    problems = replay_events(store, state, events, progress, None, recording, writer, rows)
    synced = Synced(state, gens, head, problems, full=True, events=len(events), walked=events)
    if writer is not None:
        synced.ahead = writer.written
        synced.extra = {pid: extra for pid, (_, extra) in writer.kept.items()} | writer.rows
        synced.viewed = {pid: viewed for pid, (viewed, _) in writer.kept.items()}
        synced.prepared = writer.prepared
    if recording is not None:
        synced.timelines = recording.timelines_as_of(
            timeline_state_path(store), str(head.id), events[-1].key if events else None, gens)
        synced.timelines.save()
        synced.drawn, synced.rendered = recording.made()
    return synced


def _resumable(store: Store, saved: history_state.SavedState, head: pygit2.Commit
              ) -> Timelines | None:
    """The saved timelines, if they describe the commit the saved replay state does:
    then the new commits the replay walks are theirs too, and recording them as the
    replay applies them (``_replay_saved``) is what timeline_read.update would do."""
    if saved.state.last_key is None:  # nothing replayed yet: a whole-history replay to come
        return None
    kept = load_meta(store, head)
    if kept is None or kept.head != saved.head or kept.last_key != saved.state.last_key \
            or kept.gens != saved.gens:
        return None
    return kept


def _replay_saved(store: Store, state: HistoryState, events: Sequence[Event],
                  progress: ProgressFn, kept: Timelines | None
                  ) -> tuple[list[Problem], tuple[Timelines, dict[str, int]] | None]:
    """An incremental replay, recording into ``kept`` (saved timelines) if there are any;
    the problems, and the timelines with what ``end_recorded`` needs (None: not kept)."""
    if kept is None:
        return replay_events(store, state, events, progress), None
    try:
        before = begin_recorded(kept, list(events))
    except Stale:  # a saved timeline is unreadable: timeline_read reads them all again
        return replay_events(store, state, events, progress), None
    problems = replay_events(store, state, events, progress,
                             recording=Recording(timelines=kept.loaded))
    return problems, (kept, before)


def save_state(store: Store, synced: Synced, ahead: history_state.Ahead | None = None) -> None:
    """Persist a synced state (the cache the next run starts from); ``ahead``: playlist
    files written already (saved.write_ahead)."""
    if synced.head is not None:
        history_state.save(
            store, history_state.SavedState(str(synced.head.id), synced.gens, synced.state),
            ahead)

