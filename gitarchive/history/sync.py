"""The replay state brought up to HEAD: the saved state plus new commits, or a full replay.

Used by every command that needs the cumulative state (rebuild, fetch, the query
index, export). A whole-history replay of a large archive runs on both cores
(parallel.Forked): playlists replay independently, so each process takes half.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pygit2

from gitarchive.archive.model import Playlist
from gitarchive.errors import StateError
from gitarchive.git.blobstream import BlobStream
from gitarchive.git.store import Store
from gitarchive.history import saved as history_state
from gitarchive.history.events import Event, sorted_events, walk_events
from gitarchive.history.parallel import Forked, two_cores
from gitarchive.history.replay import Problem, Replayer, planned_blobs
from gitarchive.history.state import HistoryState, PlaylistHistory
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


def _second_half(pid: str) -> bool:
    """The playlists the second process replays (a stable split, whatever the hash seed)."""
    return hashlib.sha1(pid.encode()).digest()[0] & 1 == 1


# What the child of _replay_split sends back: its playlists, view_dirty, pending, problems.
_Half = tuple[dict[str, PlaylistHistory], set[str], set[str], list[Problem]]


def _replay_split(
    store: Store, state: HistoryState, events: Sequence[Event], progress: ProgressFn
) -> list[Problem]:
    """A whole-history replay on both cores: half the playlists in a forked process.

    Playlists are replayed independently (each against the same list of runs), so two
    empty states fed the same events, each with the writes of its own half of the
    playlists, hold between them exactly the one state a single replay builds; the
    child's playlists are then moved into ``state``. If the child fails, its half is
    replayed here.
    """
    first = [event.only(lambda pid: not _second_half(pid)) for event in events]
    second = [event.only(_second_half) for event in events]
    git_dir = store.repo.path
    with Forked(lambda: [_replay_half(Store(git_dir), second)]) as child:
        problems = _replay_in_order(store, state, first, progress, planned_blobs(first))
        received = child.finish()
    # the child died: do its half here, on a state of its own
    playlists, view_dirty, pending, their_problems = (
        received[0] if received else _replay_half(store, second)
    )
    for pid, playlist in playlists.items():
        state.playlists[pid] = playlist
    state.view_dirty |= view_dirty
    state.pending |= pending
    order = {event.oid: n for n, event in enumerate(events)}
    return sorted([*problems, *their_problems], key=lambda p: order.get(p.commit, -1))


def _replay_half(store: Store, events: Sequence[Event]) -> _Half:
    """One half of _replay_split, on a state of its own (in the child, or here)."""
    state = HistoryState()
    problems = _replay_in_order(store, state, events, no_progress, planned_blobs(events))
    playlists = {pid: state.playlists[pid] for pid in state.playlists}
    return playlists, state.view_dirty, state.pending, problems


def all_events(store: Store, head: pygit2.Commit, gens: dict[str, int]) -> list[Event]:
    return sorted_events(walk_events(store.repo, head.id, None, gens))


PARALLEL_MIN_BLOBS = 4000  # a whole-history replay this large is split over two processes


def replay_events(
    store: Store,
    state: HistoryState,
    events: Sequence[Event],
    progress: ProgressFn,
    known: Mapping[str, Playlist] | None = None,
) -> list[Problem]:
    plan = [step for step in planned_blobs(events) if not known or step[0] not in known]
    if (
        state.last_key is None
        and not known
        and len(plan) >= PARALLEL_MIN_BLOBS
        and two_cores()
    ):
        return _replay_split(store, state, events, progress)
    return _replay_in_order(store, state, events, progress, plan, known)


def _replay_in_order(
    store: Store,
    state: HistoryState,
    events: Sequence[Event],
    progress: ProgressFn,
    plan: Sequence[tuple[str, str]],
    known: Mapping[str, Playlist] | None = None,
) -> list[Problem]:
    with BlobStream(store.repo, plan) as reader:
        replayer = Replayer(state, reader.read, known)
        replayer.apply_all(progress("Replaying history", events))
    state.settle_pending()
    return replayer.problems


def sync(store: Store, *, full: bool = False, progress: ProgressFn = no_progress) -> Synced:
    """The state as of HEAD: the saved one plus new commits, or a replay of everything.

    The saved state is used only when it describes an ancestor of HEAD and every new
    event sorts after its last one; otherwise (rewritten history, a merged branch
    with older commits, clock skew, an unreadable saved playlist) the whole history
    is replayed, so both paths always give the same state. Only the playlists the
    new commits touch are read from the saved state.
    """
    head = store.head()
    if head is None:
        return Synced(HistoryState(), {}, None, full=True)
    saved = None if full else history_state.load(store)
    if saved is not None and history_state.still_valid(store, saved, head):
        gens = dict(saved.gens)
        stop = pygit2.Oid(hex=saved.head)
        new = sorted_events(walk_events(store.repo, head.id, stop, gens))
        last = saved.state.last_key
        if not new or last is None or new[0].key > last:
            try:
                problems = replay_events(store, saved.state, new, progress)
                for pid in sorted(saved.state.view_dirty):  # read now: errors mean replay
                    saved.state.playlists.get(pid)
            except StateError:
                pass
            else:
                return Synced(saved.state, gens, head, problems, full=False, events=len(new))
    gens = {}
    events = all_events(store, head, gens)
    state = HistoryState()
    problems = replay_events(store, state, events, progress)
    return Synced(state, gens, head, problems, full=True, events=len(events))


def save_state(store: Store, synced: Synced) -> None:
    """Persist a synced state (the cache the next run starts from)."""
    if synced.head is not None:
        history_state.save(
            store, history_state.SavedState(str(synced.head.id), synced.gens, synced.state)
        )

