"""Objects are read without re-hashing only inside unverified_reads(), nested or not."""

from __future__ import annotations

import zlib
from pathlib import Path

import pygit2
import pytest

from gitarchive.git.trust import unverified_reads


def corrupt_blob(tmp_path: Path) -> tuple[pygit2.Repository, pygit2.Oid]:
    """A loose blob whose content no longer matches its id."""
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    oid = repo.create_blob(b"the real content\n")
    path = Path(repo.path) / "objects" / str(oid)[:2] / str(oid)[2:]
    path.chmod(0o644)
    path.write_bytes(zlib.compress(b"blob 17\0the fake content!\n"[:25]))
    return repo, oid


def read(repo: pygit2.Repository, oid: pygit2.Oid) -> bytes:
    fresh = pygit2.Repository(repo.path)  # no object cache
    return fresh[oid].peel(pygit2.Blob).data


def test_verification_is_back_after_nested_uses(tmp_path: Path) -> None:
    repo, oid = corrupt_blob(tmp_path)
    with pytest.raises(pygit2.GitError):
        read(repo, oid)
    with unverified_reads():
        with unverified_reads():
            assert read(repo, oid).startswith(b"the fake")
        assert read(repo, oid).startswith(b"the fake")  # the outer one still holds
    with pytest.raises(pygit2.GitError):
        read(repo, oid)
