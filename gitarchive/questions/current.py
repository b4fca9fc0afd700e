"""Is the query index current? Answered from a few small files, without pygit2.

A question in a new process used to spend most of its time starting up: pygit2 alone
costs more to import than ``search`` takes to answer from the index. Whether the index
can be used as it is depends only on where HEAD points and on the git config the
questions read (the time zone), and both are plain files in the git directory:

- HEAD: ``HEAD``, then the loose ref file or the ``packed-refs`` line it names;
- the config: the repository's ``config`` and the global, XDG and system files libgit2
  reads (their paths come from pygit2 when the record is made), with the environment
  that chose those paths.

After a question (or a rebuild) has brought the index up to HEAD through pygit2,
``remember`` stores a record in the index: HEAD, the config values asked for, the
config files' paths and a digest of their contents. ``open_current`` gives the index
and those values when HEAD and the digest still match, and None whenever anything is
unusual (a worktree's or submodule's ``.git`` file, reftable, a config ``include``, a
repository owned by someone else, a damaged index): the caller then takes the pygit2
path, which is always right, and records again.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gitarchive import heal
from gitarchive.questions.index import FORMAT, QueryIndex, connect, index_file

if TYPE_CHECKING:
    from gitarchive.git.store import Store

RECORD_KEY = "current"  # the meta row holding the record
_OID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_REF = re.compile(r"refs/[A-Za-z0-9._/+-]+")
_ENVIRONMENT = ("HOME", "XDG_CONFIG_HOME", "PROGRAMDATA")  # where libgit2 looks for config


def git_dir_of(repo: Path) -> Path | None:
    """The git directory ``--repo`` names, when it is plainly one: ``repo/.git`` (a
    checkout) or ``repo`` itself (bare). None when in doubt (``.git`` a file, a
    subdirectory of a checkout, both shapes at once, someone else's repository)."""
    dot = repo / ".git"
    itself = _looks_like_git_dir(repo)
    if itself == (dot.is_dir() and not dot.is_symlink()):
        return None  # neither, or both
    found = repo if itself else dot
    if not _looks_like_git_dir(found) or (found / "commondir").exists():
        return None  # a worktree's refs live in the common directory
    try:
        if found.stat().st_uid != os.geteuid():
            return None  # libgit2 refuses such a repository unless safe.directory says
    except OSError:
        return None
    return found


def _looks_like_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def head_oid(git_dir: Path) -> str | None:
    """The commit HEAD points at, read as git's files store refs; None when unsure
    (unborn branch, reftable, a symbolic ref chain, anything unexpected)."""
    if (git_dir / "reftable").exists():
        return None
    text = _read_text(git_dir / "HEAD")
    for _ in range(3):  # HEAD -> a branch; a branch that is itself symbolic is rare
        if text is None:
            return None
        if _OID.fullmatch(text):
            return text
        if not text.startswith("ref: ") or not _REF.fullmatch(name := text[5:].strip()):
            return None
        if ".." in name:
            return None
        loose = _read_text(git_dir / name)
        text = loose if loose is not None else _packed(git_dir, name)
    return None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _packed(git_dir: Path, name: str) -> str | None:
    """The oid of ``name`` in ``packed-refs``, or None."""
    try:
        lines = (git_dir / "packed-refs").read_bytes().decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        oid, _, ref = line.partition(" ")
        if ref == name and _OID.fullmatch(oid):
            return oid
    return None


def fingerprint(git_dir: Path, files: Sequence[str]) -> str | None:
    """A digest of the config files and the environment that chose them; None when a
    file includes another (the included file would be missed)."""
    digest = heal.blake2b(digest_size=16)
    digest.update(str(git_dir).encode())
    for key in sorted(os.environ):
        if key in _ENVIRONMENT or key.startswith("GIT_"):
            digest.update(f"\0{key}={os.environ[key]}".encode(errors="surrogateescape"))
    for name in files:
        try:
            data = Path(name).read_bytes()
        except FileNotFoundError:
            data = b"\0absent"
        except OSError:
            return None
        if b"include" in data.lower():
            return None
        digest.update(f"\0{name}\0{len(data)}\0".encode(errors="surrogateescape") + data)
    return digest.hexdigest()


def config_files(store: Store) -> list[str]:
    """Every config file libgit2 may read for this repository (pygit2 is loaded here)."""
    import pygit2
    from pygit2.enums import ConfigLevel

    files = [str(store.git_dir / "config"), str(store.git_dir / "config.worktree")]
    for level, name in ((ConfigLevel.SYSTEM, "gitconfig"), (ConfigLevel.XDG, "config"),
                        (ConfigLevel.GLOBAL, ".gitconfig"), (ConfigLevel.PROGRAMDATA, "config")):
        for folder in (pygit2.settings.search_path[level] or "").split(os.pathsep):
            if folder:
                files.append(os.path.join(folder, name))
    return files


def remember(store: Store, index: QueryIndex, keys: Sequence[str]) -> None:
    """Record, in ``index`` (just brought up to HEAD through pygit2), what
    ``open_current`` needs to trust it next time: HEAD, the values of the config
    ``keys`` and the digest of the files they come from. Nothing is recorded when
    this module would read HEAD or the git directory differently from pygit2."""
    git_dir = store.git_dir.resolve()
    if index.head is None or head_oid(git_dir) != index.head:
        return
    files = config_files(store)
    before = fingerprint(git_dir, files)
    values = {key: store.config(key) for key in keys}
    if before is None or fingerprint(git_dir, files) != before:
        return  # the config changed while it was read: record nothing
    record = json.dumps({"git_dir": str(git_dir), "head": index.head, "files": files,
                         "fingerprint": before, "values": values}, sort_keys=True)
    with index.db:
        found = index.db.execute("SELECT value FROM meta WHERE key = ?", (RECORD_KEY,)).fetchone()
        if found is None or found[0] != record:
            index.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             (RECORD_KEY, record))


def open_current(repo: Path) -> tuple[QueryIndex, dict[str, str | None]] | None:
    """The index and the remembered config values, when the record shows the index is
    current for ``repo``'s HEAD and config; None otherwise (ask through pygit2)."""
    git_dir = git_dir_of(repo)
    if git_dir is None:
        return None
    git_dir = git_dir.resolve()
    path = index_file(git_dir)
    head = head_oid(git_dir)
    if head is None or not path.is_file() or heal.truncated(path):
        return None
    try:
        db = connect(path)
    except sqlite3.DatabaseError:
        return None
    try:
        meta = dict(db.execute(  # one statement: one consistent view of the three
            "SELECT key, value FROM meta WHERE key IN ('format', 'head', ?)", (RECORD_KEY,)))
        record = json.loads(meta.get(RECORD_KEY, "null"))
    except (sqlite3.DatabaseError, ValueError):
        db.close()
        return None
    if not (meta.get("format") == FORMAT and meta.get("head") == head
            and isinstance(record, dict) and record.get("head") == head
            and record.get("git_dir") == str(git_dir)
            and record.get("fingerprint") is not None
            and fingerprint(git_dir, record.get("files", [])) == record["fingerprint"]):
        db.close()
        return None
    return QueryIndex(db, head), dict(record.get("values", {}))
