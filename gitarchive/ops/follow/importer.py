"""An update of one source: fetch, plan, write the side commits, merge them in one commit.

Idempotent: each playlist's newest imported version time is committed with the
definition, a version is imported only when newer, and only when its blobs differ
from what the side history already holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

import pygit2

from gitarchive.archive import layout, registry, settings
from gitarchive.archive.render import plural
from gitarchive.archive.snapshots import ParseCache, parse_json_snapshot, parse_plain_snapshot
from gitarchive.errors import FollowError, SnapshotError
from gitarchive.git.identity import commit_time, signature
from gitarchive.git.store import Store, blob_data
from gitarchive.git.trust import unverified_reads
from gitarchive.history.events import KIND_JSON, KIND_PLAIN
from gitarchive.history.views import get_timezone
from gitarchive.ops.follow.plan import (
    FILES,
    Blobs,
    Plan,
    Reader,
    local_run_days,
    plan_import,
)
from gitarchive.ops.follow.sidetree import Objects, SideTree
from gitarchive.ops.follow.sources import ALL, Source, follow_path, save_state
from gitarchive.ops.follow.transfer import fetch_source
from gitarchive.progress import CountFn, ProgressFn, no_count, no_progress


@dataclass
class UpdateResult:
    """What one source's update did, for the summary and the tests."""

    name: str
    tip: str | None = None
    imported: int = 0  # side commits made
    versions: int = 0  # new versions of playlists among them
    changed_commits: int = 0  # side commits with a new version (the others: runs only)
    playlists: set[str] = field(default_factory=set)
    first: int | None = None
    last: int | None = None
    merge: str | None = None
    rewritten: bool = False
    skipped_local: list[tuple[str, str]] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> str:
        if self.error is not None:
            return f"{self.name}: {self.error}"
        parts = []
        if self.rewritten:
            parts.append("the source rewrote its history (force-push); kept everything "
                         "imported before and continued from what is still reachable")
        if self.imported:
            span = _day(self.first) if self.first == self.last else (
                f"{_day(self.first)} .. {_day(self.last)}")
            text = self.describe() + f" ({span})"
            parts.append(f"{text}; merged {self.merge[:10]}" if self.merge else text)
        else:
            parts.append("up to date")
        if self.skipped_local:
            parts.append(f"{len(self.skipped_local)} version(s) left out: the archive has its "
                         "own snapshot that day")
        if self.malformed:
            parts.append(f"{len(self.malformed)} malformed snapshot file(s) (skipped by the "
                         "history replay, as any unreadable snapshot)")
        return f"{self.name}: " + "; ".join(parts)

    def describe(self) -> str:
        """``imported 3 versions of 1 playlist and 2 runs that left it unchanged``."""
        count = len(self.playlists)
        text = (f"imported {plural(self.versions, 'version')} of "
                f"{plural(count, 'playlist')}")
        runs = self.imported - self.changed_commits
        if runs:
            them = "it" if count == 1 else "them"
            text += f" and {plural(runs, 'run')} that left {them} unchanged"
        return text


def _day(epoch: int | None) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def update(
    store: Store,
    source: Source,
    *,
    definition_changed: bool = False,
    progress: ProgressFn = no_progress,
    count: CountFn = no_count,
    require: Iterable[str] = (),
) -> UpdateResult:
    """Fetch ``source`` and import its new versions; one merge commit on the branch.

    ``definition_changed``: commit the definition even when nothing is imported (a new
    source, new playlists). ``require``: playlists that must have a version in the
    source's history (a first follow), else FollowError and nothing committed.
    """
    result = UpdateResult(source.name)
    tip = fetch_source(store, source, count)
    result.tip = str(tip.id)
    zone = _zone(store)
    ours = store.head()
    with unverified_reads():
        local = local_run_days(store, ours, source, zone) if ours is not None else {}
        plan = plan_import(
            store, source, tip, since=source.since, local_days=local,
            day_of=lambda t: datetime.fromtimestamp(t, zone).strftime("%Y-%m-%d"),
            progress=progress,
        )
    result.rewritten = plan.rewritten
    result.skipped_local = plan.skipped_local
    missing = [
        pid for pid in require
        if pid not in source.imported and not any(pid in v.files for v in plan.versions)
        and not any(p == pid for p, _ in plan.skipped_local)
    ]
    if missing:
        raise FollowError(
            f"{source.name} has no snapshot of {', '.join(missing)} in its history"
            + (" since the given date" if source.since is not None else "")
            + "; nothing was followed"
        )
    with unverified_reads():
        side = _import(store, source, plan, result)
    if side is not None or definition_changed:
        _merge(store, source, side, result)
    wanted = ALL if source.playlists is None else sorted(source.playlists)
    save_state(store, source.name, {"last": str(tip.id), "covered": wanted,
                                     "updated": commit_time()[0]})
    return result


def _zone(store: Store) -> tzinfo:
    return get_timezone(settings.timezone(store))


def _import(
    store: Store, source: Source, plan: Plan, result: UpdateResult
) -> pygit2.Oid | None:
    """Write the side commits (one per source commit that matters); returns the new tip."""
    repo = store.repo
    parent = pygit2.Oid(hex=source.side) if source.side else None
    side_tree = repo[parent].peel(pygit2.Commit).tree if parent is not None else None
    objects = Objects()
    builder = SideTree(repo, side_tree, objects)
    cache = ParseCache()
    checked: set[pygit2.Oid] = set()
    for version in plan.versions:
        commit = version.commit
        when = commit.commit_time
        # The blob check: a version whose files the side history already holds (a
        # source rewritten to the same content, say) is no new version.
        version.files = {
            pid: blobs for pid, blobs in version.files.items() if builder.blobs(pid) != blobs
        }
        if not version.files and not (version.run and version.observed):
            continue
        result.changed_commits += bool(version.files)
        for pid, blobs in version.files.items():
            builder.set_playlist(pid, blobs)
            _check(repo, pid, blobs, commit, cache, checked, result.malformed)
            result.playlists.add(pid)
            result.versions += 1
        for pid in set(version.files) | version.observed:
            source.imported[pid] = when
        builder.set_registry(version.observed)
        if version.run:
            builder.observe(source.name, commit.id)
        tree = builder.write()
        subject = commit.message.splitlines()[0] if commit.message.strip() else ""
        what = ", ".join(sorted(version.files)) or "a run observing " + ", ".join(
            sorted(version.observed))
        message = (
            f"Follow {source.name}: {what}\n\n"
            f"Imported from {source.name} commit {commit.id}"
            + (f" ({subject})" if subject else "") + "\n"
        )
        parent = objects.commit(
            tree, [parent] if parent is not None else [], commit, message
        )
        result.imported += 1
        result.first = when if result.first is None else min(result.first, when)
        result.last = when if result.last is None else max(result.last, when)
    objects.flush(repo)
    return parent if result.imported else None


def _check(
    repo: pygit2.Repository, pid: str, blobs: Blobs, commit: pygit2.Commit,
    cache: ParseCache, checked: set[pygit2.Oid], malformed: list[str],
) -> None:
    """Record a snapshot file the history replay will not be able to read."""
    for index, kind in ((1, KIND_JSON), (0, KIND_PLAIN)):
        oid = blobs[index]
        if oid is None or oid in checked:
            continue
        checked.add(oid)
        try:
            if kind == KIND_JSON:
                parse_json_snapshot(pid, blob_data(repo, oid), cache)
            else:
                parse_plain_snapshot(pid, blob_data(repo, oid))
        except (SnapshotError, ValueError) as exc:
            path = layout.pretty_json_path(pid) if kind == KIND_JSON else layout.plain_path(pid)
            malformed.append(f"{str(commit.id)[:12]}: {path}: {exc}")


def _merge(
    store: Store, source: Source, side: pygit2.Oid | None, result: UpdateResult
) -> None:
    """One commit on the branch: the side history's files (merged), and the definition."""
    repo = store.repo
    ours = store.head()
    if side is not None:
        source.side = str(side)
    index = pygit2.Index()
    if ours is not None:
        index.read_tree(ours.tree)
    local = set(registry.load(store)[0]) if ours is not None else set()
    changed: list[str] = []
    if side is not None:
        side_tree = repo[side].peel(pygit2.Commit).tree
        reader = Reader(repo)
        dirs = reader.dirs(side_tree)
        for pid in sorted(result.playlists):
            if pid in local:
                continue  # fetched here too: its own files stay (see the module's docstring)
            for (directory, name), oid in zip(FILES, reader.blobs(dirs, pid), strict=True):
                path = f"{layout.ROOT}/{directory}/{name(pid)}"
                _index_set(index, path, oid)
                changed.append(path)
    definition = repo.create_blob(source.to_bytes())
    _index_set(index, follow_path(source.name), definition)
    changed.append(follow_path(source.name))
    tree = index.write_tree(repo)
    if ours is not None and tree == ours.tree_id and side is None:
        return
    dirty = store.dirty_paths(changed) if ours is not None else []
    if dirty:
        raise FollowError(
            f"uncommitted changes to files this update would write: {', '.join(dirty[:5])}. "
            "Commit or discard them first; nothing was merged"
        )
    if side is not None:
        message = (
            f"Merge followed {source.name}: {result.describe()}\n\n"
            + "".join(f"- {pid}\n" for pid in sorted(result.playlists))
        )
    else:
        message = f"Follow {source.name}\n"
    parents = ([ours.id] if ours is not None else []) + ([side] if side is not None else [])
    sig = signature(repo)
    oid = repo.create_commit(None, sig, signature(repo, role="AUTHOR"), message, tree, parents)
    branch = store.branch_ref
    store.move_branch(branch, ours.id if ours is not None else None, oid, message)
    result.merge = str(oid)


def _index_set(index: pygit2.Index, path: str, oid: pygit2.Oid | None) -> None:
    if oid is None:
        if path in index:
            index.remove(path)
    else:
        index.add(pygit2.IndexEntry(path, oid, pygit2.enums.FileMode.BLOB))


