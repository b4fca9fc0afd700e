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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import pygit2

from gitarchive import history_state, layout, settings
from gitarchive.history_events import Event, EventReader, sorted_events, walk_events
from gitarchive.history_replay import HistoryState, Problem, Replayer
from gitarchive.store import Store, StoreError
from gitarchive.views import (
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
TIMEZONE_KEY = "gitarchive.timezone"


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
    return explicit if explicit else store.config(TIMEZONE_KEY)


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


def _blob_reader(repo: pygit2.Repository) -> Callable[[str], bytes]:
    def read(hex_oid: str) -> bytes:
        return repo[hex_oid].data

    return read


def _all_events(store: Store, head: pygit2.Commit, gens: dict[str, int]) -> list[Event]:
    return sorted_events(walk_events(store.repo, head.id, None, gens))


def _replay(
    store: Store, state: HistoryState, events: Sequence[Event], progress: ProgressFn
) -> list[Problem]:
    replayer = Replayer(state, _blob_reader(store.repo))
    replayer.apply_all(progress("Replaying history", events))
    return replayer.problems


def sync(store: Store, *, full: bool = False, progress: ProgressFn = _no_progress) -> Synced:
    """The state as of HEAD: the saved one plus new commits, or a replay of everything.

    The saved state is used only when it describes an ancestor of HEAD and every new
    event sorts after its last one; otherwise (rewritten history, a merged branch
    with older commits, clock skew) the whole history is replayed, so both paths
    always give the same state.
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
            problems = _replay(store, saved.state, new, progress)
            return Synced(saved.state, gens, head, problems, full=False, events=len(new))
    gens = {}
    events = _all_events(store, head, gens)
    state = HistoryState()
    problems = _replay(store, state, events, progress)
    return Synced(state, gens, head, problems, full=True, events=len(events))


def save_state(store: Store, synced: Synced) -> None:
    """Persist a synced state (the cache the next run starts from)."""
    if synced.head is not None:
        history_state.save(
            store, history_state.SavedState(str(synced.head.id), synced.gens, synced.state)
        )


# -------------------------------------------------------------------- render


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
    files: dict[str, bytes] = {}
    for pid in progress("Rendering cumulative views", wanted):
        playlist = state.playlists.get(pid)
        view = cumulative_view(playlist, fmt) if playlist is not None else None
        if view is None:
            continue
        rendered = render_files(view, githistory_base)
        if not final_newline:
            md = layout.cumulative_md_path(pid)
            rendered[md] = rendered[md].rstrip(b"\n")
        files.update(rendered)
    return files


def _differing(
    store: Store, tree: pygit2.Tree | None, files: dict[str, bytes]
) -> dict[str, bytes | None]:
    """Those of ``files`` whose content differs from ``tree``'s (compared by blob id)."""
    existing: dict[str, pygit2.Oid] = {}
    if tree is not None and layout.CUMULATIVE in tree:
        entry = tree[layout.CUMULATIVE]
        if entry.type_str == "tree":
            existing = {e.name: e.id for e in store.repo[entry.id] if e.type_str == "blob"}
    prefix = layout.CUMULATIVE + "/"
    changed: dict[str, bytes | None] = {}
    for path, content in files.items():
        name = path[len(prefix):]
        if existing.get(name) != pygit2.hash(content):
            changed[path] = content
    return changed


def publish_views(
    store: Store, branch: str, files: dict[str, bytes], source: pygit2.Commit | None
) -> pygit2.Oid | None:
    """Replace ``branch`` by one root commit holding exactly ``files``; None if unchanged."""
    ref = f"refs/heads/{branch}"
    tree_id = store.write_tree(None, files)
    current = store.repo.references.get(ref)
    if current is not None:
        tip = current.peel(pygit2.Commit)
        if tip.tree_id == tree_id:
            return None
    source_note = f" as of {str(source.id)[:12]}" if source is not None else ""
    return store.commit(
        files,
        f"Cumulative views{source_note}\n\nRebuilt by 'gitarchive rebuild'; replaced on each run.",
        ref=ref,
        parent=None,
        update_worktree=False,
    )


# ------------------------------------------------------------------- rebuild


@dataclass
class RebuildResult:
    """What ``rebuild`` did."""

    commit: pygit2.Oid | None  # on the current branch (None: nothing changed / views branch)
    views_commit: pygit2.Oid | None  # on the views branch
    views_branch: str | None
    changed: list[str]  # paths written
    playlists: int  # playlists with cumulative files
    events: int  # events replayed
    full: bool  # whole history replayed (else only new commits)
    problems: list[Problem]


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
    ``gitarchive.timezone`` / ``gitarchive.viewsBranch``.
    """
    tz = timezone_setting(store, timezone)
    get_timezone(tz)  # a bad name fails before any work
    branch = views_branch_setting(store, views_branch)
    synced = sync(store, full=full, progress=progress)
    only_ids = None if only is None else sorted(set(only))
    if only_ids is not None:
        unknown = [pid for pid in only_ids if pid not in synced.state.playlists]
        if unknown:
            raise StoreError(
                f"no snapshot of {', '.join(unknown)} anywhere in this archive's history"
            )
    files = render_all(
        synced.state,
        timezone=tz,
        githistory_base=settings.githistory_base(store) if synced.head is not None else None,
        final_newline=settings.final_newline(store) if synced.head is not None else True,
        only=only_ids,
        progress=progress,
    )
    result = RebuildResult(
        commit=None,
        views_commit=None,
        views_branch=branch,
        changed=[],
        playlists=len({p.rsplit("/", 1)[-1].rsplit(".", 1)[0] for p in files}),
        events=synced.events,
        full=synced.full,
        problems=synced.problems,
    )
    if synced.head is None:
        return result
    if branch is not None:
        if only_ids is not None:
            # The views branch always holds every playlist's files.
            files = render_all(
                synced.state,
                timezone=tz,
                githistory_base=settings.githistory_base(store),
                final_newline=settings.final_newline(store),
            )
        tip = store.repo.references.get(f"refs/heads/{branch}")
        old_tree = tip.peel(pygit2.Commit).tree if tip is not None else None
        result.changed = sorted(_differing(store, old_tree, files))
        result.views_commit = publish_views(store, branch, files, synced.head)
    else:
        changes = _differing(store, synced.head.tree, files)
        result.changed = sorted(changes)
        if changes:
            result.commit = store.commit(changes, _message(len(result.changed)))
    # The rebuild commit writes no snapshot, so it is no event: the state as of the
    # old head is the state as of the new one (its ancestor check still holds).
    save_state(store, synced)
    return result


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
    files: dict[str, bytes]  # every cumulative file, for the views branch

    def save(self, commit_oid: pygit2.Oid | str) -> bool:
        """Persist the state as of the new commit (and publish the views branch).

        The state is saved only if the commit is what ``pending_views`` assumed —
        a child of the synced HEAD at time ``when`` writing the same snapshot files;
        otherwise nothing is saved and the next run catches up from the old state.
        Returns whether it was saved.
        """
        store = self.store
        commit = store.repo[str(commit_oid)].peel(pygit2.Commit)
        if self.views_branch is not None:
            publish_views(store, self.views_branch, self.files, commit)
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
            if (actual.writes, actual.registry) != (self.event.writes, self.event.registry):
                return False
            self.synced.state.last_key = actual.key
        gens[str(commit.id)] = gen
        history_state.save(
            store, history_state.SavedState(str(commit.id), gens, self.synced.state)
        )
        return True


def pending_views(
    store: Store,
    snapshot_tree: pygit2.Oid,
    when: tuple[int, int],
    *,
    githistory_base: str | None,
    timezone: str | None = None,
    views_branch: str | None = None,
) -> tuple[dict[str, bytes | None], PendingState]:
    """Cumulative files for a commit of ``snapshot_tree`` at ``when``, made next on HEAD.

    Syncs the state to HEAD (incrementally), treats ``snapshot_tree`` as one more
    commit at ``when`` (epoch seconds, UTC offset minutes), and returns the
    cumulative files that differ from HEAD's — to be committed together with the
    snapshots — and a PendingState whose ``save(commit)`` persists the state. With a
    views branch configured nothing is returned for the commit; ``save`` publishes.
    """
    tz = timezone_setting(store, timezone)
    branch = views_branch_setting(store, views_branch)
    synced = sync(store)
    head = synced.head
    reader = EventReader(store.repo)
    gen = 1 + (synced.gens.get(str(head.id), 0) if head is not None else 0)
    tree = store.repo[snapshot_tree].peel(pygit2.Tree)
    event = reader.pseudo_event(head.tree if head is not None else None, tree, when[0], gen)
    if event is not None:
        last = synced.state.last_key
        if last is not None and event.key <= last:
            # Committed before the newest event (clock skew): replay it all in order.
            gens: dict[str, int] = {}
            events = _all_events(store, head, gens) if head is not None else []
            state = HistoryState()
            replayer = Replayer(state, _blob_reader(store.repo))
            replayer.apply_all(sorted_events([*events, event]))
            synced = Synced(state, gens, head, replayer.problems, full=True)
        else:
            replayer = Replayer(synced.state, _blob_reader(store.repo))
            replayer.apply(event)
            synced.problems.extend(replayer.problems)
    has_snapshots = head is not None or event is not None
    files = render_all(
        synced.state,
        timezone=tz,
        githistory_base=githistory_base,
        final_newline=settings.final_newline(store) if has_snapshots else True,
    )
    pending = PendingState(store, synced, event, when, branch, files if branch else {})
    if branch is not None:
        return {}, pending
    return _differing(store, head.tree if head is not None else None, files), pending
