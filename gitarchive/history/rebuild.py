"""Cumulative views rebuilt from git history: what ``rebuild`` and ``fetch`` call.

The layers under this module, each with one job:

- history_events.py: commits -> events (the snapshot files each commit wrote);
- history_replay.py: events -> per-track dates (the semantics, documented there);
- history_state.py: the replay state saved in the git directory (incremental runs);
- views.py + templates/cumulative.md.j2: state -> ``playlists/cumulative/`` files.

Here they are put together: bring the state up to HEAD (reading only new commits
when the saved state still describes an ancestor of HEAD), render, and commit —
to the current branch, or to a views branch holding one root commit replaced on
each run, so the derived files do not grow the repository.

Cost grows with the snapshots that change, not with commits x playlists: the
state is one file per playlist (only touched ones are read and rewritten), runs
are applied to a playlist lazily (history_replay.HistoryState.settle), and only
playlists whose view may have changed are rendered — present tracks have a null
``last_seen`` in the files (views.py), so a day's run leaves the other playlists'
files alone. A whole-history replay reads its blobs ahead in a second process
(blobstream.py, pygit2 there too), in parallel with the parsing here, and parses
each distinct track text once.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TypeVar

import pygit2

from gitarchive.archive import layout, settings
from gitarchive.archive import links as archive_links
from gitarchive.archive.model import Playlist
from gitarchive.archive.runrecord import RunRecord
from gitarchive.git.blobstream import BlobStream
from gitarchive.git.store import Store, StoreError, TreeReader, signature
from gitarchive.history import saved as history_state
from gitarchive.history.events import (
    KIND_JSON,
    KIND_PLAIN,
    Event,
    EventReader,
    sorted_events,
    walk_events,
)
from gitarchive.history.replay import HistoryState, Problem, Replayer, add_candidates
from gitarchive.history.saved import StateError
from gitarchive.history.views import (
    VIEWS_VERSION,
    DateFormatter,
    TimezoneError,
    cumulative_view,
    get_timezone,
    render_files,
)

__all__ = [
    "PendingState",
    "Problem",
    "RebuildResult",
    "TimezoneError",
    "pending_views",
    "rebuild",
    "views_branch_setting",
]

T = TypeVar("T")
# progress(label, items) -> the same items, e.g. through click.progressbar.
ProgressFn = Callable[[str, Sequence[T]], Iterable[T]]

VIEWS_BRANCH_KEY = "gitarchive.viewsBranch"
# (vanished, appeared): (commit, pid, name) of playlists whose snapshot went away / came
_Swaps = tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]


def _no_progress(label: str, items: Sequence[T]) -> Iterable[T]:
    return items


# ------------------------------------------------------------------ settings


def views_branch_setting(store: Store, explicit: str | None = None) -> str | None:
    """The views branch: the option, else ``git config gitarchive.viewsBranch``, else none."""
    name = explicit if explicit is not None else store.config(VIEWS_BRANCH_KEY)
    if not name or not name.strip():
        return None
    name = name.strip().removeprefix("refs/heads/")
    if not pygit2.reference_is_valid_name(f"refs/heads/{name}"):
        raise StoreError(f"'{name}' is not a valid branch name for the views branch")
    if f"refs/heads/{name}" == _branch_or_none(store):
        raise StoreError(f"the views branch cannot be the archive's own branch '{name}'")
    return name


def timezone_setting(store: Store, explicit: str | None = None) -> str | None:
    """The display time zone: the option, else ``git config gitarchive.timezone``, else UTC."""
    return settings.timezone(store, explicit)


def _branch_or_none(store: Store) -> str | None:
    try:
        return store.branch_ref
    except StoreError:
        return None


# ---------------------------------------------------------------------- sync


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


def _halves(events: Sequence[Event], links: Mapping[str, str]) -> Callable[[str], bool]:
    """Which playlists the second process replays: those joined by a link or a rename together.

    A rename moves one playlist's history to another ID and a link copies it, so
    both IDs must be replayed in one process. Grouping too much is harmless (it only
    decides which process works), so any commit deleting a blob another file of the
    same kind gets joins them.
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
        deleted = {}
        for write in event.writes:
            if write.blob is None and (write.kind, write.pid) in current:
                deleted[(write.kind, current.pop((write.kind, write.pid)))] = write.pid
        for write in event.writes:
            if write.blob is not None:
                old = deleted.get((write.kind, write.blob))
                if old is not None:
                    join(old, write.pid)
                current[(write.kind, write.pid)] = write.blob
    return lambda pid: _second_half(root(pid))


def _replay_split(
    store: Store, state: HistoryState, events: Sequence[Event], progress: ProgressFn
) -> list[Problem]:
    """A whole-history replay on both cores: half the playlists in a forked process.

    Playlists are replayed independently (each against the same list of runs), so two
    empty states fed the same events, each with the writes of its own half of the
    playlists, hold between them exactly the one state a single replay builds; the
    child's playlists are then moved into ``state``. If the child fails, its half is
    replayed here. Playlists joined by a link or a rename stay in one half.
    """
    second_half = _halves(events, state.links)
    first = [event.only(lambda pid: not second_half(pid)) for event in events]
    second = [event.only(second_half) for event in events]
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_replay_child, args=(store.repo.path, second, state.links, sender), daemon=True
    )
    child.start()
    sender.close()
    swaps: _Swaps = ([], [])
    try:
        problems = _replay_in_order(store, state, first, progress, _planned_blobs(first),
                                    swaps=swaps)
        try:
            playlists, view_dirty, pending, their_problems, their_swaps = receiver.recv()
        except (EOFError, OSError):
            playlists = None
    finally:
        receiver.close()
        child.join()
    if playlists is None:  # the child died: do its half here, on a state of its own
        other = _fresh_state(state.links)
        their_swaps = ([], [])
        their_problems = _replay_in_order(store, other, second, _no_progress,
                                          _planned_blobs(second), swaps=their_swaps)
        playlists = {pid: other.playlists[pid] for pid in other.playlists}
        view_dirty, pending = other.view_dirty, other.pending
    for pid, playlist in playlists.items():
        state.playlists[pid] = playlist
    state.view_dirty |= view_dirty
    state.pending |= pending
    add_candidates(state, [*swaps[0], *their_swaps[0]], [*swaps[1], *their_swaps[1]])
    order = {event.oid: n for n, event in enumerate(events)}
    return sorted([*problems, *their_problems], key=lambda p: order.get(p.commit, -1))


def _replay_child(git_dir: str, events: Sequence[Event], links: Mapping[str, str],
                  sender: Connection) -> None:
    """The forked half of _replay_split: replay, then send the playlists back."""
    try:
        state = _fresh_state(links)
        swaps: _Swaps = ([], [])
        problems = _replay_in_order(Store(git_dir), state, events, _no_progress,
                                    _planned_blobs(events), swaps=swaps)
        playlists = {pid: state.playlists[pid] for pid in state.playlists}
        sender.send((playlists, state.view_dirty, state.pending, problems, swaps))
    finally:
        sender.close()


def _fresh_state(links: Mapping[str, str]) -> HistoryState:
    """An empty state that will apply ``links`` (HEAD's: archive/links.py)."""
    state = HistoryState()
    state.links = dict(links)
    return state


def _planned_blobs(events: Sequence[Event]) -> list[tuple[str, str]]:
    """(blob, playlist) of the snapshots Replayer will read for ``events``, in order.

    Same rules as the Replayer; the playlist lets the reader fetch one playlist's
    versions together (see blobstream).
    """
    sources: dict[str, list[str | None]] = {}  # pid -> [json blob, plain blob]

    def source(blobs: list[str | None]) -> tuple[str, str] | None:
        if blobs[0] is not None:
            return KIND_JSON, blobs[0]
        return (KIND_PLAIN, blobs[1]) if blobs[1] is not None else None

    plan = []
    for event in events:
        changed: dict[str, list[str | None]] = {}
        for write in event.writes:
            if write.kind not in (KIND_JSON, KIND_PLAIN):
                continue
            blobs = sources.get(write.pid)
            if blobs is None:
                if write.blob is None:
                    continue
                blobs = sources[write.pid] = [None, None]
            before = source(blobs)
            blobs[0 if write.kind == KIND_JSON else 1] = write.blob
            if source(blobs) != before:
                changed[write.pid] = blobs
        for pid, blobs in changed.items():
            now = source(blobs)
            if now is not None:
                plan.append((now[1], pid))
    return plan


def _all_events(store: Store, head: pygit2.Commit, gens: dict[str, int]) -> list[Event]:
    return sorted_events(walk_events(store.repo, head.id, None, gens))


PARALLEL_MIN_BLOBS = 4000  # a whole-history replay this large is split over two processes


def _replay(
    store: Store,
    state: HistoryState,
    events: Sequence[Event],
    progress: ProgressFn,
    known: Mapping[str, Playlist] | None = None,
) -> list[Problem]:
    plan = [step for step in _planned_blobs(events) if not known or step[0] not in known]
    if (
        state.last_key is None
        and not known
        and len(plan) >= PARALLEL_MIN_BLOBS
        and (os.cpu_count() or 1) > 1
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
    swaps: _Swaps | None = None,
) -> list[Problem]:
    """Replay ``events`` here; ``swaps`` collects the playlists that vanished and appeared
    (a split replay matches both halves' into candidates), else they are matched now."""
    with BlobStream(store.repo, plan) as reader:
        replayer = Replayer(state, reader.read, known)
        replayer.apply_all(progress("Replaying history", events))
    state.settle_pending()
    if swaps is None:
        add_candidates(state, replayer.vanished, replayer.appeared)
    else:
        swaps[0].extend(replayer.vanished)
        swaps[1].extend(replayer.appeared)
    return replayer.problems


def sync(store: Store, *, full: bool = False, progress: ProgressFn = _no_progress) -> Synced:
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
    links = archive_links.from_tree(store.repo, head.tree)
    saved = None if full else history_state.load(store)
    if (saved is not None and history_state.still_valid(store, saved, head)
            and saved.state.links == links):  # a link made or undone: replay it all
        gens = dict(saved.gens)
        stop = pygit2.Oid(hex=saved.head)
        new = sorted_events(walk_events(store.repo, head.id, stop, gens))
        last = saved.state.last_key
        if not new or last is None or new[0].key > last:
            try:
                problems = _replay(store, saved.state, new, progress)
                for pid in sorted(saved.state.view_dirty):  # read now: errors mean replay
                    saved.state.playlists.get(pid)
            except StateError:
                pass
            else:
                return Synced(saved.state, gens, head, problems, full=False, events=len(new))
    gens = {}
    events = _all_events(store, head, gens)
    state = _fresh_state(links)
    problems = _replay(store, state, events, progress)
    return Synced(state, gens, head, problems, full=True, events=len(events))


def save_state(store: Store, synced: Synced) -> None:
    """Persist a synced state (the cache the next run starts from)."""
    if synced.head is not None:
        history_state.save(
            store, history_state.SavedState(str(synced.head.id), synced.gens, synced.state)
        )


# -------------------------------------------------------------------- render


PARALLEL_MIN_VIEWS = 200  # this many views are rendered half here, half in a forked process


def _render(
    state: HistoryState,
    pids: Sequence[str],
    fmt: DateFormatter,
    githistory_base: str | None,
    final_newline: bool,
    progress: ProgressFn = _no_progress,
) -> Iterator[tuple[str, bytes]]:
    """(path, content) of the cumulative files of ``pids`` (in no particular order)."""
    label = "Rendering cumulative views"
    if len(pids) < PARALLEL_MIN_VIEWS or (os.cpu_count() or 1) < 2:
        yield from _render_in_order(state, progress(label, pids), fmt, githistory_base,
                                    final_newline)
        return
    mine, theirs = pids[::2], pids[1::2]
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_render_child,
        args=(state, theirs, fmt, githistory_base, final_newline, sender),
        daemon=True,
    )
    child.start()
    sender.close()
    received: dict[str, list[tuple[str, bytes]]] = {}
    try:
        for pid in progress(label, mine):
            yield from _render_in_order(state, [pid], fmt, githistory_base, final_newline)
            while receiver.poll():  # keep the child's pipe flowing while this side works
                pid_files = _receive(receiver)
                if pid_files is None:
                    break
                received[pid_files[0]] = pid_files[1]
        while len(received) < len(theirs):
            pid_files = _receive(receiver)
            if pid_files is None:
                break
            received[pid_files[0]] = pid_files[1]
    finally:
        receiver.close()
        child.join()
    for files in received.values():
        yield from files
    missing = [pid for pid in theirs if pid not in received]  # only if the child failed
    yield from _render_in_order(state, missing, fmt, githistory_base, final_newline)


def _receive(receiver: Connection) -> tuple[str, list[tuple[str, bytes]]] | None:
    try:
        return receiver.recv()
    except (EOFError, OSError):
        return None


def _render_child(
    state: HistoryState,
    pids: Sequence[str],
    fmt: DateFormatter,
    githistory_base: str | None,
    final_newline: bool,
    sender: Connection,
) -> None:
    """The forked half of _render: one message per playlist, as each is rendered."""
    try:
        for pid in pids:
            files = list(_render_in_order(state, [pid], fmt, githistory_base, final_newline))
            sender.send((pid, files))
    finally:
        sender.close()


def _render_in_order(
    state: HistoryState,
    pids: Iterable[str],
    fmt: DateFormatter,
    githistory_base: str | None,
    final_newline: bool,
) -> Iterator[tuple[str, bytes]]:
    """(path, content) of the cumulative files of ``pids``, one playlist at a time."""
    for pid in pids:
        playlist = state.playlists.get(pid)
        view = cumulative_view(playlist, fmt) if playlist is not None else None
        if view is None:
            continue
        rendered = render_files(view, githistory_base)
        if not final_newline:
            md = layout.cumulative_md_path(pid)
            rendered[md] = rendered[md].rstrip(b"\n")
        yield from rendered.items()


def render_all(
    state: HistoryState,
    *,
    timezone: str | None,
    githistory_base: str | None,
    final_newline: bool = True,
    only: Iterable[str] | None = None,
    progress: ProgressFn = _no_progress,
) -> dict[str, bytes]:
    """Every cumulative file of the observed playlists (or of ``only``): path -> content."""
    fmt = DateFormatter(get_timezone(timezone))
    wanted = sorted(state.playlists) if only is None else sorted(set(only))
    return dict(_render(state, wanted, fmt, githistory_base, final_newline, progress))


def _differing(
    store: Store, tree: pygit2.Tree | None, files: Iterable[tuple[str, bytes]]
) -> dict[str, bytes | None]:
    """Those of ``files`` whose content differs from ``tree``'s (compared by blob id).

    Consumes ``files`` lazily, so unchanged contents are dropped as they are made.
    """
    existing = TreeReader(store.repo, tree).listing(layout.CUMULATIVE)
    prefix = len(layout.CUMULATIVE) + 1
    return {
        path: content
        for path, content in files
        if existing.get(path[prefix:]) != pygit2.hash(content)
    }


def _stale(
    store: Store, tree: pygit2.Tree | None, state: HistoryState, incremental: bool
) -> dict[str, bytes | None]:
    """Cumulative files in ``tree`` of playlists that have no view any more: deleted.

    A rename moves a playlist's history to its new ID and an unlink takes a copied
    history away; their old files would otherwise stay forever. Incrementally only
    the playlists marked ``view_dirty`` can have lost their view.
    """
    existing = TreeReader(store.repo, tree).listing(layout.CUMULATIVE)
    if not existing:
        return {}
    owners: dict[str, list[str]] = {}
    for name in existing:
        pid = name.rsplit(".", 1)[0]
        owners.setdefault(pid, []).append(f"{layout.CUMULATIVE}/{name}")
    pids = state.view_dirty & owners.keys() if incremental else owners.keys()
    stale: dict[str, bytes | None] = {}
    for pid in sorted(pids):
        playlist = state.playlists.get(pid)
        if playlist is None or playlist.first_run is None:
            stale.update(dict.fromkeys(owners[pid]))
    return stale


def _cumulative_id(tree: pygit2.Tree | None) -> str:
    if tree is None or layout.CUMULATIVE not in tree:
        return ""
    return str(tree[layout.CUMULATIVE].id)


@dataclass(frozen=True)
class _Plan:
    """Which playlists to render, against what, and how to record the result."""

    target: str  # "branch:<ref>" or "views:<name>"
    settings: str  # everything besides the state that the files depend on
    base: pygit2.Tree | None  # the tree the files are compared with / written onto
    incremental: bool  # base holds the files of every playlist not in state.view_dirty
    wanted: list[str]

    def record(self, state: HistoryState, new_tree: pygit2.Tree | None, complete: bool) -> None:
        """After the files were committed: remember what ``new_tree`` holds."""
        state.view_dirty.difference_update(self.wanted)
        state.view_dirty.intersection_update(state.playlists)  # a renamed one's file is gone
        ok = complete or self.incremental
        state.views = (self.target, self.settings, _cumulative_id(new_tree)) if ok else None


def _plan(
    store: Store,
    state: HistoryState,
    *,
    branch: str | None,
    timezone: str | None,
    githistory_base: str | None,
    final_newline: bool,
    only: list[str] | None,
) -> _Plan:
    """Render only the playlists whose view changed when the base holds our last rendering.

    The files depend on the state and on the settings (and the views' code); they
    were last written, with ``state.views``' settings, into the cumulative tree
    recorded there. If the base still has that tree and the settings are the same,
    only ``state.view_dirty`` can differ; otherwise (settings changed, files edited
    by hand, a new or rewritten history) every playlist is rendered.
    """
    if branch is not None:
        target = f"views:{branch}"
        tip = store.repo.references.get(f"refs/heads/{branch}")
        base = tip.peel(pygit2.Commit).tree if tip is not None else None
    else:
        target = f"branch:{_branch_or_none(store)}"
        head = store.head()
        base = head.tree if head is not None else None
    key = repr((VIEWS_VERSION, timezone or "UTC", githistory_base, final_newline))
    incremental = state.views == (target, key, _cumulative_id(base))
    if only is not None and not (branch is not None and not incremental):
        wanted = only
    elif incremental:
        wanted = sorted(pid for pid in state.view_dirty if pid in state.playlists)
    else:
        wanted = sorted(state.playlists)
    return _Plan(target, key, base, incremental, wanted)


def publish_views(
    store: Store,
    branch: str,
    files: dict[str, bytes | None],
    source: pygit2.Commit | None,
    base: pygit2.Tree | None = None,
) -> pygit2.Oid | None:
    """Replace ``branch`` by one root commit holding ``base`` + ``files``; None if unchanged.

    ``base`` None: exactly ``files`` (a full rendering); else the previous tip's tree
    with the changed files, so a daily run writes only those.
    """
    ref = f"refs/heads/{branch}"
    repo = store.repo
    tree_id = store.write_tree(base, files)
    current = repo.references.get(ref)
    current_id = current.target if current is not None else None
    if current is not None and current.peel(pygit2.Commit).tree_id == tree_id:
        return None
    source_note = f" as of {str(source.id)[:12]}" if source is not None else ""
    message = (f"Cumulative views{source_note}\n\n"
               "Rebuilt by 'gitarchive rebuild'; replaced on each run.")
    sig = signature(repo)
    oid = repo.create_commit(None, sig, sig, message, tree_id, [])
    store.move_branch(ref, current_id, oid, message, update_worktree=False)
    return oid


# ------------------------------------------------------------------- rebuild


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


def rebuild(
    store: Store,
    *,
    only: Iterable[str] | None = None,
    full: bool = False,
    timezone: str | None = None,
    views_branch: str | None = None,
    progress: ProgressFn = _no_progress,
) -> RebuildResult:
    """Bring the cumulative views up to HEAD and commit them once (nothing if unchanged).

    ``only`` limits the files written to some playlist ids (KeyError-free: unknown
    ids raise StoreError). ``timezone``/``views_branch`` default to git config
    ``gitarchive.timezone`` / ``gitarchive.viewsBranch``. Only playlists whose view
    may have changed since the last rendering are rendered (see ``_plan``).
    """
    tz = timezone_setting(store, timezone)
    get_timezone(tz)  # a bad name fails before any work
    branch = views_branch_setting(store, views_branch)
    synced = sync(store, full=full, progress=progress)
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
    )
    if synced.head is None:
        return result
    base_url = settings.githistory_base(store)
    final_newline = settings.final_newline(store)
    plan = _plan(store, state, branch=branch, timezone=tz, githistory_base=base_url,
                 final_newline=final_newline, only=only_ids)
    fmt = DateFormatter(get_timezone(tz))
    rendered = _render(state, plan.wanted, fmt, base_url, final_newline, progress)
    counted = _Counted(rendered)
    if branch is not None:
        if plan.incremental:
            files = _differing(store, plan.base, counted)
            if only_ids is None:
                files.update(_stale(store, plan.base, state, incremental=True))
            result.changed = sorted(files)
            result.views_commit = publish_views(store, branch, files, synced.head, plan.base)
        else:
            every: dict[str, bytes | None] = dict(counted)
            result.changed = sorted(_differing(store, plan.base, every.items()))  # type: ignore[arg-type]
            result.views_commit = publish_views(store, branch, every, synced.head)
        tip = store.repo.references.get(f"refs/heads/{branch}")
        new_tree = tip.peel(pygit2.Commit).tree if tip is not None else None
    else:
        changes = _differing(store, synced.head.tree, counted)
        if only_ids is None:
            changes.update(_stale(store, synced.head.tree, state, plan.incremental))
        result.changed = sorted(changes)
        if changes:
            result.commit = store.commit(changes, _message(len(result.changed)))
        new_tree = store.head().tree  # type: ignore[union-attr]
    result.playlists = counted.playlists
    plan.record(state, new_tree, complete=only_ids is None)
    # The rebuild commit writes no snapshot, so it is no event: the state as of the
    # old head is the state as of the new one (its ancestor check still holds).
    save_state(store, synced)
    return result


class _Counted:
    """Passes (path, content) pairs through, counting the playlists (two files each)."""

    def __init__(self, files: Iterable[tuple[str, bytes]]) -> None:
        self.files = files
        self.count = 0

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        for item in self.files:
            self.count += 1
            yield item

    @property
    def playlists(self) -> int:
        return self.count // 2


def _message(count: int) -> str:
    return (
        f"Rebuild cumulative views ({count} file{'s' if count != 1 else ''})\n\n"
        "Recomputed from the history of the snapshots by 'gitarchive rebuild'."
    )


# ------------------------------------------------------------- fetch support


@dataclass
class PendingState:
    """The state including a snapshot tree not committed yet; ``save`` once it is."""

    store: Store
    synced: Synced
    event: Event | None
    when: tuple[int, int]
    views_branch: str | None
    files: dict[str, bytes | None]  # for the views branch: what to publish
    plan: _Plan | None = None
    changes: dict[str, bytes | None] = field(default_factory=dict)  # for the commit

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
            tip = store.repo.references.get(f"refs/heads/{self.views_branch}")
            views_tree = tip.peel(pygit2.Commit).tree if tip is not None else None
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
            state.last_key = actual.key
        gens[str(commit.id)] = gen
        if self.plan is not None:
            if self.views_branch is None:
                # Recorded only if the commit holds exactly the files computed here.
                base = head.tree if head is not None else None
                expected = store.repo[store.write_tree(base, self.changes)]
                ok = _cumulative_id(expected) == _cumulative_id(commit.tree)
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
    snapshots: Mapping[str, Playlist] | None = None,
    record: RunRecord | None = None,
) -> tuple[dict[str, bytes | None], PendingState]:
    """Cumulative files for a commit of ``snapshot_tree`` at ``when``, made next on HEAD.

    ``snapshots`` (JSON blob id -> Playlist) are the new snapshots the caller already
    holds in memory; they are not read back and parsed again.

    Syncs the state to HEAD (incrementally), treats ``snapshot_tree`` as one more
    commit at ``when`` (epoch seconds, UTC offset minutes), and returns the
    cumulative files that differ from HEAD's — to be committed together with the
    snapshots — and a PendingState whose ``save(commit)`` persists the state. With a
    views branch configured nothing is returned for the commit; ``save`` publishes.
    Only playlists whose view changed are rendered (see ``_plan``).
    """
    tz = timezone_setting(store, timezone)
    branch = views_branch_setting(store, views_branch)
    synced = sync(store)
    head = synced.head
    reader = EventReader(store.repo)
    gen = 1 + (synced.gens.get(str(head.id), 0) if head is not None else 0)
    tree = store.repo[snapshot_tree].peel(pygit2.Tree)
    event = reader.pseudo_event(
        head.tree if head is not None else None, tree, when[0], gen, record
    )
    if event is not None:
        last = synced.state.last_key
        if last is not None and event.key <= last:
            # Committed before the newest event (clock skew): replay it all in order.
            gens: dict[str, int] = {}
            events = _all_events(store, head, gens) if head is not None else []
            state = _fresh_state(synced.state.links)
            problems = _replay(
                store, state, sorted_events([*events, event]), _no_progress, snapshots
            )
            synced = Synced(state, gens, head, problems, full=True)
        else:
            synced.problems.extend(
                _replay(store, synced.state, [event], _no_progress, snapshots)
            )
    has_snapshots = head is not None or event is not None
    final_newline = settings.final_newline(store) if has_snapshots else True
    plan = _plan(store, synced.state, branch=branch, timezone=tz,
                 githistory_base=githistory_base, final_newline=final_newline, only=None)
    fmt = DateFormatter(get_timezone(tz))
    rendered = _render(synced.state, plan.wanted, fmt, githistory_base, final_newline)
    if branch is not None:
        files = _differing(store, plan.base, rendered) if plan.incremental else dict(rendered)
        if plan.incremental:
            files.update(_stale(store, plan.base, synced.state, incremental=True))
        return {}, PendingState(store, synced, event, when, branch, files, plan)
    base = head.tree if head is not None else None
    changes = _differing(store, base, rendered)
    changes.update(_stale(store, base, synced.state, plan.incremental))
    return changes, PendingState(store, synced, event, when, None, {}, plan, changes)
