"""The archive's git repository, through pygit2 only (no ``git`` subprocess).

Reads go to the tree of a commit (HEAD by default), never to the working tree, so
a bare server repository and a checkout behave the same. Writes build blobs and
trees in the object database, create the commit, and only then move the branch:
a run killed at any moment leaves the previous commit intact.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

import pygit2

from gitarchive.errors import DirtyWorktreeError, StoreError
from gitarchive.git import opening, packwriter, worktree
from gitarchive.git.identity import config_get, signature

DEFAULT_BRANCH = "main"

FILE_MODE = pygit2.GIT_FILEMODE_BLOB
TREE_MODE = pygit2.GIT_FILEMODE_TREE


# A directory level of write_tree: name -> blob id, None (delete) or the level below.
_Level = dict[str, "pygit2.Oid | None | _Level"]

# Changes to commit: path -> new content (or the blob it is stored in), None: delete the path.
Changes = Mapping[str, packwriter.Content | None]


class Store:
    """One archive repository."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if pygit2.discover_repository(str(path)) is None:
            raise StoreError(f"{path} is not inside a git repository; run 'gitarchive init "
                             f"{path}' first")
        # Opened from ``path``, not from the git directory found: a checkout whose .git is a
        self.repo = opening.open_repository(path)  # file (--separate-git-dir) has its files here

    @classmethod
    def init(cls, path: str | os.PathLike[str], *, bare: bool = False) -> Store:
        """Create a repository with branch ``main``, or open the one already there."""
        target = Path(path)
        if pygit2.discover_repository(str(target)) is not None and (
            (target / ".git").exists() or (target / "HEAD").exists()
        ):
            return cls(target)
        target.mkdir(parents=True, exist_ok=True)
        pygit2.init_repository(str(target), bare=bare, initial_head=DEFAULT_BRANCH)
        return cls(target)

    # ----------------------------------------------------------------- reading

    @property
    def bare(self) -> bool:
        return self.repo.is_bare

    @property
    def git_dir(self) -> Path:
        return Path(self.repo.path)

    @property
    def workdir(self) -> Path | None:
        return None if self.repo.is_bare else Path(self.repo.workdir)

    @property
    def branch_ref(self) -> str:
        """The branch HEAD points at (it may not exist yet in a new repository)."""
        ref = self.repo.references.get("HEAD")
        if ref is not None and ref.type == pygit2.enums.ReferenceType.SYMBOLIC:
            return str(ref.target)
        raise StoreError("HEAD is detached; check out a branch before archiving")

    def branch_tip(self, branch: str) -> pygit2.Commit | None:
        """The commit at the tip of ``branch`` (a short name), or None if there is none."""
        tip = self.repo.references.get(f"refs/heads/{branch}")
        return tip.peel(pygit2.Commit) if tip is not None else None

    def branch_tree(self, branch: str) -> pygit2.Tree | None:
        """The tree at the tip of ``branch`` (a short name), or None if there is no such
        branch: the one place that reads a branch tip's tree (the views branch, mostly)."""
        tip = self.branch_tip(branch)
        return tip.tree if tip is not None else None

    def head(self) -> pygit2.Commit | None:
        """The commit HEAD's branch points at, or None in a repository with no commits."""
        if self.repo.head_is_unborn:
            return None
        return self.repo.head.peel(pygit2.Commit)

    def resolve(self, rev: str) -> pygit2.Commit:
        """A commit from any revision git understands (sha, branch, HEAD~3 ...)."""
        try:
            return self.repo.revparse_single(rev).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError) as exc:
            raise StoreError(f"unknown revision '{rev}'") from exc

    def tree(self, commit: pygit2.Commit | None = None) -> pygit2.Tree | None:
        commit = commit if commit is not None else self.head()
        return commit.tree if commit is not None else None

    def read(self, path: str, commit: pygit2.Commit | None = None) -> bytes | None:
        """Content of a file at a commit (HEAD by default), or None if absent.

        One file: a direct lookup. To read many files of one commit, use reader().
        """
        oid = blob_at(self.tree(commit), path)
        return None if oid is None else blob_data(self.repo, oid)

    def list_dir(self, path: str, commit: pygit2.Commit | None = None) -> dict[str, pygit2.Oid]:
        """Blob names and ids directly inside a directory at a commit; empty if absent."""
        return self.reader(commit).listing(path)

    def reader(self, commit: pygit2.Commit | None = None, *, checkout: bool = False
               ) -> TreeReader:
        """A reader of many files of one commit (HEAD by default), directory listings cached;
        ``checkout``: files the checkout holds unchanged are read from there."""
        return TreeReader(self.repo, self.tree(commit), self.workdir if checkout else None)

    def blob(self, oid: pygit2.Oid | str) -> bytes:
        return blob_data(self.repo, oid)

    def config(self, key: str) -> str | None:
        """A git config value (repository, then global), or None."""
        return config_get(self.repo.config, key)

    def remote_url(self, name: str = "origin") -> str | None:
        try:
            return self.repo.remotes[name].url
        except (KeyError, ValueError):
            return None

    # ----------------------------------------------------------------- writing

    def commit(
        self,
        changes: Changes,
        message: str,
        *,
        ref: str | None = None,
        parent: pygit2.Commit | None | bool = True,
        update_worktree: bool = True,
        when: tuple[int, int] | None = None,
        tree: pygit2.Oid | None = None,
    ) -> pygit2.Oid | None:
        """Commit ``changes`` on top of ``parent`` (HEAD by default) and move ``ref``.

        Returns the new commit id, or None when the tree would not change. The ref
        moves only after every object is written; if it moved meanwhile (another
        process committed), StoreError is raised and nothing is lost. ``parent=None``
        makes a root commit (used for the single-commit views branch). ``when``
        (epoch seconds, UTC offset minutes) overrides the commit time. ``tree``: the
        tree ``changes`` give on top of ``parent``, when the caller already wrote it.
        """
        ref = ref or self.branch_ref
        on_checkout = ref == self.branch_ref_or_none() and update_worktree and not self.bare
        if on_checkout:
            self.recover()
        current = self.ref_target(ref)
        if parent is True:
            parent_commit = self.repo[current].peel(pygit2.Commit) if current else None
        else:
            parent_commit = parent or None
            if parent_commit is not None and parent_commit.id != current:
                raise StoreError(f"{ref} moved while this run was writing; run it again")
        base_tree = parent_commit.tree if parent_commit is not None else None
        if on_checkout:
            dirty = self.dirty_paths(list(changes))
            if dirty:
                raise DirtyWorktreeError(dirty)
        new_tree = tree if tree is not None else self.write_tree(base_tree, changes)
        if parent_commit is not None and new_tree == parent_commit.tree_id:
            return None
        if parent_commit is None and parent is True and base_tree is None and not changes:
            return None
        oid = self.repo.create_commit(
            None,
            signature(self.repo, when, role="AUTHOR"),
            signature(self.repo, when),
            message,
            new_tree,
            [parent_commit.id] if parent_commit else [],
        )
        self.move_branch(ref, current, oid, message, update_worktree=on_checkout)
        return oid

    def move_branch(
        self,
        ref: str,
        expected: pygit2.Oid | None,
        new: pygit2.Oid,
        message: str,
        *,
        update_worktree: bool = True,
    ) -> None:
        """Move ``ref`` from ``expected`` to the commit ``new``, atomically.

        On the checked-out branch of a checkout the files are updated first, with a
        marker left in the git directory: a process killed before the branch moves is
        rolled back by recover(), so HEAD and the files always agree. If ``ref`` no
        longer points at ``expected`` (another process moved it: the user's own ``git
        commit`` meanwhile), the files go back to its new commit, and StoreError.
        """
        on_checkout = update_worktree and not self.bare and ref == self.branch_ref_or_none()
        written = self.repo[new].peel(pygit2.Commit)
        if on_checkout:
            self._checkout_marker.parent.mkdir(parents=True, exist_ok=True)
            self._checkout_marker.write_text(f"{expected or ''} {new}\n")
            worktree.update(self.repo, self.head(), written)
        if self.ref_target(ref) != expected:  # else its files showed this run's undone
            if on_checkout and (moved := self.head()) is not None:
                worktree.roll_back(self.repo, moved, written)
            raise StoreError(f"{ref} moved while this run was writing; run it again")
        self.repo.create_reference_direct(ref, new, True, message=message.splitlines()[0])
        if on_checkout:
            self._checkout_marker.unlink()

    @property
    def _checkout_marker(self) -> Path:
        return self.git_dir / "gitarchive" / "checkout-in-progress"

    def recover(self) -> None:
        """Finish the work of a run killed between updating the checkout and moving HEAD.

        The branch still points at the old commit, so the files it had written are put
        back to HEAD's versions (worktree.roll_back); a run killed after moving HEAD needs
        nothing undone.
        """
        marker = self._checkout_marker
        if self.bare or not marker.exists():
            return
        old, _, new = marker.read_text().strip().partition(" ")
        head = self.head()
        if head is not None and str(head.id) == old and new:
            worktree.roll_back(self.repo, head, self.repo[new].peel(pygit2.Commit))
        marker.unlink()

    def write_tree(self, base: pygit2.Tree | None, changes: Changes) -> pygit2.Oid:
        """Write blobs and trees for ``changes`` applied to ``base``; returns the root tree id.

        The blobs go in first, many at once as one pack (see packwriter), then the trees.
        """
        contents = [c for c in changes.values() if isinstance(c, bytes)]
        blob_ids = iter(packwriter.write_blobs(self.repo, contents))
        nested: _Level = {}
        for path, content in changes.items():
            parts = path.strip("/").split("/")
            node = nested
            for part in parts[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise StoreError(f"{path}: a parent of this path is a file")
                node = child
            node[parts[-1]] = (None if content is None else content.oid
                               if isinstance(content, packwriter.Stored) else next(blob_ids))
        return self._write_level(base, nested)[0]

    def _write_level(self, base: pygit2.Tree | None, level: _Level) -> tuple[pygit2.Oid, int]:
        """A tree written and its number of entries (an empty one is left out of its
        parent: counted here, not read back, which parsed ~3,000 chart entries again)."""
        builder = self.repo.TreeBuilder(base) if base is not None else self.repo.TreeBuilder()
        for name, value in level.items():
            existing = base[name] if base is not None and name in base else None
            if isinstance(value, dict):
                sub_base = (
                    tree_at(self.repo, existing.id)
                    if existing is not None and existing.type_str == "tree"
                    else None
                )
                sub_id, entries = self._write_level(sub_base, value)
                if entries == 0:
                    if existing is not None:
                        builder.remove(name)
                else:
                    builder.insert(name, sub_id, TREE_MODE)
            elif value is None:
                if existing is not None:
                    builder.remove(name)
            else:
                builder.insert(name, value, FILE_MODE)
        return builder.write(), len(builder)

    def ref_target(self, ref: str) -> pygit2.Oid | None:
        """The commit id ``ref`` points to (through symbolic refs), or None."""
        found = self.repo.references.get(ref)
        target = found.resolve().target if found is not None else None
        return target if isinstance(target, pygit2.Oid) else None

    def branch_ref_or_none(self) -> str | None:
        """The current branch's full ref, or None when HEAD is detached."""
        try:
            return self.branch_ref
        except StoreError:
            return None

    # ----------------------------------------------------------- working tree

    def dirty_paths(self, paths: list[str]) -> list[str]:
        """Those of ``paths`` whose working-tree or index content differs from HEAD,
        or where something in the checkout is in the way (a directory where a file goes,
        a file where a directory goes): writing them would fail half-way."""
        if self.bare:
            return []
        wanted = set(paths)
        with opening.on_index(self.git_dir):
            status = self.repo.status(untracked_files="all", ignored=False)
        dirty = {path for path in status if path in wanted}
        return sorted(dirty | set(worktree.blocked_paths(self.workdir or Path(), paths)))


def process_repository(git_dir: str) -> pygit2.Repository:
    """This process's own handle on a repository, opened once (a forked child opens its own:
    libgit2's handles are not shared across a fork)."""
    return _repository(os.getpid(), git_dir)


@functools.lru_cache(maxsize=4)
def _repository(process: int, git_dir: str) -> pygit2.Repository:
    return pygit2.Repository(git_dir)


def blob_data(repo: pygit2.Repository, oid: pygit2.Oid | str) -> bytes:
    """The content of blob ``oid``. Read from the object database, not as ``repo[oid]``:
    that makes an object to copy the bytes out of, which took about twice as long for a
    small loose blob (a daily rebuild reads 1,000 followers files)."""
    kind, data = repo.odb.read(oid)
    if kind != pygit2.enums.ObjectType.BLOB:
        raise StoreError(f"{oid} is a {pygit2.enums.ObjectType(kind).name.lower()}, not a file")
    return data


def tree_at(repo: pygit2.Repository, oid: pygit2.Oid | str) -> pygit2.Tree:
    """The tree ``oid`` (or the tree of the commit ``oid``)."""
    return repo[oid].peel(pygit2.Tree)


def blob_at(tree: pygit2.Tree | None, path: str) -> pygit2.Oid | None:
    """The id of the blob at ``path`` in ``tree``, or None (absent, or not a file)."""
    if tree is None:
        return None
    try:
        entry = tree[path]
    except KeyError:
        return None
    return entry.id if entry.type_str == "blob" else None


class TreeReader:
    """Reads files of one tree, parsing each directory once.

    ``tree[path]`` re-reads every directory on the path at each call; with 2,000
    entries in ``playlists/pretty`` that made reading a run's files quadratic.
    """

    def __init__(self, repo: pygit2.Repository, tree: pygit2.Tree | None,
                 checkout: Path | None = None) -> None:
        self.repo = repo
        self.tree = tree
        self.checkout = checkout  # read a file there when it holds the blob (worktree.py)
        self._dirs: dict[str, dict[str, pygit2.Oid]] = {}

    def listing(self, directory: str) -> dict[str, pygit2.Oid]:
        """Blob names and ids directly inside ``directory`` (empty if absent)."""
        found = self._dirs.get(directory)
        if found is None:
            found = {}
            if self.tree is not None:
                try:
                    sub = self.tree[directory]
                except KeyError:
                    sub = None
                if sub is not None and sub.type_str == "tree":
                    listed = tree_at(self.repo, sub.id)
                    found = {e.name: e.id for e in listed if e.type_str == "blob" and e.name}
            self._dirs[directory] = found
        return found

    def blob_id(self, path: str) -> pygit2.Oid | None:
        """The id of the blob at ``path``, or None when there is none."""
        directory, _, name = path.rpartition("/")
        return self.listing(directory).get(name)

    def read(self, path: str) -> bytes | None:
        oid = self.blob_id(path)
        if oid is None:
            return None
        found = None if self.checkout is None else worktree.checked_read(self.checkout, path, oid)
        return blob_data(self.repo, oid) if found is None else found

    def same(self, path: str, content: bytes | None) -> bool:
        """Whether ``path`` holds exactly ``content`` (compares blob ids: no read, no inflate)."""
        oid = self.blob_id(path)
        if content is None or oid is None:
            return content is None and oid is None
        return oid == packwriter.content_id(content)
