"""Cumulative views rendered from the state and published: onto the archive's branch
(with a commit) or as one root commit on a views branch, replaced on each run.

Only playlists whose view may have changed since the last rendering are rendered
(``plan_views``); a large rendering runs on both cores (parallel.in_halves).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import pygit2

from gitarchive import collector
from gitarchive.archive import layout
from gitarchive.git.identity import signature
from gitarchive.git.packwriter import Content, content_id
from gitarchive.git.store import Store, TreeReader
from gitarchive.history.parallel import in_halves, two_cores
from gitarchive.history.state import HistoryState
from gitarchive.history.timeline_record import RenderFn
from gitarchive.history.views import (
    VIEWS_VERSION,
    DateFormatter,
    cumulative_view,
    get_timezone,
    render_files,
)
from gitarchive.progress import ProgressFn, no_progress

PARALLEL_MIN_VIEWS = 200  # this many views are rendered half here, half in a forked process

# A rendered playlist: (path, content) of its cumulative files.
Files = list[tuple[str, bytes]]
C = TypeVar("C", bound=Content)  # files' content: bytes, or bytes and blobs written already


def render_views(
    state: HistoryState,
    pids: Sequence[str],
    fmt: DateFormatter,
    githistory_base: str | None,
    final_newline: bool,
    progress: ProgressFn = no_progress,
) -> Iterator[tuple[str, bytes]]:
    """(path, content) of the cumulative files of ``pids`` (in no particular order)."""
    label = "Rendering cumulative views"
    if len(pids) < PARALLEL_MIN_VIEWS or not two_cores():
        yield from _render_in_order(state, progress(label, pids), fmt, githistory_base,
                                    final_newline)
        return

    def render(some: Iterable[str]) -> Iterator[tuple[str, Files]]:
        for pid in some:  # one message per playlist, as each is rendered
            yield pid, list(_render_in_order(state, [pid], fmt, githistory_base, final_newline))

    for _, files in in_halves(pids, render, str, shown=lambda half: progress(label, half)):
        yield from files


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


def renderer(fmt: DateFormatter, githistory_base: str | None, final_newline: bool
             ) -> RenderFn:
    """Renders the views of some playlists of a state (each half of a split replay does)."""

    def render(state: HistoryState, pids: list[str]) -> dict[str, Files]:
        with collector.paused():  # ~1M short-lived objects, no cycle: ~3 % of the views' work
            return {pid: list(_render_in_order(state, [pid], fmt, githistory_base,
                                               final_newline))
                    for pid in pids}

    return render


def render_all(
    state: HistoryState,
    *,
    timezone: str | None,
    githistory_base: str | None,
    final_newline: bool = True,
    only: Iterable[str] | None = None,
    progress: ProgressFn = no_progress,
) -> dict[str, bytes]:
    """Every cumulative file of the observed playlists (or of ``only``): path -> content."""
    fmt = DateFormatter(get_timezone(timezone))
    wanted = sorted(state.playlists) if only is None else sorted(set(only))
    return dict(render_views(state, wanted, fmt, githistory_base, final_newline, progress))


def differing(
    store: Store, tree: pygit2.Tree | None, files: Iterable[tuple[str, C]]
) -> dict[str, C | None]:
    """Those of ``files`` whose content differs from ``tree``'s (compared by blob id).

    Consumes ``files`` lazily, so unchanged contents are dropped as they are made.
    """
    existing = TreeReader(store.repo, tree).listing(layout.CUMULATIVE)
    prefix = len(layout.CUMULATIVE) + 1
    return {
        path: content
        for path, content in files
        if existing.get(path[prefix:]) != content_id(content)
    }


def stale(
    store: Store, tree: pygit2.Tree | None, state: HistoryState, incremental: bool,
    viewed: Mapping[str, bool] | None = None,
) -> dict[str, bytes | None]:
    """Cumulative files in ``tree`` of playlists that have no view any more: deleted.

    A rename moves a playlist's history to its new ID and an unlink takes a copied
    history away; their old files would otherwise stay forever. Incrementally only
    the playlists marked ``view_dirty`` can have lost their view. ``viewed``: whether
    some playlists have one, known without reading them (left on disk: Synced.viewed).
    """
    existing = TreeReader(store.repo, tree).listing(layout.CUMULATIVE)
    if not existing:
        return {}
    owners: dict[str, list[str]] = {}
    for name in existing:
        owners.setdefault(name.rsplit(".", 1)[0], []).append(f"{layout.CUMULATIVE}/{name}")
    pids = state.view_dirty & owners.keys() if incremental else owners.keys()
    found: dict[str, bytes | None] = {}
    known = viewed or {}
    for pid in sorted(pids):
        if pid in known:
            if not known[pid]:
                found.update(dict.fromkeys(owners[pid]))
            continue
        playlist = state.playlists.get(pid)
        if playlist is None or playlist.first_run is None:
            found.update(dict.fromkeys(owners[pid]))
    return found


def cumulative_id(tree: pygit2.Tree | None) -> str:
    if tree is None or layout.CUMULATIVE not in tree:
        return ""
    return str(tree[layout.CUMULATIVE].id)


@dataclass(frozen=True)
class ViewsPlan:
    """Which playlists to render, against what, and how to record the result."""

    target: str  # "branch:<ref>" or "views:<name>"
    settings: str  # everything besides the state that the files depend on
    base: pygit2.Tree | None  # the tree the files are compared with / written onto
    incremental: bool  # base holds the files of every playlist not in state.view_dirty
    wanted: list[str]

    def record(self, state: HistoryState, new_tree: pygit2.Tree | None, complete: bool) -> None:
        """After the files were committed: remember what ``new_tree`` holds."""
        state.view_dirty.difference_update(self.wanted)
        state.view_dirty.intersection_update(state.playlists)  # a renamed one's files: gone
        ok = complete or self.incremental
        state.views = (self.target, self.settings, cumulative_id(new_tree)) if ok else None


def plan_views(
    store: Store,
    state: HistoryState,
    *,
    branch: str | None,
    timezone: str | None,
    githistory_base: str | None,
    final_newline: bool,
    only: list[str] | None,
) -> ViewsPlan:
    """Render only the playlists whose view changed when the base holds our last rendering.

    The files depend on the state and on the settings (and the views' code); they
    were last written, with ``state.views``' settings, into the cumulative tree
    recorded there. If the base still has that tree and the settings are the same,
    only ``state.view_dirty`` can differ; otherwise (settings changed, files edited
    by hand, a new or rewritten history) every playlist is rendered.
    """
    if branch is not None:
        target = f"views:{branch}"
        base = store.branch_tree(branch)
    else:
        target = f"branch:{store.branch_ref_or_none()}"
        head = store.head()
        base = head.tree if head is not None else None
    key = repr((VIEWS_VERSION, timezone or "UTC", githistory_base, final_newline))
    incremental = state.views == (target, key, cumulative_id(base))
    if only is not None and not (branch is not None and not incremental):
        wanted = only
    elif incremental:
        wanted = sorted(pid for pid in state.view_dirty if pid in state.playlists)
    else:
        wanted = sorted(state.playlists)
    return ViewsPlan(target, key, base, incremental, wanted)


def publish_views(
    store: Store,
    branch: str,
    files: Mapping[str, Content | None],
    source: pygit2.Commit | None,
    base: pygit2.Tree | None = None,
    *,
    what: str = "Cumulative views",
    by: str = "Rebuilt by 'gitarchive rebuild'",
) -> pygit2.Oid | None:
    """Replace ``branch`` by one root commit holding ``base`` + ``files``; None if unchanged.

    ``base`` None: exactly ``files`` (a full rendering); else the previous tip's tree
    with the changed files, so a daily run writes only those. ``what`` and ``by`` word
    the commit message (the static site publishes its branch the same way).
    """
    ref = f"refs/heads/{branch}"
    repo = store.repo
    tree_id = store.write_tree(base, files)
    current = store.branch_tip(branch)
    current_id = current.id if current is not None else None
    if current is not None and current.tree_id == tree_id:
        return None
    source_note = f" as of {str(source.id)[:12]}" if source is not None else ""
    message = f"{what}{source_note}\n\n{by}; replaced on each run."
    sig = signature(repo)
    oid = repo.create_commit(None, sig, sig, message, tree_id, [])
    store.move_branch(ref, current_id, oid, message, update_worktree=False)
    return oid

