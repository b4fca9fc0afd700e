"""What the ``follow`` and ``unfollow`` commands do: define, update, drop and list sources."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pygit2

from gitarchive.archive import layout
from gitarchive.errors import FollowError
from gitarchive.git.store import Store
from gitarchive.ops.follow.importer import UpdateResult, update
from gitarchive.ops.follow.plan import Reader, pids_in
from gitarchive.ops.follow.sources import (
    Source,
    check_name,
    default_name,
    follow_path,
    load_sources,
    load_state,
    normalise_url,
    state_path,
)
from gitarchive.ops.follow.transfer import fetch_source
from gitarchive.progress import CountFn, ProgressFn, no_count, no_progress
from gitarchive.redact import redact


def add_source(
    store: Store,
    url_or_path: str,
    *,
    name: str | None = None,
    playlists: Iterable[str] = (),
    all_playlists: bool = False,
    since: int | None = None,
    depth: int | None = None,
    progress: ProgressFn = no_progress,
    count: CountFn = no_count,
) -> UpdateResult:
    """``gitarchive follow``: define (or extend) a source, then update it at once."""
    url = normalise_url(url_or_path)
    pids = [layout.parse_playlist_ref(p) for p in playlists]
    if not pids and not all_playlists:
        raise FollowError("name the playlists to follow with --playlist, or give --all")
    if pids and all_playlists:
        raise FollowError("--playlist and --all exclude each other")
    sources = load_sources(store)
    same_url = [s for s in sources.values() if s.url == url]
    if name is not None:
        check_name(name)
        existing = sources.get(name)
        if existing is not None and existing.url != url:
            raise FollowError(
                f"a source named '{name}' already follows {redact(existing.url)}; "
                "choose another --name"
            )
    elif same_url:
        name = same_url[0].name
    else:
        name = check_name(default_name(url))
        base, n = name, 2
        while name in sources:
            name = f"{base[:60]}-{n}"
            n += 1
    source = sources.get(name) or Source(name, url, ())
    before = source.to_bytes()
    if all_playlists:
        source.playlists = None
    elif source.playlists is not None:
        source.playlists = tuple(sorted(set(source.playlists) | set(pids)))
    new = [pid for pid in dict.fromkeys(pids) if pid not in source.imported]
    if since is not None:
        source.since = since if source.since is None else min(source.since, since)
    if depth is not None:
        tip = fetch_source(store, source, count)
        depth_since = _since_depth(tip, depth)
        source.since = depth_since if source.since is None else max(source.since, depth_since)
    return update(
        store, source, definition_changed=source.to_bytes() != before,
        progress=progress, count=count, require=new,
    )


def _since_depth(tip: pygit2.Commit, depth: int) -> int:
    """The commit time of the ``depth``-th commit back from the tip (first parents)."""
    if depth < 1:
        raise FollowError("--depth must be at least 1")
    commit = tip
    for _ in range(depth - 1):
        if not commit.parents:
            break
        commit = commit.parents[0]
    return commit.commit_time


def remove_source(store: Store, name: str) -> Source:
    """``gitarchive unfollow``: drop the definition (one commit), the ref and the local state.

    What was imported stays in the archive's history, like ``remove`` keeps snapshots.
    """
    sources = load_sources(store)
    source = sources.get(name)
    if source is None:
        known = ", ".join(sorted(sources)) or "none"
        raise FollowError(f"no followed source named '{name}' (followed: {known})")
    store.commit({follow_path(name): None}, f"Unfollow {name}")
    ref = store.repo.references.get(source.ref)
    if ref is not None:
        ref.delete()
    state_path(store, name).unlink(missing_ok=True)
    return source


def update_all(
    store: Store, *, progress: ProgressFn = no_progress, count: CountFn = no_count
) -> list[UpdateResult]:
    """Every source, one after the other; a source that fails is reported, not fatal."""
    results = []
    for source in load_sources(store).values():
        try:
            results.append(update(store, source, progress=progress, count=count))
        except FollowError as exc:
            results.append(UpdateResult(source.name, error=str(exc)))
    return results


@dataclass
class SourceStatus:
    """One line of ``follow --list``."""

    source: Source
    updated: int | None  # last update in this clone
    newest: int | None  # newest imported version
    behind: list[str]  # followed playlists whose latest fetched version is not imported
    fetched: bool


def status(store: Store) -> list[SourceStatus]:
    """Each source: last update, newest snapshot imported, playlists behind the fetched ref."""
    out = []
    for source in load_sources(store).values():
        state = load_state(store, source.name)
        ref = store.repo.references.get(source.ref)
        behind: list[str] = []
        if ref is not None:
            reader = Reader(store.repo)
            theirs = reader.dirs(ref.peel(pygit2.Commit).tree)
            side = (reader.dirs(store.repo[pygit2.Oid(hex=source.side)].peel(pygit2.Commit).tree)
                    if source.side else None)
            pids = source.playlists if source.playlists is not None else sorted(
                set(source.imported) | set(pids_in(theirs)))
            for pid in pids:
                latest = reader.blobs(theirs, pid)
                if latest == (None, None, None, None):
                    continue
                if side is None or reader.blobs(side, pid)[:2] != latest[:2]:
                    behind.append(pid)
        out.append(SourceStatus(
            source,
            state.get("updated") if isinstance(state.get("updated"), int) else None,
            max(source.imported.values()) if source.imported else None,
            behind,
            ref is not None,
        ))
    return out


