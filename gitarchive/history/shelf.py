"""Many playlists' saved files written as one file (a shelf) when many are written at once.

The saved replay state (saved.py) is a file per playlist, so a daily run rewrites only
the few that changed. A whole-history replay writes every one of them, and creating a
file costs far more than writing it: ~1 ms of system CPU each on this project's
machines (a thousand files, a second of a rebuild's two cores, against milliseconds to
write their bytes). So when a run writes many playlists at once, they go into shelves
of ``SHELF`` playlists each, and the manifest names each playlist's place in one:
``<shelf file>:<offset>:<length>:<digest>`` (an *entry*) instead of a file of its own.

A shelf file stays while the manifest names any entry in it (saved.save removes files no
entry or name refers to), so a day that rewrites one of its playlists leaves the others
where they are. Once less than half of a shelf's bytes are still named, the save moves
those entries out (``compact``: their bytes copied as they are) and the shelf goes, so
the dead entries of months of daily runs never outweigh the live ones. Its size is in
the manifest (checked on load, as a playlist file's is), and each entry's blake2b digest
is checked when the entry is read.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from gitarchive import heal

SHELF = 100  # playlists per shelf (a few MB: each is held whole while it is written)
SHELF_MIN = 32  # fewer playlists at once are written as files of their own
SEP = ":"  # no file name of the state holds one (ids, tokens and digests are hex or base62)


def file_of(name: str) -> str:
    """The file a playlist's saved name lives in: the shelf of an entry, else the name."""
    return name.split(SEP, 1)[0]


def files_of(names: Iterable[str]) -> set[str]:
    """The files ``names`` (saved names) live in."""
    return {file_of(name) for name in names}


def read(folder: Path, name: str) -> bytes:
    """The bytes saved under ``name`` (a playlist's file, or an entry of a shelf), checked
    against the digest the name holds. Raises OSError or ValueError when they cannot be
    read as saved."""
    if SEP in name:
        with open(folder / file_of(name), "rb") as handle:
            return _entry(handle, name)
    parts = name.split(".")  # <id>.<token>.<digest>.pickle
    return _checked((folder / name).read_bytes(), parts[2] if len(parts) == 4 else None)


def _entry(handle: BinaryIO, name: str) -> bytes:
    """The bytes of the entry ``name`` of the shelf open as ``handle``, checked."""
    _, offset, length, digest = name.split(SEP)
    handle.seek(int(offset))
    return _checked(handle.read(int(length)), digest)


def _checked(data: bytes, digest: str | None) -> bytes:
    if digest is not None and heal.digest(data) != digest:
        raise ValueError("its checksum does not match (overwritten)")
    return data


def write_one(folder: Path, token: str, pid: str, data: bytes) -> tuple[str, int]:
    """One playlist's file of its own: its name and size."""
    name = f"{pid}.{token}.{heal.digest(data)}.pickle"
    (folder / name).write_bytes(data)
    return name, len(data)


def write_all(folder: Path, token: str, items: Sequence[tuple[str, bytes]],
              shelved: bool | None = None) -> dict[str, tuple[str, int]]:
    """``items`` (pid, bytes) written: pid -> its saved name and the size of the file it is
    in. In shelves of ``SHELF`` when ``shelved`` (by default: ``SHELF_MIN`` or more items),
    else each in a file of its own."""
    if not (len(items) >= SHELF_MIN if shelved is None else shelved):
        return {pid: write_one(folder, token, pid, data) for pid, data in items}
    written: dict[str, tuple[str, int]] = {}
    for start in range(0, len(items), SHELF):
        part = items[start:start + SHELF]
        shelf = f"shelf.{secrets.token_hex(8)}.pickle"
        offset = 0
        names = []
        for _, data in part:
            names.append(SEP.join((shelf, str(offset), str(len(data)), heal.digest(data))))
            offset += len(data)
        with open(folder / shelf, "wb") as handle:
            handle.writelines(data for _, data in part)
        written.update((pid, (name, offset)) for (pid, _), name in zip(part, names, strict=True))
    return written


def compact(folder: Path, token: str, files: Mapping[str, str],
            sizes: Mapping[str, int]) -> dict[str, tuple[str, int]]:
    """The entries of shelves less than half alive (``files``: pid -> saved name, ``sizes``:
    file -> size) written anew, their bytes as they are: pid -> its new name and file size.
    A shelf whose entries cannot be read as saved is left as it is (its loss is found
    where it is loaded, as any damaged file's)."""
    entries: dict[str, list[tuple[str, str]]] = {}
    for pid, name in files.items():
        if SEP in name:
            entries.setdefault(file_of(name), []).append((pid, name))
    moved: list[tuple[str, bytes]] = []
    for file, named in sorted(entries.items()):
        alive = sum(int(name.split(SEP)[2]) for _, name in named)
        if 2 * alive >= sizes.get(file, 0):
            continue
        try:
            with open(folder / file, "rb") as handle:  # once for all its live entries
                moved.extend([(pid, _entry(handle, name)) for pid, name in named])
        except (OSError, ValueError):
            continue
    return write_all(folder, token, moved) if moved else {}
