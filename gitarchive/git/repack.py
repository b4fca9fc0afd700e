"""Consolidate many packs (and loose objects) into one, safely, as git's auto gc would.

The new pack and its index are written whole into a staging directory of their own
(objects/pack/tmp_gitarchive_*/, which git and libgit2 ignore) and proved there: its index
lists every object it replaces, and every object reads back from the new pack alone as the
object its id names (git/packcheck.py). Only then are they moved into place (fsynced,
then .pack, then .idx) and, once a multi-pack-index is gone and objects/info/packs lists
old and new (git/packdir.py), do the old packs go (index first, so no reader lists a pack
that is about to vanish). Readers meanwhile always find each object in an old pack or
the new one. Nothing is pruned: an object no commit reaches may be one a concurrent run
has just written.

Two ways to write it:
- copy (the default, for the nightly step): each old pack's entries are copied as they
  are, compressed and with their deltas, checked against the CRC32 their index records.
  No object is decompressed, so it costs about what reading the packs costs.
- deltas: libgit2's PackBuilder searches for deltas between the objects (views change a
  little every day, so they shrink a lot), at a far higher price (see the README).
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import shutil
import struct
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pygit2

from gitarchive.atomicfile import flush
from gitarchive.errors import GitarchiveError
from gitarchive.git import packcheck, packdir, packfiles, packwriter
from gitarchive.git.packfiles import Limits, Pack
from gitarchive.progress import CountFn, no_count

TRAILER = 20  # a pack ends with the SHA-1 of all that comes before it


class RepackError(GitarchiveError):
    """Consolidating failed; every old pack and loose object is still in place."""


class TempFile(Protocol):
    """What the new pack is written through (a file; tests put a failing one in its place)."""

    def write(self, data: bytes, /) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


OpenTemp = Callable[[Path, str], tuple[TempFile, Path]]


def open_temp(directory: Path, prefix: str) -> tuple[TempFile, Path]:
    """A new temporary file in ``directory`` (git's readers ignore tmp_* names)."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix)
    return os.fdopen(fd, "wb", buffering=1 << 20), Path(name)


@dataclass(frozen=True)
class Repacked:
    """What one consolidation did."""

    packs_before: int
    packs_after: int
    combined: int  # packs replaced by the new one
    loose: int  # loose objects moved into it
    objects: int  # objects in the new pack
    bytes_before: int  # what the replaced packs and loose objects took
    bytes_after: int  # the new pack and its index
    seconds: float
    leftovers: tuple[str, ...] = ()  # old files that could not be removed (harmless copies)
    checked_seconds: float = 0.0  # of ``seconds``, reading the new pack back


def needed(git_dir: Path, limits: Limits) -> tuple[list[Pack], list[Path]]:
    """What the automatic step would consolidate now: packs over the limit, loose objects
    when git's estimate of them is over gc.auto (nothing at all when both are off)."""
    listed = packfiles.list_packs(git_dir)
    packs = packfiles.plan(listed, limits.packs, limits.big)
    loose: list[Path] = []
    if limits.loose > 0 and packfiles.loose_estimate(git_dir) > limits.loose:
        loose = packfiles.loose_objects(git_dir)
    if loose and not packs:  # git packs loose objects along with the small packs
        packs = packfiles.geometric(packfiles.candidates(listed, limits.big))
    return packs, loose


def maintain(git_dir: Path, limits: Limits | None = None, *, progress: CountFn = no_count,
             opener: OpenTemp | None = None) -> Repacked | None:
    """After a run that may have written packs: consolidate when over the repository's
    limits (gc.autoPackLimit, gc.auto); None when there was nothing to do. The caller
    holds the repository's lock."""
    repo = pygit2.Repository(str(git_dir))
    packs, loose = needed(git_dir, limits or Limits.of(repo))
    if not packs and not loose:
        return None
    return repack(repo, packs, loose, progress=progress, opener=opener)


def repack(repo: pygit2.Repository, packs: list[Pack], loose: list[Path], *,
           deltas: bool = False, progress: CountFn = no_count,
           opener: OpenTemp | None = None) -> Repacked:
    """Replace ``packs`` and ``loose`` objects by one pack (see the module's docstring).

    ``opener`` makes the new pack's temporary file (default: ``open_temp``, looked up when
    called: the seam through which tests make a write fail)."""
    start = time.perf_counter()
    git_dir = Path(repo.path)
    where = packfiles.pack_dir(git_dir)
    where.mkdir(parents=True, exist_ok=True)
    before = len(packfiles.list_packs(git_dir))
    expected: set[bytes] = set()
    size_before = sum(p.size + _size(p.idx) for p in packs) + sum(map(_size, loose))
    try:
        packdir.clear_leftovers(where)
        indexes = [(pack, packfiles.read_index(pack.idx)) for pack in packs]
        for pack, entries in indexes:
            packdir.check_header(pack, len(entries.ids))
            expected.update(entries.ids)
        expected.update(packfiles.loose_id(path) for path in loose)
        with _staging(where) as staging:
            if deltas:
                staged = _write_with_deltas(repo, staging, expected, _share(progress, 0, 3))
            else:
                staged = _write_copy(repo, staging, indexes, loose, _share(progress, 0, 2),
                                     opener or open_temp)
            checking = time.perf_counter()
            packcheck.verify(staged, expected, _share(progress, 2 if deltas else 1,
                                                      3 if deltas else 2))
            checked = time.perf_counter() - checking
            new = _move_in(staged, where)
        replaced = [p for p in packs if p.path != new]
        packdir.drop_multi_pack_index(where)
        packdir.write_pack_list(git_dir, [p.path for p in replaced])
    except (OSError, ValueError, pygit2.GitError) as exc:
        raise RepackError(_failure(exc)) from exc
    leftovers = _remove(replaced, loose, git_dir)
    return Repacked(before, len(packfiles.list_packs(git_dir)), len(replaced), len(loose),
                    len(expected), size_before, new.stat().st_size + _size(new.with_suffix(
                        ".idx")), time.perf_counter() - start, tuple(leftovers), checked)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _share(progress: CountFn, before: int, parts: int) -> CountFn:
    """Progress for one of ``parts`` equal parts of a job, ``before`` of them done."""

    def count(done: int, total: int, /) -> None:
        progress(before * total + done, parts * total)

    return count


@contextlib.contextmanager
def _staging(where: Path) -> Iterator[Path]:
    """The pack directory of an objects directory of its own, removed with what is left in
    it (git's readers and libgit2 ignore tmp_* names in objects/pack)."""
    root = Path(tempfile.mkdtemp(dir=where, prefix=packdir.STAGING_PREFIX))
    try:
        (root / "pack").mkdir()
        yield root / "pack"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _move_in(staged: Path, where: Path) -> Path:
    """Move a proved pack into place: its files are on disk first (fsync), then the .pack (nobody
    reads a pack without its index), then the .idx, then the directory's new names. A pack
    of that name already there is replaced by the proved one (it may be damaged)."""
    final = where / staged.name
    flush(staged)
    flush(staged.with_suffix(".idx"))
    os.replace(staged, final)
    os.replace(staged.with_suffix(".idx"), final.with_suffix(".idx"))
    flush(where)
    return final


def _failure(exc: BaseException) -> str:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return (f"could not consolidate the repository's packs ({reason}); every old pack is "
            "still in place")


@dataclass
class _Writer:
    """The new pack as it is written: its checksum, and each object's offset and CRC32."""

    out: TempFile
    progress: CountFn
    total: int
    offset: int = 0
    done: int = 0

    def __post_init__(self) -> None:
        self.sha = hashlib.sha1()
        self.offsets: dict[bytes, int] = {}
        self.crcs: dict[bytes, int] = {}
        self.emit(b"PACK" + struct.pack(">II", 2, self.total))

    def emit(self, data: bytes) -> None:
        self.out.write(data)
        self.sha.update(data)
        self.offset += len(data)

    def entry(self, raw: bytes, data: bytes, crc: int) -> None:
        self.offsets[raw] = self.offset
        self.crcs[raw] = crc
        self.emit(data)
        self.done += 1
        if self.done % 1024 == 0 or self.done == self.total:
            self.progress(self.done, self.total)


def _write_copy(repo: pygit2.Repository, where: Path,
                indexes: list[tuple[Pack, packfiles.IndexEntries]], loose: list[Path],
                progress: CountFn, opener: OpenTemp) -> Path:
    """Write the packs' entries as they are (``indexes``: each pack with its index read),
    then the loose objects, and the index, into the staging directory ``where``; the new
    .pack's path (fsynced by _move_in, as libgit2's is)."""
    plans = sorted(indexes, key=lambda plan: -plan[0].size)
    seen = {raw for _, entries in plans for raw in entries.ids}
    rest = [raw for raw in map(packfiles.loose_id, loose) if raw not in seen]
    out, tmp = opener(where, "tmp_pack_")
    try:
        writer = _Writer(out, progress, len(seen) + len(rest))
        for pack, entries in plans:
            if entries.crcs is not None:
                _copy_entries(writer, pack, entries)
            else:  # a version-1 index has no CRCs to check copies against
                _inflated(writer, repo, [raw for raw in entries.ids if raw not in writer.offsets])
        _inflated(writer, repo, rest)
        digest = writer.sha.digest()
        out.write(digest)
        out.flush()
        out.close()
        final = where / f"pack-{digest.hex()}.pack"
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            out.close()
        raise
    packwriter.write_index(final.with_suffix(".idx"), writer.offsets, writer.crcs, digest)
    return final


def _copy_entries(writer: _Writer, pack: Pack, entries: packfiles.IndexEntries) -> None:
    """Copy a pack's entries in their order, checked against their CRC32, but for those
    another pack already gave. A delta against an earlier entry (OFS_DELTA) names its base
    by distance: when the distance changes (entries between were skipped), it is rewritten."""
    assert entries.crcs is not None
    order = sorted(range(len(entries.ids)), key=entries.offsets.__getitem__)
    at_offset = {entries.offsets[i]: entries.ids[i] for i in order}
    with pack.path.open("rb") as handle, mmap.mmap(handle.fileno(), 0,
                                                   access=mmap.ACCESS_READ) as data:
        end = len(data) - TRAILER
        if order and entries.offsets[order[-1]] >= end:
            raise ValueError(f"{pack.name} does not match its index")
        for n, i in enumerate(order):
            raw, start, crc = entries.ids[i], entries.offsets[i], entries.crcs[i]
            chunk = data[start:entries.offsets[order[n + 1]] if n + 1 < len(order) else end]
            if zlib.crc32(chunk) != crc:
                raise ValueError(f"{pack.name} is damaged (object {raw.hex()} does not "
                                 "match the CRC its index records)")
            if raw in writer.offsets:
                continue
            if (chunk[0] >> 4) & 7 == packfiles.OFS_DELTA:
                head, distance, body = packfiles.delta_header(chunk)
                base = at_offset.get(start - distance)
                if base is None or base not in writer.offsets:
                    raise ValueError(f"{pack.name} is damaged (object {raw.hex()} is a delta "
                                     "against no object)")
                moved = writer.offset - writer.offsets[base]
                if moved != distance:
                    chunk = chunk[:head] + packfiles.ofs_distance(moved) + chunk[body:]
                    crc = zlib.crc32(chunk)
            writer.entry(raw, chunk, crc)


def _inflated(writer: _Writer, repo: pygit2.Repository, ids: list[bytes]) -> None:
    """Write objects whole (read through libgit2, compressed anew)."""
    for raw in ids:
        kind, data = repo.odb.read(pygit2.Oid(raw=raw))
        entry = packwriter.entry_header(len(data), int(kind)) + packwriter.compress(data)
        writer.entry(raw, entry, zlib.crc32(entry))


def _write_with_deltas(repo: pygit2.Repository, where: Path, ids: set[bytes],
                       progress: CountFn) -> Path:
    """libgit2's PackBuilder, into the staging directory ``where``; the new .pack's path."""
    builder = pygit2.PackBuilder(repo)
    builder.set_threads(os.cpu_count() or 1)
    for commit in _commits(repo, ids):  # through their trees: objects come with their
        builder.add_recur(commit)  # paths, which pair each file with its versions
    for n, raw in enumerate(sorted(ids), 1):
        builder.add(pygit2.Oid(raw=raw))
        if n % 1024 == 0:
            progress(n, len(ids))
    builder.write(str(where))
    progress(2 * len(ids), len(ids))  # adding was the first half, writing the second
    (written,) = where.glob("pack-*.pack")
    return written  # not yet on disk (libgit2 does not fsync): _move_in flushes it


def _commits(repo: pygit2.Repository, ids: set[bytes]) -> list[pygit2.Oid]:
    """The commits among ``ids`` that a branch or tag reaches, oldest first."""
    tips = set()
    for name in repo.references:
        with contextlib.suppress(pygit2.GitError, ValueError, KeyError):
            tips.add(repo.references[name].peel(pygit2.Commit).id)
    if not tips:
        return []
    walker = repo.walk(None, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    for tip in tips:
        walker.push(tip)
    return [commit.id for commit in walker if commit.id.raw in ids]


def _remove(packs: list[Pack], loose: list[Path], git_dir: Path) -> list[str]:
    """Remove what the new pack replaces: an index before its pack, so no reader lists a
    pack that is gone. What cannot be removed stays (a harmless second copy)."""
    left = []
    for pack in packs:
        for suffix in packfiles.PACK_SUFFIXES:
            path = pack.path.with_suffix(suffix)
            try:
                path.unlink(missing_ok=True)
            except OSError:
                left.append(path.name)
    for path in loose:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            left.append(f"{path.parent.name}/{path.name}")
    for directory in {path.parent for path in loose}:
        with contextlib.suppress(OSError):
            directory.rmdir()  # only when empty
    with contextlib.suppress(OSError):
        packdir.write_pack_list(git_dir)  # now without the removed packs
    return left
