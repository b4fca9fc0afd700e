"""Keeping objects/pack consistent around a consolidation (git/repack.py).

What must be on disk, and in which order, so that a crash or a power cut at any moment
leaves every object readable: the new pack's files reach the disk before their names do,
their names before any old pack is unlinked; lists of packs that would name a removed one
(a multi-pack-index, objects/info/packs) go or are rewritten before the unlinks; and what
a crashed run left behind is cleared at the start of the next.
"""

from __future__ import annotations

import contextlib
import shutil
import struct
from collections.abc import Sequence
from pathlib import Path

from gitarchive.atomicfile import flush, write_atomic
from gitarchive.git import packfiles
from gitarchive.git.packfiles import Pack

STAGING_PREFIX = "tmp_gitarchive_"


def clear_leftovers(where: Path) -> list[str]:
    """Remove the staging directories a crashed run left (the caller holds the lock, so
    no run of ours is writing one), and a .pack it had moved in without its index (still
    in the staging directory: no old pack was removed yet); what was removed."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for path in sorted(where.iterdir()):
            if not (path.name.startswith(STAGING_PREFIX) and path.is_dir()):
                continue
            for idx in path.glob("pack/pack-*.idx"):
                orphan = where / f"{idx.stem}.pack"
                if orphan.exists() and not (where / idx.name).exists():
                    orphan.unlink()
                    removed.append(orphan.name)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def check_header(pack: Pack, listed: int) -> None:
    """The pack's header counts as many objects as its index lists (``listed``; ValueError:
    damaged)."""
    with pack.path.open("rb") as handle:
        head = handle.read(12)
    if len(head) < 12 or head[:4] != b"PACK":
        raise ValueError(f"{pack.name} is damaged (no pack header)")
    count = struct.unpack(">I", head[8:12])[0]
    if count != listed:
        raise ValueError(f"{pack.name} is damaged (its header counts {count} objects, "
                         f"its index {listed})")


def drop_multi_pack_index(where: Path) -> None:
    """A multi-pack-index (and its bitmap, reverse index, incremental chain) may name packs
    about to be removed: it goes first (readers fall back to each pack's .idx)."""
    for path in sorted(where.glob("multi-pack-index*")):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    flush(where)


def write_pack_list(git_dir: Path, extra: Sequence[Path] = ()) -> None:
    """Rewrite objects/info/packs (for dumb http servers) when there is one, atomically:
    the packs there are now, and ``extra`` (packs about to be removed, still listed)."""
    info = git_dir / "objects" / "info" / "packs"
    if not info.exists():
        return
    names = sorted({p.path.name for p in packfiles.list_packs(git_dir)}
                   | {p.name for p in extra if p.exists()})
    write_atomic(info, ("".join(f"P {name}\n" for name in names) + "\n").encode("ascii"),
                 sync=True)
    flush(info.parent)
