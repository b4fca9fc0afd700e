"""Read many blobs in a known order from a second process, with pygit2.

A whole-history replay reads tens of thousands of snapshot blobs and parses each.
Reading them in another process lets the second core inflate deltas while this one
parses, the way ``git cat-file --batch`` would, but through pygit2 like every other
git operation of gitarchive. The reader also skips libgit2's per-read SHA-1 check
(git does not verify objects on read either; ``git fsck`` does).

Protocol: the parent writes hex ids, one per line; the child answers each with an
8-byte big-endian length and the content, or MISSING when it cannot read it.

    python -m gitarchive.blobstream GIT_DIR
"""

from __future__ import annotations

import contextlib
import struct
import subprocess
import sys
import threading
from collections import Counter, deque
from collections.abc import Sequence
from typing import IO

import pygit2

MISSING = 0xFFFF_FFFF_FFFF_FFFF
MIN_BLOBS = 2000  # below this, starting a process costs more than it saves


class BlobStream:
    """Blobs of ``plan`` (hex ids, in order), read ahead by a child process.

    ``read(oid)`` returns the content; an id asked out of plan, or any failure of the
    child, is read here with pygit2 instead, so callers never see the difference.
    """

    def __init__(self, repo: pygit2.Repository, plan: Sequence[str]) -> None:
        self.repo = repo
        self.plan = deque(plan)
        self.remaining = Counter(plan)
        self.proc: subprocess.Popen[bytes] | None = None
        if len(plan) < MIN_BLOBS:
            return
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gitarchive.blobstream", repo.path],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )
        except OSError:
            return
        assert self.proc.stdin is not None
        threading.Thread(target=_feed, args=(self.proc.stdin, list(plan)), daemon=True).start()

    def read(self, oid: str) -> bytes:
        if self.proc is not None and self.remaining[oid] > 0:
            try:
                while self.plan:
                    upcoming = self.plan.popleft()
                    self.remaining[upcoming] -= 1
                    data = self._next()
                    if upcoming == oid:
                        if data is None:
                            break
                        return data
            except (OSError, ValueError):
                self.close()
        return self.repo[oid].data

    def _next(self) -> bytes | None:
        assert self.proc is not None and self.proc.stdout is not None
        out = self.proc.stdout
        header = out.read(8)
        if len(header) != 8:
            raise ValueError("blob reader stopped")
        (size,) = struct.unpack(">Q", header)
        if size == MISSING:
            return None
        data = out.read(size)
        if len(data) != size:
            raise ValueError("blob reader: short read")
        return data

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for stream in (self.proc.stdout, self.proc.stdin):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            self.proc = None

    def __enter__(self) -> BlobStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _feed(stdin: IO[bytes], plan: list[str]) -> None:
    try:
        for i in range(0, len(plan), 1024):
            stdin.write(("\n".join(plan[i:i + 1024]) + "\n").encode())
        stdin.close()
    except (OSError, ValueError):
        pass  # the reader was stopped; the rest is read in the parent


def serve(git_dir: str, source: IO[bytes], sink: IO[bytes]) -> None:
    """The child: answer each id read from ``source`` on ``sink``."""
    pygit2.settings.enable_strict_hash_verification(False)
    odb = pygit2.Repository(git_dir).odb
    for line in source:
        try:
            data = odb.read(line.strip().decode())[1]
        except (KeyError, ValueError, pygit2.GitError):
            sink.write(struct.pack(">Q", MISSING))
            continue
        sink.write(struct.pack(">Q", len(data)))
        sink.write(data)
    sink.flush()


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer)
