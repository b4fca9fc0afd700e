"""A whole-history replay a few dozen playlists at a time: each group's versions read together.

Playlists replay independently (each against the same list of runs: replay.py), so
a whole history can be replayed group after group, each group fed every event with
only its own writes, on a state of its own, and the states joined after: exactly the
state one replay of everything builds (the split replay of sync.py rests on the same
fact, with two groups). Playlists a link or a rename joins stay in one group.

Why: the versions of one snapshot file are delta-compressed against each other in a
pack, and libgit2 keeps only a small cache of delta bases (16 MB). Read in history
order (every playlist in turn, day after day) each read re-inflates a whole chain; read
a group at a time, the group's bases stay cached, and the blob reader
(git/blobstream.py) does a quarter of the work (1,000 JSON playlists x 365 days:
1.6 s of CPU in history order, 0.4 s a group at a time). The reader is a process of
its own for a whole history replayed here; each half of a split replay reads its
own (blobstream.Windows), both cores being busy with the halves already.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from itertools import islice

import pygit2

from gitarchive.archive.snapshots import ParseCache
from gitarchive.forking import release_free_memory
from gitarchive.git.blobstream import BlobStream
from gitarchive.git.store import blob_data
from gitarchive.history.delta import Chunker
from gitarchive.history.events import Event, Write
from gitarchive.history.replay import Problem, Replayer, blobs_planned, planned_blobs
from gitarchive.history.state import HistoryState
from gitarchive.history.timeline_record import Recorder, Recording
from gitarchive.progress import ProgressFn, no_progress

GROUP = 64  # playlists replayed together (their bases fit libgit2's cache many times over)

# (vanished, appeared): (commit, pid, name) of playlists whose snapshot went away / came
Swaps = tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]


def joined(events: Iterable[Event], links: Mapping[str, str]) -> Callable[[str], str]:
    """pid -> the representative of the playlists a link or a rename joins to it.

    A rename moves one playlist's history to another ID and a link copies it, so both
    IDs must be replayed together. Joining too much is harmless (it only decides
    which playlists are replayed together): any commit that deletes a file's content
    and writes the same content to another file of that kind joins the two.
    """
    parent: dict[str, str] = {}

    def root(pid: str) -> str:
        while parent.get(pid, pid) != pid:
            pid = parent[pid]
        return pid

    def join(a: str, b: str) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for new, old in links.items():
        join(new, old)
    current: dict[tuple[str, str], str] = {}  # (kind, pid) -> blob
    for event in events:
        deleted: dict[tuple[str, str], str] = {}
        for write in event.writes:
            if write.blob is None and (write.kind, write.pid) in current:
                deleted[(write.kind, current.pop((write.kind, write.pid)))] = write.pid
        for write in event.writes:
            if write.blob is not None:
                moved_from = deleted.get((write.kind, write.blob))
                if moved_from is not None:
                    join(moved_from, write.pid)
                current[(write.kind, write.pid)] = write.blob
    return root


def split_events(events: Sequence[Event], links: Mapping[str, str], size: int | None = None
                 ) -> list[list[Event]]:
    """``events`` once per group of about ``size`` playlists, each with that group's writes.

    Every group sees every event (its runs observe the group's playlists too); a group
    is the playlists of some representatives (``joined``), in their sorted order.
    """
    cut = size or GROUP
    return shared_out(events, links, lambda count: [cut] * -(-count // cut))[0]


def shared_out(events: Sequence[Event], links: Mapping[str, str],
               sizes: Callable[[int], list[int]]) -> tuple[list[list[Event]], Callable[[str], int]]:
    """``events`` once per group (as ``split_events``), the groups' sizes in representatives
    ``sizes(count)`` in order; and which group a playlist is in."""
    root = joined(events, links)
    roots = sorted({root(w.pid) for event in events for w in event.writes} | {
        root(pid) for pid in links})
    number: dict[str, int] = {}
    cuts = sizes(len(roots))
    for n, size in enumerate(cuts):
        number.update((r, n) for r in roots[len(number):len(number) + size])

    def which(pid: str) -> int:
        return number[root(pid)]

    return partition(events, which, max(1, len(cuts))), which


LEAST = 16  # the fewest playlists a group of a shared replay ends with (tapered)


def tapered(count: int, most: int | None = None, least: int = LEAST) -> list[int]:
    """Sizes of groups of ``count`` playlists shared out to two processes as each asks for
    the next (claimed.py): ``most`` while much is left, then a quarter of what is left, down
    to ``least``, so that both end within a small group of each other; two at least, and
    no more than a pipe holds the numbers of (claimed.Claims: 16,384)."""
    most = max(most or GROUP, -(-count // 8000))
    least = max(1, min(least, count // 2, most))
    sizes: list[int] = []
    while count > 0:
        size = min(count, max(least, min(most, count // 4)))
        sizes.append(size)
        count -= size
    return sizes


def partition(events: Sequence[Event], which: Callable[[str], int], count: int
              ) -> list[list[Event]]:
    """``events`` once per part (``count`` of them), each with the writes of the playlists
    ``which`` puts in it (``Event.only``, asked once per playlist)."""
    parts: list[list[Event]] = [[] for _ in range(count)]
    known: dict[str, int] = {}
    for event in events:
        buckets: dict[int, list[Write]] = {}
        for write in event.writes:
            n = known.get(write.pid)
            if n is None:
                n = known[write.pid] = which(write.pid)
            buckets.setdefault(n, []).append(write)
        run = event.is_run
        empty = with_writes(event, (), run) if len(buckets) < count else event
        for n, part in enumerate(parts):
            writes = buckets.get(n)
            part.append(empty if writes is None else with_writes(event, tuple(writes), run))
    return parts


def with_writes(event: Event, writes: tuple[Write, ...], run: bool) -> Event:
    """``event`` with only ``writes`` (``run``: the whole commit's ``is_run``), as
    ``dataclasses.replace`` makes it, in under half the time (a shared replay makes one per
    group and event before it forks, with a core idle: ~7,700 of them, JSON 1,000 x 365).
    Made by its constructor: a copy of its ``__dict__`` took a fifth of the time but made
    each of its attributes twice as slow to read (no inline values), as the replay reads
    them in every group (tests/history/test_grouped.py names every field)."""
    return Event(event.time, event.gen, event.oid, writes, event.registry, run, event.record,
                 event.followers)


def reads_at_least(events: Sequence[Event], count: int) -> bool:
    """Whether replaying ``events`` reads ``count`` blobs or more (``planned_blobs``'
    length, its rule applied only as far as needed: the whole plan, made to be counted,
    took 0.02 s with a core idle before a JSON 1,000 x 365 rebuild forked)."""
    return count <= 0 or next(islice(blobs_planned(events), count - 1, None), None) is not None


def grouped_plan(groups: Sequence[Sequence[Event]]) -> list[tuple[str, str]]:
    """The blobs ``replay_groups`` reads, in its order: each group's, one group after another."""
    return [step for group in groups for step in planned_blobs(group)]


def replayed_whole(repo: pygit2.Repository, state: HistoryState, events: Sequence[Event],
                   swaps: Swaps, problems: list[Problem], progress: ProgressFn = no_progress,
                   recording: Recording | None = None, ahead: bool = True
                   ) -> Iterator[list[str]]:
    """A whole history (``events``) replayed a group at a time (``replayed_groups``), its
    blobs read ahead by a reader process (``ahead``) or by this one, a window at a time
    (blobstream.Windows); ``recording`` gets the timelines."""
    groups = split_events(events, state.links)

    def replayer(target: HistoryState, _: Sequence[Event]) -> Replayer:
        recorder = (Recorder(partial(blob_data, repo), recording.timelines)
                    if recording is not None else None)
        return Replayer(target, reader.read, None, recorder, group_chunker())

    with BlobStream(repo, grouped_plan(groups), here=not ahead) as reader:
        yield from replayed_groups(state, progress("Replaying history", groups), replayer,
                                   swaps, problems)


def group_chunker() -> Chunker:
    """The parse cache of one group's replay, dropped with it: groups hold other playlists,
    so a cache kept for all of a process's groups found few of a new group's texts, and
    held every text its groups ever read (JSON track texts came and went: a real-shaped
    history's 261 playlists x 1,000 days, 27-31 MB in each process by the end, growing
    with the days; the process tree's peak was 390-410 against 437-453 MB summed PSS)."""
    return Chunker(ParseCache())


def replayed_groups(
    state: HistoryState,
    groups: Iterable[Sequence[Event]],
    replayer: Callable[[HistoryState, Sequence[Event]], Replayer],
    swaps: Swaps,
    problems: list[Problem],
) -> Iterator[list[str]]:
    """Replay each group on a state of its own (the first on ``state``, the others on empty
    ones with its links), joining each into
    ``state``; after each, the playlists it replayed (settled: nothing changes them any
    more), so a forked half can send them while it replays the next group.

    ``replayer`` makes the Replayer of a group's state from its events (a parse cache
    each: ``group_chunker``); ``swaps`` collects the playlists that vanished and appeared,
    ``problems`` each group's in the order met (``in_event_order`` sorts them as one
    replay of everything meets them). Its callers run inside ``sync``, which pauses the
    collector for all of a replay (millions of lasting objects, no cycles).

    The C heap's free pages go back to the system after each group: a group's blobs (a
    window of up to 27 MB, blobstream.py), cut into chunks that outlive them, left most
    of each process's heap free but held (40-69 MB in each of a real-shaped history's
    two processes); given back, the next group faults in what it needs again (a process
    tree's peak 365-371 against 405 MB summed PSS, 261 playlists x 1,000 days).
    """
    for n, events in enumerate(groups):
        target = state if n == 0 else fresh_state(state.links)
        before = set(target.playlists) if n == 0 else set()
        replaying = replayer(target, events)
        replaying.apply_all(events)
        target.settle_pending()
        swaps[0].extend(replaying.vanished)
        swaps[1].extend(replaying.appeared)
        problems.extend(replaying.problems)
        done = [pid for pid in target.playlists if pid not in before]
        if target is not state:
            join_state(state, target)
        del replaying, target  # its parse cache and blob reader with it
        release_free_memory()
        yield done


def read_here(repo: pygit2.Repository, events: Sequence[Event]) -> Callable[[str], bytes]:
    """Reads the blobs of a group's ``events`` in this process, a window at a time (where
    every core is busy already: a shared replay's processes, claimed.py)."""
    return BlobStream(repo, planned_blobs(events), here=True).read


def fresh_state(links: Mapping[str, str]) -> HistoryState:
    """An empty state that will apply ``links`` (HEAD's, archive/links.py) as it replays."""
    state = HistoryState()
    state.links = dict(links)
    return state


def join_state(state: HistoryState, other: HistoryState) -> None:
    """Move the playlists of ``other`` (the same runs replayed, other playlists) into ``state``."""
    for pid in other.playlists:
        state.playlists[pid] = other.playlists[pid]  # settled there, as it would be here
    state.view_dirty |= other.view_dirty
    state.pending |= other.pending


def event_order(events: Iterable[Event]) -> dict[str, int]:
    """commit -> its index in ``events`` (every group's events are in the same order)."""
    return {event.oid: n for n, event in enumerate(events)}


def in_event_order(problems: Iterable[Problem], order: Mapping[str, int]) -> list[Problem]:
    """Problems sorted as one replay meets them: by event (``order``: commit -> index), path."""
    return sorted(problems, key=lambda p: (order.get(p.commit, -1), p.path))
