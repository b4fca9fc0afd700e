"""``gitarchive rebuild``: cumulative views brought up to HEAD and committed once.

The history package, each module with one job:

- events.py: commits -> events (the snapshot files each commit wrote);
- walk.py: a whole history's events, read on both cores;
- replay.py: events -> per-track dates (the semantics, documented there);
- saved.py: the replay state saved in the git directory (incremental runs);
- sync.py: the state as of HEAD (saved state + new commits, or a full replay);
- views.py + archive/templates/cumulative.md.j2: state -> ``playlists/cumulative/`` files;
- publish.py: which views to render, rendering them, and the views branch;
- pending.py: the same for a commit fetch has not made yet;
- parallel.py: the fork-and-merge helper the replay, the rendering and the timelines share;
- pieces.py: what the forked half of a whole-history replay sends back;
- timeline.py, timeline_read.py: every change of every playlist (for pictures and the site);
- charts.py, feeds.py, pictures.py: SVG charts and Atom feeds written with the views.

Here they are put together: bring the state up to HEAD (reading only new commits
when the saved state still describes an ancestor of HEAD), render, and commit —
to the current branch, or to a views branch holding one root commit replaced on
each run, so the derived files do not grow the repository.

Cost grows with the snapshots that change, not with commits x playlists: the
state is one file per playlist (only touched ones are read and rewritten), runs
are applied to a playlist lazily (HistoryState.settle), and only playlists whose
view may have changed are rendered — present tracks have a null ``last_seen`` in
the files (views.py), so a day's run leaves the other playlists' files alone. A
whole-history replay runs on both cores, a forked process replaying some groups of
playlists (sync.py, claimed.py); each group reads its own blobs a window at a time
(git/blobstream.py) and parses each distinct track text once (grouped.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import chain

import pygit2

from gitarchive import collector
from gitarchive.archive import settings
from gitarchive.errors import StoreError
from gitarchive.git.depth import WHY, history_cut
from gitarchive.git.packwriter import Content, Stored, store_all
from gitarchive.git.store import Store, process_repository, tree_at
from gitarchive.git.trust import unverified_reads
from gitarchive.history import pictures, saved, timeline_read
from gitarchive.history.parallel import Meanwhile, in_halves, two_cores
from gitarchive.history.pieces import RowsFn
from gitarchive.history.publish import (
    ViewsPlan,
    differing,
    plan_views,
    publish_views,
    render_views,
    renderer,
    stale,
)
from gitarchive.history.replay import Problem
from gitarchive.history.sync import Synced, save_state, sync
from gitarchive.history.timeline_record import DrawFn, RenderFn
from gitarchive.history.views import DateFormatter, get_timezone
from gitarchive.progress import ProgressFn, no_progress


@dataclass
class RebuildResult:
    """What ``rebuild`` did."""

    commit: pygit2.Oid | None  # on the current branch (None: nothing changed / views branch)
    views_commit: pygit2.Oid | None  # on the views branch
    views_branch: str | None
    changed: list[str]  # paths written
    playlists: int  # playlists whose views were rendered (all, or those that changed)
    events: int  # events replayed
    full: bool  # whole history replayed (else only new commits)
    problems: list[Problem]
    # (old, new, commit): re-issued IDs to suggest linking (archive/links.py), never applied
    suggestions: list[tuple[str, str, str]] = field(default_factory=list)
    synced: Synced | None = None  # the state the views came from (the query index reuses it)
    pictures: list[str] = field(default_factory=list)  # charts and feeds written (pictures.py)


def rebuild(
    store: Store,
    *,
    only: Iterable[str] | None = None,
    full: bool = False,
    timezone: str | None = None,
    views_branch: str | None = None,
    progress: ProgressFn = no_progress,
    rows: RowsFn | None = None,
) -> RebuildResult:
    """Bring the cumulative views up to HEAD and commit them once (nothing if unchanged).

    ``only`` limits the files written to some playlist ids (KeyError-free: unknown
    ids raise StoreError). ``timezone``/``views_branch`` default to git config
    ``gitarchive.timezone`` / ``gitarchive.viewsBranch``. Only playlists whose view
    may have changed since the last rendering are rendered (see ``plan_views``).
    ``rows``: a playlist's rows in the questions' index (the command builds it next):
    a whole-history replay's forked half makes its playlists' (``Synced.extra``).
    """
    # No garbage collection while it works (millions of objects, nearly no cycle): a whole
    # replay's collections took ~0.2 s of its parent's time, some of it on one core; its
    # peak memory a few MB higher (real-shaped mixed history, measured before: +14 MB).
    with collector.paused():
        return _rebuild(store, only, full, timezone, views_branch, progress, rows)


def _rebuild(store: Store, only: Iterable[str] | None, full: bool, timezone: str | None,
             views_branch: str | None, progress: ProgressFn,
             rows: RowsFn | None = None) -> RebuildResult:
    """``rebuild``'s work (with the collector paused)."""
    tz = settings.timezone(store, timezone)
    get_timezone(tz)  # a bad name fails before any work
    store.recover()  # a run killed mid-commit: its files back first, even if nothing changes
    cut = history_cut(store.repo)
    if cut is not None:
        raise StoreError(f"this repository is {cut}, then 'gitarchive rebuild'. The cumulative "
                         f"views were not written: {WHY}")
    branch = settings.views_branch(store, views_branch)
    base_url = settings.githistory_base(store)
    final_newline = settings.final_newline(store)
    fmt = DateFormatter(get_timezone(tz))
    every = only is None  # the halves of a split replay make every playlist's files
    draw = pictures.drawer(store.repo.path, tz) if every else None
    render = renderer(fmt, base_url, final_newline) if every else None
    synced = sync(store, full=full, progress=progress, timelines=True, draw=draw,
                  render=render, later=every, ahead=every, rows=rows if every else None)
    state = synced.state
    only_ids = None if only is None else sorted(set(only))
    if only_ids is not None:
        unknown = [pid for pid in only_ids if pid not in state.playlists]
        if unknown:
            raise StoreError(
                f"no snapshot of {', '.join(unknown)} anywhere in this archive's history"
            )
    result = RebuildResult(
        commit=None, views_commit=None, views_branch=branch, changed=[], playlists=0,
        events=synced.events, full=synced.full, problems=synced.problems,
        suggestions=[c for c in state.candidates if c[1] not in state.links],
        synced=synced,
    )
    if synced.head is None:
        return result
    ahead: saved.Ahead = dict(synced.ahead)  # a whole replay's, written by its halves
    try:
        with Meanwhile(partial(_meanwhile, store, synced, ahead)) as saving:
            plan = plan_views(store, state, branch=branch, timezone=tz,
                              githistory_base=base_url, final_newline=final_newline,
                              only=only_ids)
            if draw is not None and render is not None and not synced.full:
                _made_in_halves(store, synced, plan.wanted, draw, render, saving.start)
        ready = synced.rendered  # rendered by the halves of a split replay (or of this run)
        rendered = chain(
            (item for pid in plan.wanted if pid in ready for item in ready[pid]),
            render_views(state, [pid for pid in plan.wanted if pid not in ready], fmt,
                         base_url, final_newline, progress))
        counted = _Counted(rendered)
        with unverified_reads():  # ~1,000 followers files and the views' trees (trust.py)
            new_tree = _write(store, result, plan, counted, synced, tz, only_ids)
        result.playlists = counted.playlists
        plan.record(state, new_tree, complete=only_ids is None)
    except BaseException:
        left = [state.files[pid] for pid in synced.viewed]  # the forked half's, on disk
        saved.discard(store, ahead, left)  # no manifest will name them
        raise
    if synced.full:  # the files its pictures came from: tomorrow's checked by a line each
        pictures.followers_seen(store, state, synced.head.tree)
    # The rebuild commit writes no snapshot, so it is no event: the state as of the
    # old head is the state as of the new one (its ancestor check still holds).
    save_state(store, synced, ahead)
    return result


def _meanwhile(store: Store, synced: Synced, ahead: saved.Ahead) -> None:
    """What a daily run writes while it draws (in a thread, parallel.Meanwhile): the
    timelines, and the replay state's files of the playlists that changed (the manifest
    naming them is saved after the commit)."""
    if synced.unsaved is not None:
        synced.unsaved()
    if not synced.full:
        ahead.update(saved.write_ahead(store, synced.state))


PARALLEL_MIN_WORK = 3000  # tracks ever seen + changes of the playlists to draw and render


def _made_in_halves(store: Store, synced: Synced, pids: list[str], draw: DrawFn,
                    render: RenderFn, meanwhile: Callable[[], None]) -> None:
    """An incremental run's views and pictures made on both cores, when there is much to make.

    Their cost grows with each changed playlist's whole history (a lane and a row per
    track it ever held, an entry per change): on long histories most of a daily run.
    Each playlist's files are made in one process or the other (``in_halves``), into
    ``synced.rendered`` and ``synced.drawn`` as a split replay's halves make them.
    """
    state, head = synced.state, synced.head
    if head is None or not two_cores() or len(pids) < 2:
        return
    if synced.timelines is None:  # not recorded by the replay (fetch saved them since): read
        synced.timelines = timeline_read.update(store)  # as the pictures would read them
    timelines = synced.timelines
    timelines.preload(pids)  # read here, before the fork: both processes have them
    found = [(pid, timelines.get(pid)) for pid in pids if pid in state.playlists]
    weights = {pid: len(t.tracks) + len(t.changes) if t is not None else 0 for pid, t in found}
    if sum(weights.values()) < PARALLEL_MIN_WORK:
        return
    for pid, _ in found:
        state.playlists.get(pid)  # settled here: the child's settling would be its own
    tree = str(head.tree_id)

    def make(some: Iterable[str]) -> Iterator[tuple[str, _Made]]:
        for pid in some:
            views: list[tuple[str, Content]] = [*render(state, [pid]).get(pid, [])]
            drawn = draw(timelines.get, [pid], state, tree).get(pid)
            yield pid, (views, None if drawn is None else {**drawn})

    def started(mine: Iterable[str]) -> Iterator[str]:
        meanwhile()  # the child is forked by now (it must not copy a running thread)
        yield from mine

    # Each process writes its files to the objects (a pack each) as soon as it has made
    # them, and the child sends their blob ids: sent whole, they were ~5 MB through the
    # pipe, the child waited on it while this process drew, and this process then hashed
    # and compressed them all again after both were done, to commit them.
    for pid, (views, drawn) in in_halves(list(weights), make, str, shown=started,
                                         split=partial(_shared, weights), batch=len(weights),
                                         sent=partial(_stored, store.repo.path)):
        synced.rendered[pid] = views
        if drawn is not None:
            synced.drawn[pid] = drawn


# One playlist's views and pictures: each file's bytes, or the blob they were written to.
_Made = tuple[list[tuple[str, Content]], dict[str, Content] | None]


def _stored(git_dir: str, made: list[tuple[str, _Made]]) -> list[tuple[str, _Made]]:
    """``made`` with every file written to the repository's objects (one pack) and
    standing for by its blob id (packwriter.Stored)."""
    contents = [content for _, (views, drawn) in made
                for content in chain((c for _, c in views), (drawn or {}).values())]
    ids = iter(store_all(process_repository(git_dir), [c for c in contents
                                                        if isinstance(c, bytes)]))
    stored = [c if isinstance(c, Stored) else next(ids) for c in contents]
    at = iter(stored)
    return [(pid, ([(path, next(at)) for path, _ in views],
                   None if drawn is None else {path: next(at) for path in drawn}))
            for pid, (views, drawn) in made]

# This process's share of the making: it also writes the timelines and the replay
# state's files (in a thread, _meanwhile), and forked the child.
HERE_SHARE = 0.45


def _shared(weights: Mapping[str, int], pids: Sequence[str]) -> tuple[list[str], list[str]]:
    """(this process's playlists, the child's): the heaviest first, each to the side
    furthest below its share of the work (``HERE_SHARE`` here)."""
    here: list[str] = []
    there: list[str] = []
    load_here = load_there = 0.0
    for pid in sorted(pids, key=lambda p: (-weights[p], p)):
        if load_here / HERE_SHARE <= load_there / (1 - HERE_SHARE):
            here.append(pid)
            load_here += weights[pid]
        else:
            there.append(pid)
            load_there += weights[pid]
    return here, there


def _write(
    store: Store,
    result: RebuildResult,
    plan: ViewsPlan,
    counted: _Counted,
    synced: Synced,
    tz: str | None,
    only_ids: list[str] | None,
) -> pygit2.Tree | None:
    """Commit the rendered views with their charts and feeds; the tree they are now in.

    To the views branch (only what changed when incremental) or to the current branch.
    """
    branch = result.views_branch
    state, head, synced_timelines = synced.state, synced.head, synced.timelines
    assert head is not None

    def draw(compare_with: pygit2.Tree | None) -> dict[str, Content | None]:
        """The charts and feeds of the playlists rendered (pictures.py)."""
        undrawn = [pid for pid in plan.wanted if pid not in synced.drawn]  # read: loaded
        moved = pictures.followers_written(
            store, synced.walked, state, plan.wanted, only=only_ids, after=head.tree,
            before=tree_at(store.repo, synced.since) if synced.since else None,
        ) if plan.incremental else []
        return pictures.files(store, plan.wanted, tree=head.tree, compare_with=compare_with,
                              timezone=tz, gaps=pictures.fetch_gaps(state, undrawn),
                              timelines=synced_timelines, predrawn=synced.drawn,
                              followers=moved)

    if branch is not None:
        if plan.incremental:
            files = differing(store, plan.base, counted)
            if only_ids is None:
                files.update(stale(store, plan.base, state, incremental=True))
            result.changed = sorted(files)
            drawn = draw(plan.base)
            result.pictures = sorted(drawn)
            result.views_commit = publish_views(store, branch, {**files, **drawn}, head,
                                                plan.base)
        else:
            every = dict(counted)
            result.changed = sorted(differing(store, plan.base, every.items()))
            drawn = draw(None)
            result.pictures = pictures.differing(store, plan.base, drawn)
            result.views_commit = publish_views(store, branch, {**every, **drawn}, head)
        new_tree = store.branch_tree(branch)
    else:
        changes = differing(store, head.tree, counted)
        if only_ids is None:
            changes.update(stale(store, head.tree, state, plan.incremental, synced.viewed))
        result.changed = sorted(changes)
        drawn = draw(head.tree)
        result.pictures = sorted(drawn)
        changes.update(drawn)
        if changes:
            result.commit = store.commit(changes, _message(len(result.changed), len(drawn)))
        new_tree = store.tree()
    return new_tree


class _Counted:
    """Passes (path, content) pairs through, counting the playlists (two files each)."""

    def __init__(self, files: Iterable[tuple[str, Content]]) -> None:
        self.files = files
        self.count = 0

    def __iter__(self) -> Iterator[tuple[str, Content]]:
        for item in self.files:
            self.count += 1
            yield item

    @property
    def playlists(self) -> int:
        return self.count // 2


def _message(count: int, pictures: int = 0) -> str:
    """The rebuild commit's message: the views' files it changed, and the charts' and
    feeds' (a rebuild can change only those: "0 files" alone hid what it committed)."""
    drawn = f", {pictures} chart and feed file{'s' if pictures != 1 else ''}" if pictures else ""
    return (
        f"Rebuild cumulative views ({count} file{'s' if count != 1 else ''}{drawn})\n\n"
        "Recomputed from the history of the snapshots by 'gitarchive rebuild'."
    )
