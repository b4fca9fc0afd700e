"""Merging an archive branch with the remote's, by rule instead of by text.

Machines that fetch different playlists (``--shard``) touch different files, so
their histories merge without conflict. Where both sides changed the same
archive file, a textual merge would invent a snapshot nobody fetched, so each
path is decided by a rule:

- a playlist's snapshot files (plain, pretty JSON and markdown) come as a set from
  the side whose latest commit touching them is newer (ties: the remote's, which
  others may already have);
- follower histories are dated counts: both sides' days are kept (the newer side
  wins a day both recorded);
- ``index.md`` is regenerated from the merged registry and snapshots; cumulative
  views are taken from either side and then rebuilt from history by the caller;
- any other path both sides changed: the newer side's version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pygit2
from pygit2.enums import FileMode, SortMode

from gitarchive import safejson
from gitarchive.archive import layout, registry
from gitarchive.archive.index import archive_names, index_file
from gitarchive.archive.model import Playlist, dump_json
from gitarchive.errors import SnapshotError
from gitarchive.git.store import Store, TreeReader, blob_at, blob_data

SNAPSHOT_DIRS = (layout.PLAIN, layout.PRETTY)


@dataclass
class MergeResult:
    """The merged tree and what the rules decided, for the commit message and tests."""

    tree: pygit2.Oid
    decided: dict[str, str] = field(default_factory=dict)  # path -> "ours"/"theirs"/rule


def merge_branches(store: Store, ours: pygit2.Commit, theirs: pygit2.Commit) -> MergeResult:
    """The tree of ``ours`` merged with ``theirs`` (neither an ancestor of the other)."""
    repo = store.repo
    base_id = repo.merge_base(ours.id, theirs.id)
    base_tree = repo[base_id].peel(pygit2.Commit).tree if base_id is not None else None
    mine = changed_paths(base_tree, ours.tree)
    other = changed_paths(base_tree, theirs.tree)
    newer = _Newest(repo, base_id)
    index = repo.merge_trees(
        base_tree if base_tree is not None else repo[repo.TreeBuilder().write()],
        ours.tree, theirs.tree,
    )
    result = MergeResult(tree=pygit2.Oid(raw=b"\0" * 20))

    def take(path: str, side: pygit2.Commit, why: str) -> None:
        _set(index, path, blob_at(side.tree, path))
        result.decided[path] = why

    both = sorted(set(mine) & set(other))
    snapshot_pids = {pid for path in both if (pid := _snapshot_pid(path)) is not None}
    for pid in sorted(snapshot_pids):
        paths = [layout.plain_path(pid), layout.pretty_json_path(pid), layout.pretty_md_path(pid)]
        winner = _pick(newer, ours, theirs, paths)
        for path in paths:
            take(path, winner, f"snapshot of {pid}: {'ours' if winner == ours else 'theirs'}")
    for path in both:
        if _snapshot_pid(path) is not None or path == layout.INDEX:
            continue
        if path.startswith(layout.FOLLOWERS + "/"):
            winner = _pick(newer, ours, theirs, [path])
            loser = theirs if winner == ours else ours
            merged = _merge_followers(repo, winner.tree, loser.tree, path)
            _set(index, path, repo.create_blob(merged) if merged is not None else None)
            result.decided[path] = "followers: union"
        elif path.startswith(layout.CUMULATIVE + "/"):
            take(path, ours, "derived: rebuilt after the merge")
        else:
            winner = _pick(newer, ours, theirs, [path])
            take(path, winner, "newer side")
    leftover = [c for c in _conflict_paths(index) if c not in result.decided]
    for path in leftover:  # conflicts outside paths both changed (renames, modes): newer side
        take(path, _pick(newer, ours, theirs, [path]), "newer side")
    tree = index.write_tree(repo)
    tree = _with_index_file(store, tree)
    result.tree = tree
    return result


# ---------------------------------------------------------------- the rules


class _Newest:
    """Commit time of the newest commit on a side (since the merge base) that touched paths."""

    def __init__(self, repo: pygit2.Repository, base: pygit2.Oid | None) -> None:
        self.repo = repo
        self.base = base

    def time(self, tip: pygit2.Commit, paths: list[str]) -> int:
        walker = self.repo.walk(tip.id, SortMode.TIME)
        if self.base is not None:
            walker.hide(self.base)
        for commit in walker:
            parent_tree = commit.parents[0].tree if commit.parents else None
            if any(blob_at(commit.tree, p) != blob_at(parent_tree, p) for p in paths):
                return commit.commit_time
        return -1


def _pick(
    newer: _Newest, ours: pygit2.Commit, theirs: pygit2.Commit, paths: list[str]
) -> pygit2.Commit:
    return ours if newer.time(ours, paths) > newer.time(theirs, paths) else theirs


def _snapshot_pid(path: str) -> str | None:
    directory, _, name = path.rpartition("/")
    if directory not in SNAPSHOT_DIRS:
        return None
    pid = name.split(".", 1)[0]
    return pid if layout.is_playlist_id(pid) else None


def _merge_followers(
    repo: pygit2.Repository, winner: pygit2.Tree, loser: pygit2.Tree, path: str
) -> bytes | None:
    """Both sides' dated follower counts; the winner's count for a day both have."""
    days: dict[str, int] = {}
    present = False
    for tree in (loser, winner):
        oid = blob_at(tree, path)
        if oid is None:
            continue
        present = True
        try:
            loaded = safejson.loads(blob_data(repo, oid))
        except ValueError:
            continue
        if isinstance(loaded, dict):
            days.update({d: n for d, n in loaded.items() if isinstance(n, int)})
    if not present:
        return None
    return dump_json(dict(sorted(days.items()))).encode()


def _with_index_file(store: Store, tree_id: pygit2.Oid) -> pygit2.Oid:
    """Regenerate playlists/index.md from the merged registry and snapshots."""
    repo = store.repo
    tree = repo[tree_id].peel(pygit2.Tree)
    reader = TreeReader(repo, tree)
    entries, bad = registry.load_tree(reader)
    # A playlist whose registry file is unusable stays listed till it is mended, under
    # its snapshot's name, as a run lists it (ops/fetch.py).
    entries = {pid: layout.RegistryEntry(pid) for pid in registry.unusable(bad)} | entries
    known: dict[str, Playlist] = {}
    for pid in entries:
        data = reader.read(layout.pretty_json_path(pid))
        if data is None:
            continue
        try:
            known[pid] = Playlist.from_json(data)
        except SnapshotError:
            continue
    if not known and reader.blob_id(layout.INDEX) is None:
        return tree_id
    content = index_file(known, archive_names(entries, known))
    return store.write_tree(tree, {layout.INDEX: content})


# ------------------------------------------------------------ tree plumbing


def changed_paths(old: pygit2.Tree | None, new: pygit2.Tree) -> dict[str, pygit2.Oid | None]:
    """Paths whose blob differs between two trees: path -> new blob (None: deleted)."""
    diff = new.diff_to_tree(old, swap=True) if old is not None else new.diff_to_tree(swap=True)
    changed: dict[str, pygit2.Oid | None] = {}
    for delta in diff.deltas:
        if delta.status == pygit2.enums.DeltaStatus.DELETED:
            changed[delta.old_file.path] = None
        else:
            changed[delta.new_file.path] = delta.new_file.id
            if delta.old_file.path != delta.new_file.path:
                changed[delta.old_file.path] = None
    return changed


def _conflict_paths(index: pygit2.Index) -> list[str]:
    if index.conflicts is None:
        return []
    paths = set()
    for ancestor, ours, theirs in index.conflicts:
        for entry in (ancestor, ours, theirs):
            if entry is not None:
                paths.add(entry.path)
    return sorted(paths)


def _set(index: pygit2.Index, path: str, oid: pygit2.Oid | None) -> None:
    """Resolve ``path`` in the merge index to a blob, or to absent."""
    if index.conflicts is not None and path in _conflict_paths(index):
        del index.conflicts[path]
    if oid is None:
        if path in index:
            index.remove(path)
    else:
        index.add(pygit2.IndexEntry(path, oid, FileMode.BLOB))

