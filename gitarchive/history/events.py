"""Commits -> snapshot events: what each commit itself wrote under the snapshot paths.

This is the git layer of the cumulative views (see replay.py for the semantics).
A commit's *own changes* are the snapshot paths whose content differs from every
parent: for an ordinary commit, its diff; for a root commit, every file; for a
clean merge, nothing (its content already came from the branches it joins); for a
merge that resolved a conflict, the resolved paths. Comparing subtree ids first
keeps the cost proportional to what changed, not to the size of the archive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from sys import intern

import pygit2

from gitarchive.archive import layout, runrecord
from gitarchive.archive.runrecord import RunRecord
from gitarchive.git.store import tree_at

# (kind, directory under playlists/): which files are snapshots.
KIND_PLAIN = "plain"
KIND_JSON = "json"
KIND_FOLLOWERS = "followers"
_DIRS = (("plain", KIND_PLAIN), ("pretty", KIND_JSON), ("followers", KIND_FOLLOWERS))
_SNAPSHOTS = _DIRS[:2]  # the files a replay reads
_FOLLOWERS = _DIRS[2:]
# The empty blob. spotify-playlist-archive registered a playlist by committing an empty
# plain file, filled by the next run: "no snapshot yet". Writing it counts as having no
# file (no snapshot, no run, no problem).
EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"

# Spotify opened on 2008-10-07: a commit dated before that was made by a clock that had
# been reset (a board without a real-time clock, run at boot before its clock was set),
# and is dated as the last commit before it that a set clock made (``dated``).
SPOTIFY_OPENED = 1_223_337_600
_RESET_CLOCK_HOPS = 100  # how far back along first parents a set clock is looked for

# Sort key of an event: (committer time, generation, commit id). The generation
# (1 + the largest generation of the parents) orders commits made in the same
# second after their ancestors whatever their ids.
EventKey = tuple[int, int, str]


@dataclass(frozen=True, slots=True)
class Write:
    """One snapshot file written by a commit: new blob id, or None when deleted.

    A whole history's events are held by both processes of a rebuild (tens of thousands
    of writes, one more each day): slots, and one ``pid`` string per playlist (``written``),
    took a real-shaped history's writes from 8.2 to 2.8 MB in each (261 x 1,000: 48,926
    writes, each with a copy of its playlist's id)."""

    kind: str
    pid: str
    blob: str | None

    def __reduce__(self) -> tuple[Callable[[str, str, str | None], Write],
                                  tuple[str, str, str | None]]:
        """Pickled as its fields (walk.py's child sends ~20,000): a dataclass's default
        form names each field in each object, twice the work. Unpickled by ``written``."""
        return written, (self.kind, self.pid, self.blob)


def written(kind: str, pid: str, blob: str | None) -> Write:
    """A write whose ``pid`` is the one string every write of that playlist holds."""
    return Write(kind, intern(pid), blob)


@dataclass(frozen=True)
class Event:
    """A commit with own snapshot changes, as the replay needs it."""

    time: int
    gen: int
    oid: str
    writes: tuple[Write, ...]
    registry: frozenset[str] | None  # registered playlists in its tree; None: no registry/
    run: bool | None = None  # set when ``writes`` is a part of the commit's (split replay;
    # a walk that leaves out followers files)
    record: RunRecord | None = None  # what the run says it fetched (None: no record)
    # False: the followers files it wrote are left out (EventReader(followers=False)).
    followers: bool = True

    @property
    def key(self) -> EventKey:
        return (self.time, self.gen, self.oid)

    @property
    def is_run(self) -> bool:
        """A run of the archiver: it wrote (not only deleted) at least one snapshot file."""
        if self.run is not None:
            return self.run
        return any(w.blob is not None for w in self.writes)

    @property
    def observed(self) -> frozenset[str] | None:
        """The playlists this run observes (None: every one with a snapshot).

        Without a record, those registered in its tree; with one, those it fetched
        (``runrecord.RunRecord.observed``): a failed fetch is not an observation.
        """
        if self.record is None:
            return self.registry
        return self.record.observed(self.registry)

    def only(self, pids: Callable[[str], bool]) -> Event:
        """The same commit with only the writes of the playlists ``pids`` accepts."""
        return replace(
            self, writes=tuple(w for w in self.writes if pids(w.pid)), run=self.is_run
        )


def _file_kind(kind: str, name: str) -> str | None:
    """The playlist id a snapshot file belongs to, or None for files that are not snapshots."""
    if kind == KIND_PLAIN:
        return name or None
    return name[: -len(".json")] if name.endswith(".json") and len(name) > 5 else None


class EventReader:
    """Reads the own snapshot changes of commits, with small caches for subtrees."""

    def __init__(self, repo: pygit2.Repository, *, followers: bool = True) -> None:
        """``followers`` False: an event that writes a snapshot file leaves out the
        followers files it wrote (``event``): a whole-history replay reads none of them,
        and a JSON-era commit writes one per playlist (a day of the 1,000-playlist
        synthetic archive: ~1,000 followers files beside ~60 snapshot files)."""
        self.repo = repo
        self.followers = followers
        self._registry_cache: dict[pygit2.Oid, frozenset[str]] = {}
        self._trees: dict[pygit2.Oid, pygit2.Tree] = {}  # each commit's dirs: its child's old

    def _tree(self, oid: pygit2.Oid) -> pygit2.Tree:
        """A tree object, kept for the next commit (a 2,000-entry directory costs to load)."""
        tree = self._trees.get(oid)
        if tree is None:
            if len(self._trees) > 32:
                self._trees.clear()
            tree = self._trees[oid] = tree_at(self.repo, oid)
        return tree

    # ------------------------------------------------------------ tree access

    def snapshot_dirs(self, tree: pygit2.Tree | None, dirs: tuple[tuple[str, str], ...] = _DIRS
                      ) -> dict[str, pygit2.Tree | None]:
        """The plain/pretty/followers subtrees of a root tree (None when absent), of
        ``dirs``' kinds (a subtree of 1,000 entries costs to load)."""
        found: dict[str, pygit2.Tree | None] = {kind: None for _, kind in dirs}
        if tree is None or layout.ROOT not in tree:
            return found
        root = tree[layout.ROOT]
        if root.type_str != "tree":
            return found
        root_tree = self._tree(root.id)
        for name, kind in dirs:
            if name in root_tree:
                entry = root_tree[name]
                if entry.type_str == "tree":
                    found[kind] = self._tree(entry.id)
        return found

    def registry(self, tree: pygit2.Tree) -> frozenset[str] | None:
        """Playlist ids registered in a tree, or None when it has no registry/ (old layout)."""
        try:
            entry = tree[layout.REGISTRY]
        except KeyError:
            return None
        if entry.type_str != "tree":
            return None
        cached = self._registry_cache.get(entry.id)
        if cached is None:
            cached = frozenset(e.name for e in tree_at(self.repo, entry.id) if e.name)
            self._registry_cache[entry.id] = cached
        return cached

    def changes(
        self, old: pygit2.Tree | None, new: pygit2.Tree | None,
        dirs: tuple[tuple[str, str], ...] = _DIRS,
    ) -> dict[tuple[str, str], str | None]:
        """Snapshot files that differ between two root trees: (kind, pid) -> new blob or None
        (of ``dirs``' kinds)."""
        old_dirs, new_dirs = self.snapshot_dirs(old, dirs), self.snapshot_dirs(new, dirs)
        found: dict[tuple[str, str], str | None] = {}
        for _, kind in dirs:
            a, b = old_dirs[kind], new_dirs[kind]
            if a is None and b is None:
                continue
            if a is not None and b is not None and a.id == b.id:
                continue
            for path, blob in _tree_diff(a, b):
                if "/" in path:
                    continue
                pid = _file_kind(kind, path)
                if pid is not None:
                    found[(kind, pid)] = None if blob == EMPTY_BLOB else blob
        return found

    # ----------------------------------------------------------------- events

    def own_writes(self, commit: pygit2.Commit, dirs: tuple[tuple[str, str], ...] = _DIRS
                   ) -> tuple[Write, ...]:
        """Snapshot files (of ``dirs``' kinds) whose content in ``commit`` differs from
        every parent's."""
        tree = commit.tree
        parents = commit.parents
        if not parents:
            own = self.changes(None, tree, dirs)
        else:
            own = self.changes(parents[0].tree, tree, dirs)
            for parent in parents[1:]:
                if not own:
                    break
                other = self.changes(parent.tree, tree, dirs)
                own = {k: v for k, v in own.items() if k in other}
        return tuple(written(kind, pid, blob) for (kind, pid), blob in sorted(own.items()))

    def event(self, commit: pygit2.Commit, gen: int) -> Event | None:
        """The event of a commit, or None when it wrote no snapshot file.

        Without ``followers``, one that writes a plain or JSON snapshot is a run
        (``Event.is_run``) whatever its followers files, which are left out; any other
        (followers files alone, or only deletions) is read whole, so the events are the
        same commits, in the same order, with the same runs."""
        lean = False
        if self.followers:
            writes = self.own_writes(commit)
        else:
            writes = self.own_writes(commit, _SNAPSHOTS)
            lean = any(w.blob is not None for w in writes)
            if not lean:  # its followers files too; their kind sorts first, as own_writes'
                writes = self.own_writes(commit, _FOLLOWERS) + writes
        if not writes:
            return None
        return Event(
            time=dated(commit),
            gen=gen,
            oid=str(commit.id),
            writes=writes,
            registry=self.registry(commit.tree),
            record=runrecord.parse(commit.message),
            run=True if lean else None,
            followers=not lean,
        )

    def pseudo_event(
        self, base: pygit2.Tree | None, tree: pygit2.Tree, time: int, gen: int,
        record: RunRecord | None = None,
    ) -> Event | None:
        """The event a commit of ``tree`` on top of ``base`` at ``time`` would have."""
        own = self.changes(base, tree)
        if not own:
            return None
        writes = tuple(written(kind, pid, blob) for (kind, pid), blob in sorted(own.items()))
        # The id is unknown before committing; the generation alone orders it after
        # every ancestor with the same time, so "" never decides anything.
        return Event(time=time, gen=gen, oid="", writes=writes, registry=self.registry(tree),
                     record=record)


def dated(commit: pygit2.Commit) -> int:
    """The time a commit is dated in history: its committer time, unless a reset clock made
    it (before Spotify existed); then that of the nearest first-parent ancestor a set
    clock made (within ``_RESET_CLOCK_HOPS``), else its own. Read from the commits
    alone, so every replay, whole or incremental, dates it the same."""
    when = commit.commit_time
    if when >= SPOTIFY_OPENED:
        return when
    ancestor = commit
    for _ in range(_RESET_CLOCK_HOPS):
        try:
            ancestor = ancestor.parents[0]
        except (IndexError, KeyError, pygit2.GitError):  # a root, or cut off (shallow)
            return when
        if ancestor.commit_time >= SPOTIFY_OPENED:
            return ancestor.commit_time
    return when


def _tree_diff(
    old: pygit2.Tree | None, new: pygit2.Tree | None
) -> Iterator[tuple[str, str | None]]:
    """(path, new blob id or None) for each file that differs between two trees."""
    if new is None:
        for entry in old or ():
            if entry.name is not None:
                yield entry.name, None
        return
    diff = new.diff_to_tree(swap=True) if old is None else old.diff_to_tree(new)
    for delta in diff.deltas:
        # status_char, not status: that makes an enum member (a Python call) each time it
        # is read, twice per delta; a day of 1,000 JSON playlists has ~3,000 deltas.
        status = delta.status_char()
        if status == "D":
            yield delta.old_file.path, None
        else:
            if status == "R":
                yield delta.old_file.path, None
            file = delta.new_file
            yield file.path, str(file.id)


def walk_events(
    repo: pygit2.Repository,
    tip: pygit2.Oid,
    stop: pygit2.Oid | None,
    gens: dict[str, int],
    reader: EventReader | None = None,
) -> Iterator[Event]:
    """Events of the commits reachable from ``tip`` but not ``stop``, in walk order.

    ``gens`` holds the generation of every commit already known and is extended
    with the new ones (callers persist it so an incremental run can number the
    children of old commits).
    """
    reader = reader or EventReader(repo)
    walker = repo.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    if stop is not None:
        walker.hide(stop)
    for commit in walker:
        gen = 1 + max((gens.get(str(p), 0) for p in commit.parent_ids), default=0)
        gens[str(commit.id)] = gen
        event = reader.event(commit, gen)
        if event is not None:
            yield event


def sorted_events(events: Iterable[Event]) -> list[Event]:
    return sorted(events, key=lambda e: e.key)
