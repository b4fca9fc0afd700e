"""The packs and loose objects of a repository, and which of them to consolidate.

gitarchive commits with pygit2, so git's automatic gc (run by porcelain commands) never
runs in an archive, while every fetch and rebuild may leave a pack: a year of nightly
runs leaves hundreds, and every lookup that misses a pack's index moves on to the next
one. This module reads what is there (from the .idx files alone, without opening the
packs) and decides, as ``git gc --auto`` would, whether and what to consolidate; and
reads and writes the distance by which a pack's delta entry names its base.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitarchive.git.identity import config_get

DEFAULT_PACK_LIMIT = 50  # git's gc.autoPackLimit default
DEFAULT_LOOSE_LIMIT = 6700  # git's gc.auto default
GEOMETRIC_FACTOR = 2  # as `git repack --geometric=2`
IDX_MAGIC = b"\377tOc"
FANOUT = 256 * 4
PACK_NAME = re.compile(r"pack-[0-9a-f]{40}")
# Files that belong to a pack (git may write any of them next to .pack and .idx).
PACK_SUFFIXES = (".idx", ".pack", ".rev", ".bitmap", ".mtimes")
LOOSE_DIR = re.compile(r"[0-9a-f]{2}")
LOOSE_FILE = re.compile(r"[0-9a-f]{38}")
OFS_DELTA = 6  # a pack entry: a delta whose base is named by its distance back in the pack


@dataclass(frozen=True)
class Pack:
    """A complete pack: pack-<sha>.pack with its .idx (a pack without one is being written)."""

    path: Path  # the .pack file
    objects: int
    size: int  # bytes of the .pack
    keep: bool  # a .keep (or .promisor) file asks everyone to leave it alone; a cruft
    # pack (.mtimes: git's record of when its unreachable objects were last used) too

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def idx(self) -> Path:
        return self.path.with_suffix(".idx")


@dataclass(frozen=True)
class Limits:
    """When to consolidate: more than ``packs`` packs, or about ``loose`` loose objects (0:
    never), from the repository's gc.autoPackLimit and gc.auto, as git reads them; packs
    of more than ``big`` bytes (gc.bigPackThreshold; 0: none) are never combined."""

    packs: int = DEFAULT_PACK_LIMIT
    loose: int = DEFAULT_LOOSE_LIMIT
    big: int = 0

    @classmethod
    def of(cls, repo: pygit2.Repository) -> Limits:
        auto = _int_config(repo, "gc.auto", DEFAULT_LOOSE_LIMIT)
        packs = _int_config(repo, "gc.autoPackLimit", DEFAULT_PACK_LIMIT)
        big = max(_int_config(repo, "gc.bigPackThreshold", 0), 0)
        if auto <= 0:  # gc.auto=0 turns all of git's automatic gc off
            return cls(0, 0, big)
        return cls(max(packs, 0), auto, big)


def _int_config(repo: pygit2.Repository, key: str, default: int) -> int:
    """An integer git config value (git's k/m/g suffixes too); the default when unset or bad."""
    value = config_get(repo.config, key)
    if value is None:
        return default
    text = value.strip().lower()
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(text[-1:], 1)
    try:
        return int(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        return default


def pack_dir(git_dir: Path) -> Path:
    return git_dir / "objects" / "pack"


def list_packs(git_dir: Path) -> list[Pack]:
    """Every complete pack of the repository (temporary files of a writer are not packs)."""
    where = pack_dir(git_dir)
    try:
        names = {p.name for p in where.iterdir()}
    except FileNotFoundError:
        return []
    packs = []
    for name in sorted(names):
        stem, dot, suffix = name.partition(".")
        if suffix != "pack" or not PACK_NAME.fullmatch(stem) or f"{stem}.idx" not in names:
            continue
        path = where / name
        try:
            count = idx_count(where / f"{stem}.idx")
            size = path.stat().st_size
        except (OSError, ValueError, struct.error):
            continue  # vanished meanwhile, or not an index we read: not ours to touch
        keep = any(f"{stem}.{kind}" in names for kind in ("keep", "promisor", "mtimes"))
        packs.append(Pack(path, count, size, keep))
    return packs


def idx_count(idx: Path) -> int:
    """How many objects a pack's index lists (the last fan-out entry)."""
    with idx.open("rb") as handle:
        head = handle.read(8 + FANOUT)
    if head[:4] == IDX_MAGIC:
        if struct.unpack(">I", head[4:8])[0] != 2:
            raise ValueError(f"{idx}: unknown index version")
        return int(struct.unpack(">I", head[8 + FANOUT - 4:8 + FANOUT])[0])
    return int(struct.unpack(">I", head[FANOUT - 4:FANOUT])[0])  # version 1


@dataclass(frozen=True)
class IndexEntries:
    """A pack's index: ids, where each object starts in the pack, and its CRC32 (None in
    a version-1 index, which has none: such a pack is copied object by object)."""

    ids: list[bytes]
    offsets: list[int]
    crcs: list[int] | None


def read_index(idx: Path) -> IndexEntries:
    """Parse a version-2 (or version-1) pack index (ValueError when it is cut short)."""
    data = idx.read_bytes()
    try:
        return _parse_index(data)
    except (struct.error, IndexError) as exc:
        raise ValueError(f"{idx.name} is not a readable pack index") from exc


def _parse_index(data: bytes) -> IndexEntries:
    if data[:4] != IDX_MAGIC:
        count = struct.unpack(">I", data[FANOUT - 4:FANOUT])[0]
        rows = [data[FANOUT + 24 * i:FANOUT + 24 * (i + 1)] for i in range(count)]
        return IndexEntries([row[4:] for row in rows],
                            [struct.unpack(">I", row[:4])[0] for row in rows], None)
    count = struct.unpack(">I", data[8 + FANOUT - 4:8 + FANOUT])[0]
    at = 8 + FANOUT
    ids = [data[at + 20 * i:at + 20 * (i + 1)] for i in range(count)]
    at += 20 * count
    crcs = list(struct.unpack(f">{count}I", data[at:at + 4 * count]))
    at += 4 * count
    small = struct.unpack(f">{count}I", data[at:at + 4 * count])
    at += 4 * count
    offsets = []
    for value in small:
        if value & 0x80000000:
            big = at + 8 * (value & 0x7FFFFFFF)
            value = struct.unpack(">Q", data[big:big + 8])[0]
        offsets.append(value)
    return IndexEntries(ids, offsets, crcs)


def plan(packs: list[Pack], limit: int, big: int = 0) -> list[Pack]:
    """The packs to combine into one: none unless there are more than ``limit`` (0: never).

    Small first (``geometric``) and never the largest (``candidates``), so the big base
    pack is left alone and each day's cost stays small. When that leaves more than half
    the limit, the smallest of the rest join too, so that the next run does not start over.
    """
    counted = [p for p in packs if not p.keep]
    if limit <= 0 or len(counted) <= limit:
        return []
    movable = candidates(packs, big)
    split = max(len(geometric(movable)), len(counted) - max(1, limit // 2) + 1, 2)
    return movable[:split] if len(movable) >= 2 else []


def candidates(packs: list[Pack], big: int = 0) -> list[Pack]:
    """What the automatic step may combine, smallest first: neither .keep (or cruft) packs,
    nor those over ``big`` bytes (gc.bigPackThreshold, 0: none), nor the largest pack: a
    full rewrite is only ever asked for (``repack --all``)."""
    movable = sorted((p for p in packs if not p.keep and not 0 < big < p.size), key=_weight)
    largest = max((p for p in packs if not p.keep), key=_weight, default=None)
    return [p for p in movable if p is not largest]


def _weight(pack: Pack) -> tuple[int, int]:
    """How big a pack counts as, to order them (objects, then bytes)."""
    return pack.objects, pack.size


def geometric(packs: list[Pack]) -> list[Pack]:
    """The small packs to roll up, as ``git repack --geometric=2``: the smallest ones, until
    every pack left is at least twice as big as all smaller ones together (none or >= 2)."""
    movable = sorted((p for p in packs if not p.keep), key=_weight)
    split = 0
    below = 0
    for i, pack in enumerate(movable):
        if pack.objects < GEOMETRIC_FACTOR * below:
            split = i + 1
        below += pack.objects
    return movable[:split]


def loose_estimate(git_dir: Path) -> int:
    """About how many loose objects there are: git's estimate, 256 x those in objects/17."""
    try:
        return 256 * sum(1 for p in (git_dir / "objects" / "17").iterdir()
                         if LOOSE_FILE.fullmatch(p.name))
    except FileNotFoundError:
        return 0


def loose_objects(git_dir: Path) -> list[Path]:
    """Every loose object file (objects/xx/<38 hex>)."""
    found = []
    for directory in sorted((git_dir / "objects").iterdir()):
        if directory.is_dir() and LOOSE_DIR.fullmatch(directory.name):
            found += [p for p in sorted(directory.iterdir()) if LOOSE_FILE.fullmatch(p.name)]
    return found


def loose_id(path: Path) -> bytes:
    return bytes.fromhex(path.parent.name + path.name)


def delta_header(entry: bytes) -> tuple[int, int, int]:
    """An OFS_DELTA entry: where its distance starts, the distance, where the data starts."""
    at = 0
    while entry[at] & 0x80:  # the type and size
        at += 1
    head = at = at + 1
    byte = entry[at]
    distance = byte & 0x7F
    while byte & 0x80:
        at += 1
        byte = entry[at]
        distance = ((distance + 1) << 7) | (byte & 0x7F)
    return head, distance, at + 1


def ofs_distance(value: int) -> bytes:
    """A delta's distance to its base, in git's offset encoding (the inverse of the above)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        value -= 1
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))
