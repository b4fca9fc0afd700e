"""Reading the history into timelines (timeline.py): only new commits, or all of it.

A run reads the commits after the saved ones and parses only the new versions of
the playlists they touch; a whole-history read of many versions splits the
playlists over two processes (history/parallel.py), each reading its blobs ahead
in a blob reader process (git/blobstream.py), like the replay.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pygit2

from gitarchive.archive.model import PLAIN_KEY_PREFIX
from gitarchive.archive.snapshots import (
    ParseCache,
    ParsedSnapshot,
    holds_plain_key,
    parse_json_snapshot,
    parse_plain_snapshot,
    plain_key_of,
)
from gitarchive.errors import SnapshotError
from gitarchive.git.blobstream import BlobStream
from gitarchive.git.store import Store
from gitarchive.git.trust import unverified_reads
from gitarchive.history.events import (
    KIND_FOLLOWERS,
    KIND_JSON,
    Event,
    EventKey,
    sorted_events,
    walk_events,
)
from gitarchive.history.parallel import Forked, second_half, two_cores
from gitarchive.history.timeline import (
    RECENT,
    Change,
    Recent,
    Stale,
    Timeline,
    Timelines,
    forget,
    load_meta,
    state_path,
)


def update(store: Store, *, save: bool = True) -> Timelines:
    """The timelines as of HEAD (``_update``), objects read as git reads them."""
    with unverified_reads():
        return _update(store, save=save)


def _update(store: Store, *, save: bool = True) -> Timelines:
    """The timelines as of HEAD, kept on disk (``save``).

    Reads only the commits after the saved ones when they are HEAD's ancestors and
    sort after them; otherwise the whole history. (Fetch's coming commit is recorded
    by its replay instead: history/pending.py.)
    """
    head = store.head()
    timelines = load_meta(store, head) if head is not None else None
    events: list[Event] = []
    if timelines is not None and head is not None and timelines.head is not None:
        stop = pygit2.Oid(hex=timelines.head)
        events = sorted_events(walk_events(store.repo, head.id, stop, timelines.gens))
        last = timelines.last_key
        if events and last is not None and events[0].key <= last:
            timelines = None
    if timelines is None:
        timelines = Timelines(state_path(store), ())
        timelines.full = True
        if head is not None:
            events = sorted_events(walk_events(store.repo, head.id, None, timelines.gens))
    try:
        _apply(store, timelines, events)
        if events:
            timelines.last_key = events[-1].key
        timelines.head = str(head.id) if head is not None else None
        if save and head is not None and (events or timelines.full):
            timelines.save()
    except Stale:  # a saved playlist could not be read: read the whole history
        if timelines.full:
            raise
        forget(store)
        return _update(store, save=save)
    return timelines


Writes = list[tuple[Event, str, str | None]]  # (event, kind, blob) of one playlist, in order
PARALLEL_MIN = 4000  # versions to parse from which a whole-history read uses both cores


def _apply(store: Store, timelines: Timelines, events: list[Event]) -> None:
    """Apply ``events`` playlist by playlist (reading each one's versions together)."""
    work = _work(timelines, events)
    before = {t.pid: len(t.changes) for t, _ in work}
    plan = _plan(work)
    if timelines.full and len(plan) >= PARALLEL_MIN and two_cores():
        for timeline in _apply_split(store, work):
            timelines.loaded[timeline.pid] = timeline
    else:
        _apply_some(store, work, plan)
    note_recent(timelines, before)


def _work(timelines: Timelines, events: list[Event]) -> list[tuple[Timeline, Writes]]:
    """The timelines ``events`` give new versions, each with its writes (loaded, or made:
    Stale if a saved one is unreadable); every playlist written is ``touched``."""
    per_pid: dict[str, Writes] = {}
    for event in events:
        for write in event.writes:
            per_pid.setdefault(write.pid, []).append((event, write.kind, write.blob))
            timelines.touched.add(write.pid)
    work: list[tuple[Timeline, Writes]] = []
    timelines.preload(pid for pid, ws in per_pid.items()
                      if any(w[1] != KIND_FOLLOWERS for w in ws))  # not follower counts alone
    for pid in sorted(per_pid):
        writes = [w for w in per_pid[pid] if w[1] != KIND_FOLLOWERS]
        if writes:
            work.append((timelines.get_or_new(pid), writes))
        elif pid not in timelines.pids and pid not in timelines.loaded:
            timelines.touched.discard(pid)  # followers only, never a snapshot
    return work


def begin_recorded(timelines: Timelines, events: list[Event]) -> dict[str, int]:
    """Ready ``timelines`` for ``events`` that a replay applies with a Recorder
    (timeline_record.py) instead of ``_apply``; ``end_recorded`` with what this returns.

    The Recorder compares the versions ``_apply`` would (same rule, same comparison),
    so ``begin_recorded`` + the replay + ``end_recorded`` is ``_update`` without a
    second walk of the commits or a whole parse of each new version.
    """
    return {t.pid: len(t.changes) for t, _ in _work(timelines, events)}


def end_recorded(timelines: Timelines, before: dict[str, int], events: list[Event],
                 head: str, gens: dict[str, int], *, save: bool = True) -> bool:
    """After the replay: as ``_update`` leaves the timelines (as of ``head``), saved —
    also when no new commit wrote a snapshot, so they stay as of the replay state's commit
    (``_update`` would read those commits again; this has no second reader to wait for).
    Whether they are to be saved (``save`` False: the caller saves them)."""
    note_recent(timelines, before)
    if events:
        timelines.last_key = events[-1].key
    moved = timelines.head != head
    timelines.head = head
    timelines.gens = dict(gens)
    if moved and save:
        timelines.save()
    return moved


def save_with_commit(timelines: Timelines, commit: str, key: EventKey | None, gen: int
                     ) -> None:
    """Save timelines that hold fetch's coming commit (``extra``) as of that commit, made.

    Fetch draws its charts from timelines with its coming commit recorded in memory
    (history/pending.py); once that commit exists (and is the one assumed: pending.py
    checks), the changes it made get its id and the timelines are saved as of it, with
    ``key`` its event's (the replay state's last), so the next run goes on from them.
    A commit that wrote no snapshot (no ``extra``) only moves them to it.
    """
    extra = timelines.extra
    if extra is not None:
        for pid in timelines.touched:
            timeline = timelines.loaded.get(pid)
            for change in timeline.changes if timeline is not None else ():
                if not change.commit and change.time == extra.time:
                    change.commit = commit
    timelines.head = commit
    timelines.last_key = key
    timelines.gens[commit] = gen
    timelines.extra = None
    timelines.save()


def note_recent(timelines: Timelines, before: dict[str, int]) -> None:
    """Add the changes after the first ``before[pid]`` of each playlist to the archive feed's
    list; a playlist with neither a snapshot nor a change is dropped."""
    new_recent: list[Recent] = []
    for pid, count in before.items():
        timeline = timelines.loaded[pid]
        for index in range(count, len(timeline.changes)):
            new_recent.append(Recent(timeline.changes[index].time, pid, index))
        if timeline.source is None and not timeline.changes:
            timelines.pids.discard(pid)
            timelines.loaded.pop(pid, None)
    merged = sorted([*timelines.recent, *new_recent], key=lambda r: (r.time, r.pid, r.index))
    timelines.recent = merged[-RECENT:]


def _versions(timeline: Timeline, writes: Writes) -> Iterator[tuple[Event, str, str]]:
    """(event, kind, blob) of each new version to compare; the timeline's source moves along."""
    i = 0
    while i < len(writes):
        event = writes[i][0]
        before = timeline.source
        while i < len(writes) and writes[i][0] is event:
            _, kind, blob = writes[i]
            if kind == KIND_JSON:
                timeline.json_blob = blob
            else:
                timeline.plain_blob = blob
            i += 1
        now = timeline.source
        if now is not None and now != before:
            yield event, now[0], now[1]


def parse_version(pid: str, kind: str, data: bytes, cache: ParseCache) -> ParsedSnapshot:
    """A version as the timelines read it: the JSON snapshot, or the plain file."""
    if kind == KIND_JSON:
        return parse_json_snapshot(pid, data, cache)
    return parse_plain_snapshot(pid, data)


def _apply_some(store: Store, work: list[tuple[Timeline, Writes]],
                plan: list[tuple[str, str]]) -> None:
    """Parse the new versions (read ahead by a blob reader process) and compare them."""
    cache = ParseCache()
    with BlobStream(store.repo, plan) as reader:
        for timeline, writes in work:
            for event, kind, blob in _versions(timeline, writes):
                try:
                    parsed = parse_version(timeline.pid, kind, reader.read(blob), cache)
                except (SnapshotError, KeyError, ValueError):
                    continue  # unreadable: the replay reports it; the next one is compared
                compare(timeline, parsed, event, blob, adopt=kind == KIND_JSON)



def _apply_split(store: Store, work: list[tuple[Timeline, Writes]]) -> list[Timeline]:
    """A whole-history read on both cores: half the playlists in a forked process.

    Timelines are independent, so each half is exactly what one pass would give;
    if the child fails, its half is done here.
    """
    mine = [w for w in work if not second_half(w[0].pid)]
    theirs = [w for w in work if second_half(w[0].pid)]
    git_dir = store.repo.path

    def child() -> Iterator[list[Timeline]]:
        _apply_some(Store(git_dir), theirs, _plan(theirs))
        yield [t for t, _ in theirs]

    with Forked(child) as forked:
        _apply_some(store, mine, _plan(mine))
        received = forked.finish()
    if not received:
        _apply_some(store, theirs, _plan(theirs))
        received = [[t for t, _ in theirs]]
    return [t for t, _ in mine] + received[0]


def _plan(work: list[tuple[Timeline, Writes]]) -> list[tuple[str, str]]:
    """(blob, playlist) of every version ``_apply_some`` will read, in its order."""
    sources = {t.pid: (t.json_blob, t.plain_blob) for t, _ in work}
    plan = [(blob, t.pid) for t, writes in work for _, _, blob in _versions(t, writes)]
    for timeline, _ in work:
        timeline.json_blob, timeline.plain_blob = sources[timeline.pid]
    return plan


def compare(
    timeline: Timeline, parsed: ParsedSnapshot, event: Event, blob: str, *, adopt: bool
) -> None:
    """The change ``parsed`` (the new version, written by ``event``) makes to ``timeline``.

    ``adopt``: a JSON version, whose tracks continue the history of their plain lines.
    """
    first = not timeline.changes and not timeline.order
    old = set(timeline.order)
    order: list[str] = []
    seen: set[str] = set()
    # A new track's plain line is made only where the last version held a plain line (asked
    # once, at the first new track): a playlist's first version, or any of a JSON-only
    # history, made one for every track (~100,000 per rebuild of a 1,000 x 365 archive).
    plain_held: bool | None = None if adopt else False
    renamed: dict[str, str] = {}  # plain line -> the ID it continues as (_rename)
    for key, meta, _ in parsed.tracks:
        if key in seen:
            continue
        if plain_held is not False and key not in old and not key.startswith(PLAIN_KEY_PREFIX):
            if plain_held is None:
                plain_held = holds_plain_key(old)
            plain = plain_held and plain_key_of(meta)
            if plain and plain in old:
                renamed[plain] = key
                timeline.tracks.pop(plain, None)
                old.discard(plain)
                old.add(key)
        seen.add(key)
        order.append(key)
        timeline.tracks[key] = meta
    if renamed:
        _rename(timeline, renamed)
    change = Change(
        time=event.time, commit=event.oid, blob=blob,
        added=[k for k in order if k not in old],
        removed=[k for k in timeline.order if k not in seen and k in old],
        first=first,
    )
    if first or parsed.name != timeline.name:
        change.name = parsed.name
    if not first and parsed.description != timeline.description:
        change.description = parsed.description
    timeline.name, timeline.url, timeline.description = parsed.name, parsed.url, parsed.description
    timeline.order = order
    if change.added or change.removed or change.name is not None or \
            change.description is not None or first:
        timeline.changes.append(change)


FEW = 16  # changes of a version ordered by looking each up, more by one walk of the list


def in_order(wanted: Mapping[Any, str], seq: Sequence[Any]) -> list[str]:
    """The keys of the chunks ``wanted`` (chunk -> key; each once in ``seq``), in its order
    (chunks of a version, or keys of an order: then each maps to itself)."""
    if len(wanted) <= FEW:
        return [wanted[chunk] for chunk in sorted(wanted, key=seq.index)]  # scans in C
    return [wanted[chunk] for chunk in seq if chunk in wanted]


def _rename(timeline: Timeline, renamed: Mapping[str, str]) -> None:
    """Plain lines' histories continue under their Spotify IDs (``renamed``: plain key ->
    ID), in one walk of the changes: one walk per track cost a mixed history's switch
    ~50 tracks x its changes each (0.3 s of a 1,000 x 365 rebuild per process). An ID is
    never a plain key, so no ID is renamed again."""
    get = renamed.get
    for change in timeline.changes:
        change.added = [get(k, k) for k in change.added]
        change.removed = [get(k, k) for k in change.removed]
    timeline.order = [get(k, k) for k in timeline.order]


def load(store: Store) -> Timelines:
    """The timelines as of HEAD, brought up to date and saved."""
    return update(store)
