"""Bringing a source's objects here: hard links for a source on this machine, else a fetch.

The source's HEAD lands in its own ref (``refs/gitarchive/follow/<name>``); later
updates transfer only what is new. Progress is reported through a ``CountFn``
(libgit2 and the link loop count objects; they hand us no items to iterate).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pygit2

from gitarchive.errors import FollowError, StoreError
from gitarchive.git.depth import history_cut
from gitarchive.git.store import Store
from gitarchive.ops.follow.sources import Source
from gitarchive.ops.push import Credentials, local_git_dir
from gitarchive.progress import CountFn, no_count
from gitarchive.redact import redact


class _FetchCallbacks(Credentials):
    """Credentials from the environment (as for --push) and the transfer's object count."""

    def __init__(self, count: CountFn) -> None:
        super().__init__()
        self._count = count

    def transfer_progress(self, stats: pygit2.remotes.TransferProgress) -> None:
        if stats.total_objects:
            self._count(stats.indexed_objects, stats.total_objects)


def fetch_source(store: Store, source: Source, count: CountFn = no_count) -> pygit2.Commit:
    """Bring the source's HEAD into its ref; returns the tip commit.

    A source on this machine (a path or file:// URL) is read the way ``git clone
    --local`` does: its object files (immutable) are hard-linked, or copied across
    file systems, when this archive lacks them, and the ref is set to its HEAD.
    libgit2's local transport would instead recompress the whole history into a new
    pack (ten times ``git fetch``'s time on a year of 1,000 playlists). Any other
    URL is fetched with pygit2.
    """
    try:
        objects = local_objects(source.url)
        cut = history_cut(objects) if objects is not None else None
        if cut is not None:  # its history would be imported cut, its dates from the cut on
            raise FollowError(f"it is {cut}")
        if objects is not None:
            tip = _link_objects(store, objects, count)
            store.repo.references.create(source.ref, tip, force=True)
        else:
            remote = store.repo.remotes.create_anonymous(source.url)
            remote.fetch([f"+HEAD:{source.ref}"], callbacks=_FetchCallbacks(count))
    except (pygit2.GitError, OSError, StoreError) as exc:
        raise FollowError(redact(f"cannot fetch {source.name} from {source.url}: {exc}")) from None
    ref = store.repo.references.get(source.ref)
    if ref is None:
        raise FollowError(f"{source.name}: the source has no commits")
    return ref.peel(pygit2.Commit)


def local_objects(url: str) -> pygit2.Repository | None:
    """The source repository when it is on this machine with objects of its own."""
    git_dir = local_git_dir(url)
    if git_dir is None:
        return None
    if (common_dir(git_dir) / "objects" / "info" / "alternates").exists():
        return None  # objects borrowed from elsewhere: let the transport gather them
    return pygit2.Repository(str(git_dir))


def common_dir(git_dir: Path) -> Path:
    """Where the objects of ``git_dir`` live: a linked worktree's (``git worktree add``)
    are its main repository's, named in its ``commondir`` file."""
    try:
        common = (git_dir / "commondir").read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return git_dir
    return (git_dir / common).resolve() if common else git_dir


def _link_objects(store: Store, source: pygit2.Repository, count: CountFn) -> pygit2.Oid:
    """Link (or copy) the source's packs and loose objects this archive lacks."""
    if source.head_is_unborn:
        raise FollowError("the source has no commits")
    tip = source.head.peel(pygit2.Commit).id
    theirs = common_dir(Path(source.path)) / "objects"
    ours = store.git_dir / "objects"
    todo: list[tuple[Path, Path]] = []
    for idx in sorted((theirs / "pack").glob("pack-*.idx")):
        pack = idx.with_suffix(".pack")
        if pack.exists() and not (ours / "pack" / idx.name).exists():
            todo += [(pack, ours / "pack" / pack.name), (idx, ours / "pack" / idx.name)]
    for sub in sorted(theirs.iterdir()):
        if len(sub.name) == 2 and sub.is_dir():
            for loose in sub.iterdir():
                if not (ours / sub.name / loose.name).exists() and not loose.name.startswith(
                        "tmp"):
                    todo.append((loose, ours / sub.name / loose.name))
    # A pack before its index: libgit2 finds packs by their index.
    for done, (src, dst) in enumerate(todo, 1):
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f"tmp-follow-{os.getpid()}-{dst.name}")
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        count(done, len(todo))
    if tip not in store.repo:
        raise FollowError("the source's objects are incomplete (a shallow or partial clone?)")
    return tip
