"""Prove a newly written pack before anything it replaces is removed.

A pack whose index lists every object can still hold garbage: a delta's rewritten distance
that points at the wrong base, a byte damaged on its way to the disk. CRCs only prove that
copied bytes equal the old ones. So every object the new index lists is read back from the
disk through an object database that holds the new pack alone (the old packs hold the same
ids and would answer for it otherwise): inflated, its deltas resolved within the pack, and
hashed by libgit2, which compares the hash with the id asked for (its strict hash
verification, on by default and turned on here; tests/git/test_repack.py damages packs to
show that it catches them).
"""

from __future__ import annotations

from pathlib import Path

import pygit2

from gitarchive.git import packfiles
from gitarchive.progress import CountFn, no_count

STEP = 1024  # objects between two progress reports


def verify(pack: Path, expected: set[bytes], progress: CountFn = no_count) -> None:
    """``pack`` (objects/pack/pack-*.pack of an objects directory of its own, .idx beside
    it) lists every id of ``expected`` and each object it lists reads back from it as
    the object its id names; ValueError naming the first that does not."""
    entries = packfiles.read_index(pack.with_suffix(".idx"))
    missing = len(expected - set(entries.ids))
    if missing:
        raise ValueError(f"the new pack lacks {missing} of the objects it replaces")
    pygit2.settings.enable_strict_hash_verification(True)  # libgit2's default: relied on
    odb = pygit2.Odb()
    odb.add_backend(pygit2.OdbBackendPack(str(pack.parent.parent)), 1)
    # In the pack's order: a delta's base comes before it and is still in libgit2's cache.
    order = sorted(range(len(entries.ids)), key=entries.offsets.__getitem__)
    total = len(order)
    for done, i in enumerate(order, 1):
        raw = entries.ids[i]
        try:
            odb.read(pygit2.Oid(raw=raw))
        except (pygit2.GitError, KeyError, ValueError) as exc:
            raise ValueError(f"the new pack is damaged: object {raw.hex()} does not read "
                             "back from it") from exc
        if done % STEP == 0 or done == total:
            progress(done, total)
