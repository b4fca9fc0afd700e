"""Write many new blobs as one git pack instead of thousands of loose objects.

A run that changes 1,000 playlists writes ~4,000 blobs. As loose objects that is
4,000 files, each compressed on the one thread that holds the GIL. Here the blobs
are compressed in parallel (zlib releases the GIL), written as a single pack with
its version-2 index, and libgit2 picks the pack up on its next lookup. The format
is git's own (Documentation/gitformat-pack.txt); git and libgit2 read it natively.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pygit2

BLOB_TYPE = 3
MIN_OBJECTS = 64  # below this, loose objects are as fast and leave no tiny packs behind
# ... unless they are big: libgit2 compresses loose objects harder (and one file each),
# ~0.1 s for the 50 files (4 MB) of a daily rebuild's half, ~0.01 s as a pack.
MIN_PACK_BYTES = 1 << 20
MAX_OFFSET_31 = 0x7FFFFFFF
SERIAL_BYTES = 1 << 20  # below this much content, compress on this thread
BATCH = 64  # blobs compressed per task of the thread pool


@dataclass(frozen=True)
class Stored:
    """A file's content already written to the object database (where it was made, e.g. by
    a forked half of a rebuild): its raw blob id stands for the bytes, which nobody holds."""

    raw: bytes

    @property
    def oid(self) -> pygit2.Oid:
        return pygit2.Oid(raw=self.raw)


Content = bytes | Stored  # a file to commit: its bytes, or the blob they were written to


def content_id(content: Content) -> pygit2.Oid:
    """The blob id of a file's content (hashed, or known when stored).

    Hashed here rather than by ``pygit2.hash``: libgit2's collision-detecting SHA-1 is
    about eight times slower, and a daily rebuild hashes megabytes of views and charts."""
    return content.oid if isinstance(content, Stored) else pygit2.Oid(raw=blob_id(content))


def store_all(repo: pygit2.Repository, contents: Sequence[bytes]) -> list[Stored]:
    """Write ``contents`` now (one pack when many); what stands for each of them."""
    return [Stored(oid.raw) for oid in write_blobs(repo, contents)]


def blob_id(data: bytes) -> bytes:
    """The raw SHA-1 git gives a blob with this content."""
    return object_id("blob", data)


def write_blobs(repo: pygit2.Repository, blobs: Sequence[bytes]) -> list[pygit2.Oid]:
    """Store ``blobs`` in the object database; returns their ids in the same order."""
    if len(blobs) < MIN_OBJECTS and sum(map(len, blobs)) < MIN_PACK_BYTES:
        return [repo.create_blob(data) for data in blobs]
    ids = [blob_id(data) for data in blobs]
    new: dict[bytes, bytes] = {}
    held = holder(repo)
    for raw, data in zip(ids, blobs, strict=True):
        if raw not in new and not held(raw):
            new[raw] = data
    if new:
        _write_pack(Path(repo.path) / "objects" / "pack", new)  # libgit2 rescans on a miss
    return [pygit2.Oid(raw=raw) for raw in ids]


def holder(repo: pygit2.Repository) -> Callable[[bytes], bool]:
    """Whether the objects of ``repo`` hold a raw id, as of now: for many ids at once.

    ``oid in repo.odb`` rescans the pack directory on every miss (libgit2 refreshes the
    database when an object is not found, in case another process packed it), and a
    batch of new blobs is nearly all misses: 6,000 ids cost 0.13 s of CPU against 10
    packs. Here the backends (packs, loose objects, alternates) are refreshed once, then
    each asked without a rescan; an object written elsewhere meanwhile is at worst stored
    twice, which git allows."""
    backends = list(repo.odb.backends)
    for backend in backends:
        backend.refresh()
    exists = [backend.exists for backend in backends]

    def held(raw: bytes) -> bool:
        oid = pygit2.Oid(raw=raw)
        return any(found(oid) for found in exists)

    return held


# Git's object types as numbered in packs; the names are those hashed into object ids.
OBJECT_TYPES = {"commit": 1, "tree": 2, "blob": BLOB_TYPE}


def object_id(kind: str, data: bytes) -> bytes:
    """The raw SHA-1 git gives an object of type ``kind`` ("commit", "tree", "blob")."""
    digest = hashlib.sha1(b"%s %d\0" % (kind.encode(), len(data)))
    digest.update(data)  # not header + data: that copies the content first
    return digest.digest()


def write_objects(repo: pygit2.Repository, objects: Sequence[tuple[str, bytes]]) -> None:
    """Store objects of any type (kind, content) as one pack; for a batch of commits and
    trees built by the caller (each a file of its own, loose, costs a file system round)."""
    new: dict[bytes, bytes] = {}
    kinds: dict[bytes, int] = {}
    held = holder(repo)
    for kind, data in objects:
        raw = object_id(kind, data)
        if raw not in new and not held(raw):
            new[raw] = data
            kinds[raw] = OBJECT_TYPES[kind]
    if len(new) < MIN_OBJECTS:
        for raw, data in new.items():
            repo.odb.write(kinds[raw], data)
    else:
        _write_pack(Path(repo.path) / "objects" / "pack", new, kinds)


def entry_header(size: int, kind: int = BLOB_TYPE) -> bytes:
    out = bytearray()
    byte = (kind << 4) | (size & 0x0F)
    size >>= 4
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def compress(data: bytes) -> bytes:
    return zlib.compress(data, 1)  # git's core.looseCompression default: speed first


def _compress_all(batch: list[bytes]) -> list[bytes]:
    return [compress(data) for data in batch]


def _write_pack(
    pack_dir: Path, objects: dict[bytes, bytes], kinds: dict[bytes, int] | None = None
) -> None:
    """Write ``objects`` (raw id -> content) as pack-<sha>.pack and its .idx, atomically."""
    pack_dir.mkdir(parents=True, exist_ok=True)
    ids = list(objects)
    if sum(len(objects[i]) for i in ids) < SERIAL_BYTES:  # threads cost more than they save
        compressed = [compress(objects[i]) for i in ids]
    else:
        # In batches: a thread pool makes a future (and its lock) per item, which for
        # 6,000 small blobs cost more than half the compression itself.
        batches = [[objects[i] for i in ids[at:at + BATCH]] for at in range(0, len(ids), BATCH)]
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            compressed = [body for batch in pool.map(_compress_all, batches) for body in batch]
    checksum = hashlib.sha1()
    offsets: dict[bytes, int] = {}
    crcs: dict[bytes, int] = {}
    fd, tmp_pack = tempfile.mkstemp(dir=pack_dir, prefix="tmp_pack_")
    try:
        with os.fdopen(fd, "wb") as out:
            header = b"PACK" + struct.pack(">II", 2, len(ids))
            out.write(header)
            checksum.update(header)
            offset = len(header)
            for raw, body in zip(ids, compressed, strict=True):
                kind = kinds[raw] if kinds is not None else BLOB_TYPE
                entry = entry_header(len(objects[raw]), kind) + body
                out.write(entry)
                checksum.update(entry)
                offsets[raw] = offset
                crcs[raw] = zlib.crc32(entry)
                offset += len(entry)
            pack_sha = checksum.digest()
            out.write(pack_sha)
            out.flush()
            os.fsync(out.fileno())
        name = f"pack-{pack_sha.hex()}"
        os.chmod(tmp_pack, 0o444)
        os.replace(tmp_pack, pack_dir / f"{name}.pack")
    except BaseException:
        Path(tmp_pack).unlink(missing_ok=True)
        raise
    write_index(pack_dir / f"{name}.idx", offsets, crcs, pack_sha)


def write_index(
    path: Path, offsets: dict[bytes, int], crcs: dict[bytes, int], pack_sha: bytes
) -> None:
    """The version-2 .idx: fan-out, sorted ids, CRC32s, offsets, checksums."""
    ids = sorted(offsets)
    fanout = [0] * 256
    for raw in ids:
        fanout[raw[0]] += 1
    running = 0
    for i in range(256):
        running += fanout[i]
        fanout[i] = running
    large: list[int] = []
    small = bytearray()
    for raw in ids:
        offset = offsets[raw]
        if offset > MAX_OFFSET_31:
            small += struct.pack(">I", 0x80000000 | len(large))
            large.append(offset)
        else:
            small += struct.pack(">I", offset)
    body = b"".join(
        [
            b"\377tOc" + struct.pack(">I", 2),
            struct.pack(">256I", *fanout),
            b"".join(ids),
            b"".join(struct.pack(">I", crcs[raw]) for raw in ids),
            bytes(small),
            b"".join(struct.pack(">Q", offset) for offset in large),
            pack_sha,
        ]
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="tmp_idx_")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body + hashlib.sha1(body).digest())
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o444)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
