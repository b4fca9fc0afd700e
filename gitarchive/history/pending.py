"""The state fetch keeps pending: cumulative files for a commit not made yet.

``fetch`` commits its snapshots and their cumulative views in one commit. Before
that commit exists, ``pending_views`` treats the new snapshot tree as one more
commit, renders the views that changed, and returns a ``PendingState`` that saves
the state once the commit is made (and is what was assumed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import pygit2

from gitarchive.archive import settings
from gitarchive.archive.runrecord import RunRecord
from gitarchive.git.store import Store, tree_at
from gitarchive.history import pictures, timeline_read
from gitarchive.history import saved as history_state
from gitarchive.history.digest import snapshot_digest
from gitarchive.history.events import (
    KIND_FOLLOWERS,
    KIND_JSON,
    Event,
    EventReader,
    sorted_events,
)
from gitarchive.history.grouped import fresh_state
from gitarchive.history.publish import (
    ViewsPlan,
    cumulative_id,
    differing,
    plan_views,
    publish_views,
    render_views,
    stale,
)
from gitarchive.history.state import HistoryState
from gitarchive.history.sync import Synced, all_events, replay_events, sync
from gitarchive.history.timeline import Stale, Timelines, forget, state_path
from gitarchive.history.timeline_read import save_with_commit
from gitarchive.history.timeline_record import Recording
from gitarchive.history.views import DateFormatter, get_timezone
from gitarchive.progress import no_progress


@dataclass
class PendingState:
    """The state including a snapshot tree not committed yet; ``save`` once it is."""

    store: Store
    synced: Synced
    event: Event | None
    when: tuple[int, int]
    views_branch: str | None
    files: dict[str, bytes | None]  # for the views branch: what to publish
    plan: ViewsPlan | None = None
    changes: dict[str, bytes | None] = field(default_factory=dict)  # for the commit
    timelines: Timelines | None = None  # the charts' timelines, with ``event`` applied

    def save(self, commit_oid: pygit2.Oid | str) -> bool:
        """Persist the state as of the new commit (and publish the views branch).

        The state is saved only if the commit is what ``pending_views`` assumed —
        a child of the synced HEAD at time ``when`` writing the same snapshot files;
        otherwise nothing is saved and the next run catches up from the old state.
        Returns whether it was saved.
        """
        store = self.store
        commit = store.repo[str(commit_oid)].peel(pygit2.Commit)
        state = self.synced.state
        views_tree: pygit2.Tree | None = None
        if self.views_branch is not None and self.plan is not None:
            base = self.plan.base if self.plan.incremental else None
            publish_views(store, self.views_branch, self.files, commit, base)
            views_tree = store.branch_tree(self.views_branch)
        head = self.synced.head
        expected_parents = [head.id] if head is not None else []
        if list(commit.parent_ids) != expected_parents or commit.commit_time != self.when[0]:
            return False
        gens = dict(self.synced.gens)
        gen = 1 + (gens.get(str(head.id), 0) if head is not None else 0)
        actual = EventReader(store.repo).event(commit, gen)
        if (actual is None) != (self.event is None):
            return False
        if actual is not None and self.event is not None:
            if (actual.writes, actual.observed, actual.record) != (
                self.event.writes, self.event.observed, self.event.record
            ):
                return False
            # The newest event replayed: this commit's, or (clock skew) a later-dated one's.
            last = state.last_key
            state.last_key = actual.key if last is None or last[:2] <= actual.key[:2] else last
        if self.timelines is not None:
            save_with_commit(self.timelines, str(commit.id), state.last_key, gen)
        gens[str(commit.id)] = gen
        if self.plan is not None:
            if self.views_branch is None:
                # Recorded only if the commit holds exactly the files computed here.
                base = head.tree if head is not None else None
                expected = tree_at(store.repo, store.write_tree(base, self.changes))
                ok = cumulative_id(expected) == cumulative_id(commit.tree)
                views_tree = commit.tree if ok else None
                if not ok:
                    state.views = None
            if views_tree is not None or self.views_branch is not None:
                self.plan.record(state, views_tree, complete=True)
        history_state.save(store, history_state.SavedState(str(commit.id), gens, state))
        return True


def pending_views(
    store: Store,
    snapshot_tree: pygit2.Oid,
    when: tuple[int, int],
    *,
    githistory_base: str | None,
    timezone: str | None = None,
    views_branch: str | None = None,
    record: RunRecord | None = None,
    contents: Mapping[str, bytes] | None = None,
    alike: Mapping[str, str] | None = None,
    repeated: Collection[str] | None = None,
) -> tuple[dict[str, bytes | None], PendingState]:
    """Cumulative files for a commit of ``snapshot_tree`` at ``when``, made next on HEAD.

    ``contents`` (JSON blob id -> bytes): the new snapshots' files the caller already
    holds in memory, not read back; ``alike`` (JSON blob id -> HEAD's JSON blob id): of
    those, the ones the caller found equal to HEAD's but for the follower count line
    (``digest.same_snapshot``), so that their digest is known without hashing them;
    ``repeated``: playlists whose new followers file only repeats the last count, so its
    chart is not looked at (``followers_chart.repeats_in``), and every other followers
    file written is drawn; None: each is looked at (``pictures.followers_written``).
    ``record``: what the run fetched and what failed (the commit's trailers,
    ``archive/runrecord.py``).

    Syncs the state to HEAD (incrementally), treats ``snapshot_tree`` as one more
    commit at ``when`` (epoch seconds, UTC offset minutes), and returns the
    cumulative files that differ from HEAD's — to be committed together with the
    snapshots — and a PendingState whose ``save(commit)`` persists the state. With a
    views branch configured nothing is returned for the commit; ``save`` publishes.
    Only playlists whose view changed are rendered (see ``_plan``). The charts'
    timelines are recorded by the same replay (``_replayed``): one pass.
    """
    tz = settings.timezone(store, timezone)
    branch = settings.views_branch(store, views_branch)
    synced = sync(store, timelines=True)
    head = synced.head
    reader = EventReader(store.repo)
    gen = 1 + (synced.gens.get(str(head.id), 0) if head is not None else 0)
    tree = store.repo[snapshot_tree].peel(pygit2.Tree)
    event = reader.pseudo_event(
        head.tree if head is not None else None, tree, when[0], gen, record
    )
    synced, timelines = _replayed(store, synced, event, contents, alike or {})
    has_snapshots = head is not None or event is not None
    final_newline = settings.final_newline(store) if has_snapshots else True
    plan = plan_views(store, synced.state, branch=branch, timezone=tz,
                 githistory_base=githistory_base, final_newline=final_newline, only=None)
    fmt = DateFormatter(get_timezone(tz))
    rendered = render_views(synced.state, plan.wanted, fmt, githistory_base, final_newline)
    base = plan.base if branch is not None and plan.incremental else None
    if branch is None and head is not None:
        base = head.tree
    moved = pictures.followers_written(store, [event] if event is not None else [],
                                       synced.state, [*plan.wanted, *(repeated or ())],
                                       after=tree, before=head.tree if head is not None else None,
                                       glance=repeated is None)
    drawn = pictures.files(store, plan.wanted, tree=tree, compare_with=base, timezone=tz,
                           gaps=pictures.fetch_gaps(synced.state, plan.wanted),
                           timelines=timelines, followers=moved)
    if branch is not None:
        files: dict[str, bytes | None] = (
            differing(store, plan.base, rendered) if plan.incremental else dict(rendered)
        )
        if plan.incremental:
            files.update(stale(store, plan.base, synced.state, incremental=True))
        files.update(drawn)
        return {}, PendingState(store, synced, event, when, branch, files, plan,
                                timelines=timelines)
    head_tree = head.tree if head is not None else None
    changes = differing(store, head_tree, rendered)
    changes.update(stale(store, head_tree, synced.state, plan.incremental))
    changes.update(drawn)
    return changes, PendingState(store, synced, event, when, None, {}, plan, changes,
                                 timelines)


def _as_of_head(timelines: Timelines, head: pygit2.Commit | None) -> Timelines:
    """Timelines saved as of HEAD: the coming commit's playlists alone are saved again."""
    if head is not None:
        timelines.touched.clear()
        timelines.full = False
    return timelines


def _replayed(store: Store, synced: Synced, event: Event | None,
              contents: Mapping[str, bytes] | None, alike: Mapping[str, str]
              ) -> tuple[Synced, Timelines]:
    """The state and the charts' timelines with ``event`` (the coming commit) applied,
    both by one replay: the timelines are recorded as it reads each new version
    (timeline_record.py), as the daily rebuild records them, not read a second time.

    The timelines are those sync recorded (as of HEAD), else read up to HEAD first
    (timeline_read.update: saved ones that describe another commit, or none); an event
    that sorts before the newest one (clock skew) means a replay of everything in order,
    recording every timeline afresh. Nothing is saved: ``PendingState.save`` does, once
    the commit is made.
    """
    head = synced.head
    if event is not None and synced.state.last_key is not None \
            and event.key <= synced.state.last_key:
        # Committed before the newest event (clock skew): replay it all in order.
        assert head is not None  # a newest event is a commit's
        gens: dict[str, int] = {}
        events = all_events(store, head, gens)
        state = fresh_state(synced.state.links)
        recording = Recording()
        problems = replay_events(store, state, sorted_events([*events, event]), no_progress,
                                 contents, recording)
        timelines = recording.timelines_as_of(state_path(store), str(head.id),
                                              state.last_key, gens)
        timelines.extra = event
        return Synced(state, gens, head, problems, full=True), timelines
    timelines = _as_of_head(synced.timelines or timeline_read.update(store), head)
    if event is None:
        return synced, timelines

    def begin(timelines: Timelines) -> tuple[dict[str, str], Event, dict[str, int]]:
        moved = _moved_alone(synced.state, timelines, event, contents or {}, alike)
        applied = event.only(lambda pid: pid not in moved) if moved else event
        return moved, applied, timeline_read.begin_recorded(timelines, [applied])

    try:
        moved, applied, before = begin(timelines)
    except Stale:  # a saved timeline is unreadable: read the whole history again
        forget(store)
        timelines = _as_of_head(timeline_read.update(store), head)
        moved, applied, before = begin(timelines)
    for pid, blob in moved.items():
        synced.state.move_alone(pid, blob)
        timelines.move(pid, blob)
    synced.problems.extend(replay_events(store, synced.state, [applied], no_progress, contents,
                                         Recording(timelines=timelines.loaded)))
    timeline_read.note_recent(timelines, before)
    timelines.extra = event
    return synced, timelines


def _moved_alone(state: HistoryState, timelines: Timelines, event: Event,
                 contents: Mapping[str, bytes], alike: Mapping[str, str]) -> dict[str, str]:
    """pid -> new JSON blob of the playlists whose new snapshot differs from their current
    one only in its follower count (most of them, most days), neither loaded here yet.

    Applying such a version changes nothing the replay state or the timelines keep but
    the blob (the dates settle lazily as ever), so it is not applied: only the blob moves,
    in the saved state's and the timelines' small records (``move_alone``, ``move``),
    and no playlist file or timeline row is read, unpickled, rewritten. The digests are
    those of the snapshots fetch applied before (``snapshot_digest``; a new snapshot
    ``alike`` the state's has its digest, not hashed again); anything else —
    a deletion in the event, a second file of the playlist written, a timeline whose
    snapshot is not the state's — takes the replay's usual way.
    """
    if any(w.blob is None for w in event.writes):
        return {}
    written = Counter(w.pid for w in event.writes if w.kind != KIND_FOLLOWERS)
    moved: dict[str, str] = {}
    for write in event.writes:
        data = contents.get(write.blob) if write.blob is not None else None
        if write.kind != KIND_JSON or write.blob is None or data is None \
                or written[write.pid] != 1:
            continue
        old = state.quiet_source(write.pid, _digest(state, write.pid, write.blob, data, alike))
        if old is not None and timelines.source_of(write.pid) == (KIND_JSON, old):
            moved[write.pid] = write.blob
    return moved


def _digest(state: HistoryState, pid: str, blob: str, data: bytes,
            alike: Mapping[str, str]) -> bytes:
    """``snapshot_digest(data)``: the state's digest of its snapshot when ``alike`` says
    the new one equals it but for the follower count (a comparison made by the caller,
    where the file was made), else hashed."""
    source = state.sources.get(pid)
    if source is not None and source[2] is not None and source[0] is not None \
            and alike.get(blob) == source[0]:
        return source[2]
    return snapshot_digest(data)
