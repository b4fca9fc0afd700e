"""The registry: which playlists an archive follows (``playlists/registry/<id>``).

Read from the tree of HEAD, so bare server repositories work and a user's
uncommitted edits never change what a run does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gitarchive.archive import layout
from gitarchive.archive.layout import RegistryEntry
from gitarchive.errors import RegistryError
from gitarchive.git.store import Store, TreeReader, blob_data


@dataclass(frozen=True)
class RegistryProblem:
    """A registry file that cannot be used; reported, never deleted."""

    path: str
    reason: str

    @property
    def pid(self) -> str:
        """The file's name: a playlist ID, if the name is right."""
        return self.path.rsplit("/", 1)[-1]


def unusable(problems: Iterable[RegistryProblem]) -> dict[str, str]:
    """The playlists whose registry file is there but unusable, with why: still registered
    till it is mended (a run names them failed, index.md keeps them, status lists them)."""
    return {p.pid: p.reason for p in problems if layout.is_playlist_id(p.pid)}


def load(store: Store) -> tuple[dict[str, RegistryEntry], list[RegistryProblem]]:
    """Registered playlists by ID at HEAD, and the registry files that are malformed."""
    return load_tree(store.reader())


def load_tree(tree: TreeReader) -> tuple[dict[str, RegistryEntry], list[RegistryProblem]]:
    """The registry of any tree (a merge result, a pushed commit ...)."""
    entries: dict[str, RegistryEntry] = {}
    problems: list[RegistryProblem] = []
    for name, oid in sorted(tree.listing(layout.REGISTRY).items()):
        try:
            entries[name] = RegistryEntry.from_bytes(name, blob_data(tree.repo, oid))
        except RegistryError as exc:
            problems.append(RegistryProblem(layout.registry_path(name), str(exc)))
    return entries, problems


def add(
    store: Store, refs: list[str], alias: str | None = None, *, when: tuple[int, int] | None = None
) -> list[str]:
    """Register playlists (ID, URL or URI) in one commit; returns the IDs newly registered.

    Raises ValueError (nothing committed) when any reference is not a playlist.
    """
    pids = [layout.parse_playlist_ref(ref) for ref in refs]
    if alias is not None:
        if len(pids) != 1:
            raise RegistryError("--alias names one playlist; register the others separately")
        alias = layout.check_alias(alias)
    current, _ = load(store)
    changed = [pid for pid in dict.fromkeys(pids) if current.get(pid) != RegistryEntry(pid, alias)]
    if changed:
        verb = "Register" if all(pid not in current for pid in changed) else "Update registry:"
        store.commit(
            {layout.registry_path(pid): RegistryEntry(pid, alias).to_bytes() for pid in changed},
            f"{verb} {', '.join(changed)}",
            when=when,
        )
    return changed


def remove(store: Store, ref: str) -> str:
    """Unregister a playlist; its snapshots and history stay. Returns the ID."""
    pid = layout.parse_playlist_ref(ref)
    current, _ = load(store)
    if pid not in current:
        raise RegistryError(f"{pid} is not registered in this archive")
    store.commit({layout.registry_path(pid): None}, f"Unregister {pid}")
    return pid
