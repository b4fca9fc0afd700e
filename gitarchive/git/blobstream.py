"""Read many blobs in a known order from a second process, with pygit2.

A whole-history replay reads tens of thousands of snapshot blobs and parses each.
Reading them in another process lets the second core inflate deltas while this one
parses, the way ``git cat-file --batch`` would, but through pygit2 like every other
git operation of gitarchive. The reader also skips libgit2's per-read SHA-1 check
(git does not verify objects on read either; ``git fsck`` does).

The versions of one file are delta-compressed against each other in a pack, and
libgit2 keeps only a small cache of delta bases: read in history order (every
playlist in turn, day after day) each read re-inflates a whole chain. A whole-history
replay therefore asks for its blobs a few dozen playlists at a time
(history/grouped.py: 1,000 JSON playlists x 365 days, 1.6 s of this process's CPU in
history order, 0.4 s so); for other plans the child also reads a window of the plan
at a time grouped by playlist, and answers in plan order. A window holds up to 600
blobs or about 18 MB (counted from the blobs' headers before they are read); one
window is written while the next is read, so at most two are held.

Where every core is busy already (each half of a split replay), a second process only
adds its pipe, its headers and a second copy of every blob (~0.4-0.5 s of CPU per
half of a 1,000 x 365 JSON replay): ``here`` reads the same windows in this process.

Protocol: the parent writes ``<hex id> <group>`` lines; the child answers each id, in
order, with an 8-byte big-endian length and the content, or MISSING.

    python -m gitarchive.git.blobstream GIT_DIR WINDOW
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import IO

import pygit2

from gitarchive import forking
from gitarchive.git.store import blob_data

MISSING = 0xFFFF_FFFF_FFFF_FFFF
MIN_BLOBS = 2000  # below this, starting a process costs more than it saves
WINDOW = 600  # blobs read grouped at once (~18 MB of snapshots at 30 KB each)
BUDGET = 18 << 20  # bytes of blobs read at once: larger blobs, fewer in a window


class BlobStream:
    """Blobs of ``plan`` (hex ids, in order), read ahead by a child process.

    ``read(oid)`` returns the content; an id asked out of plan, or any failure of the
    child, is read here with pygit2 instead, so callers never see the difference.
    """

    def __init__(self, repo: pygit2.Repository, plan: Sequence[tuple[str, str]], *,
                 here: bool = False) -> None:
        """``plan``: (hex id, group) in reading order; a group's blobs are read together.
        ``here``: by this process, a window at a time (``Windows``), when every core is
        busy already (each half of a split replay): no pipe, no second process."""
        self.repo = repo
        self.plan = [oid for oid, _ in plan]
        self.at = 0  # the next step of the plan the source answers
        # id -> its last step: whether it is still ahead (at or after ``at``) in the plan.
        self.last = {oid: n for n, oid in enumerate(self.plan)}
        self.proc: subprocess.Popen[bytes] | _ForkedReader | None = None
        self.here: Windows | None = None
        if here:
            self.here = Windows(repo.odb, plan)
            return
        if len(plan) < MIN_BLOBS:
            return
        lines = [f"{oid} {group}" for oid, group in plan]
        if forking.alone():
            with contextlib.suppress(OSError):
                self.proc = _ForkedReader(repo.path, lines)
            return
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", __name__, repo.path, str(WINDOW)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )
        except OSError:
            return
        assert self.proc.stdin is not None
        threading.Thread(target=_feed, args=(self.proc.stdin, lines), daemon=True).start()

    def read(self, oid: str) -> bytes:
        if (self.proc is not None or self.here is not None) and self.last.get(oid, -1) >= self.at:
            try:
                while self.at < len(self.plan):
                    upcoming = self.plan[self.at]
                    self.at += 1
                    data = self._next()
                    if upcoming == oid:
                        if data is None:
                            break
                        return data
            except (OSError, ValueError):
                self.close()
        return blob_data(self.repo, oid)

    def _next(self) -> bytes | None:
        if self.here is not None:
            return self.here.next()
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
        self.here = None
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


class Windows:
    """The plan's blobs in plan order, read by this process a window at a time (as ``serve``
    cuts them: each group's versions in a row); one window held at once. The ids stay
    text as the plan gives them (``serve``'s are decoded once) and no context manager is
    entered per blob: a plain replay's 11,522 small blobs took ~15 % less so (0.085
    against 0.10 s, all of them in one process)."""

    def __init__(self, odb: pygit2.Odb, plan: Sequence[tuple[str, str]],
                 window: int | None = None, budget: int | None = None) -> None:
        self.windows = windows(odb, plan, window or WINDOW, budget or BUDGET,
                               run_ends([group for _, group in plan]))
        self.ready: list[bytes | None] = []
        self.at = 0

    def next(self) -> bytes | None:
        """The next blob of the plan (None: missing); ValueError past its end."""
        if self.at == len(self.ready):
            self.ready, self.at = next(self.windows, []), 0
            if not self.ready:
                raise ValueError("past the plan")
        data = self.ready[self.at]
        self.ready[self.at] = None  # held no longer than asked for
        self.at += 1
        return data


class _ForkedReader:
    """The reader as a forked copy of this process, its plan in memory: no interpreter to
    start nor pygit2 to import (~0.15 s of CPU, and the replay's first blobs ~0.2 s
    later). Only while no other thread runs here (forking.alone), forked as
    forking.prepared says (the objects it shares with this process frozen)."""

    stdin = None

    def __init__(self, git_dir: str, lines: list[str]) -> None:
        out, into = os.pipe()
        try:
            with forking.prepared():
                self.pid = os.fork()
        except OSError:
            os.close(out)
            os.close(into)
            raise
        if self.pid == 0:  # the reader: never returns
            code = 0
            try:
                os.close(out)
                with os.fdopen(into, "wb") as sink:
                    serve(git_dir, (line.encode() for line in lines), sink, WINDOW)
            except BaseException:  # the parent reads the rest itself
                code = 1
            finally:
                os._exit(code)
        os.close(into)
        self.stdout = os.fdopen(out, "rb")

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)

    def wait(self) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _feed(stdin: IO[bytes], plan: list[str]) -> None:
    try:
        for i in range(0, len(plan), 1024):
            stdin.write(("\n".join(plan[i:i + 1024]) + "\n").encode())
        stdin.close()
    except (OSError, ValueError):
        pass  # the reader was stopped; the rest is read in the parent


def serve(git_dir: str, source: Iterable[bytes], sink: IO[bytes], window: int = WINDOW,
          budget: int = BUDGET) -> None:
    """The child: answer the ids read from ``source`` on ``sink``, a window at a time.

    A window ends at ``window`` blobs or once its blobs' sizes (from their headers, read
    before the blobs) reach ``budget`` bytes. Sized from the last window's blobs
    instead, a window of long JSON snapshots after one of short plain files (an archive
    that moved to JSON) held 1,200 blobs of 100 KB: most of a rebuild's peak memory.
    While a thread writes one window (the parent takes it as fast as it parses), the
    next is read: at most two windows held, and the parent never waits for a whole
    window to be read (it did, window after window: a third of a replay's time).
    """
    pygit2.settings.enable_strict_hash_verification(False)
    odb = pygit2.Repository(git_dir).odb
    writer = _Writer(sink)
    steps = (tuple(line.decode().split()) for line in source)
    for contents in windows(odb, steps, window, budget):
        if not writer.hand(contents):
            return
    writer.hand(None)


def windows(odb: pygit2.Odb, steps: Iterable[tuple[str, ...]], window: int, budget: int,
            ends: Sequence[bool] | None = None) -> Iterator[list[bytes | None]]:
    """The contents of ``steps`` (``(id, group)``), a window at a time (``serve`` says
    where a window ends), each read grouped (``_read``).

    ``ends`` (``run_ends``): a full window goes on to where no group's run is cut, up to
    half as large again. A replay's plan is its groups of playlists one after another
    (history/grouped.py), each a bit more than a window (64 JSON playlists x 365 days:
    ~730 blobs, ~21 MB): cut inside, each playlist's versions were read in two runs, and
    libgit2 inflated each delta chain twice (0.55 s of CPU for a 1,000 x 365 replay's
    blobs, 0.3 s with the windows cut between groups)."""
    batch: list[tuple[str, ...]] = []
    held = 0
    most, most_held = window + window // 2, budget + budget // 2
    for n, parts in enumerate(steps):
        batch.append(parts)
        held += _size(odb, parts[0]) if parts else 0
        if len(batch) >= window or held >= budget:
            if ends is not None and not ends[n] and len(batch) < most and held < most_held:
                continue
            yield _read(odb, batch)
            batch, held = [], 0
    if batch:
        yield _read(odb, batch)


def run_ends(groups: Sequence[str]) -> list[bool]:
    """Whether a window may end after each step of a plan (its steps' ``groups``) without
    cutting a group's run: no group read before it is read again after it."""
    last = {group: n for n, group in enumerate(groups)}
    ends = []
    reach = -1
    for n, group in enumerate(groups):
        reach = max(reach, last[group])
        ends.append(reach == n)
    return ends


class _Writer:
    """Writes each window in a thread of its own, one window after the other."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.thread: threading.Thread | None = None
        self.failed = False

    def hand(self, contents: list[bytes | None] | None) -> bool:
        """Write ``contents`` once the window before is written (None: just wait for it);
        False once the parent no longer reads."""
        if self.thread is not None:
            self.thread.join()
        if contents is not None and not self.failed:
            self.thread = threading.Thread(target=self._write, args=(contents,), daemon=True)
            self.thread.start()
        return not self.failed

    def _write(self, contents: list[bytes | None]) -> None:
        try:
            _answer(contents, self.sink)
        except BaseException:
            # The parent stopped reading (OSError, ValueError), or this window broke
            # half-written (e.g. MemoryError): either way no later window may follow it,
            # or the parent would take the wrong blobs for the ones it asked for. This
            # reader ends; the parent finds the stream short and reads the rest itself.
            self.failed = True


_UNREADABLE = (KeyError, ValueError, IndexError, pygit2.GitError)


def _size(odb: pygit2.Odb, oid: str) -> int:
    """A blob's size from its header (a delta's is read without inflating the rest)."""
    try:
        return int(odb.read_header(oid)[1])
    except _UNREADABLE:
        return 0  # missing or unreadable: answered as MISSING, holds nothing


def _read(odb: pygit2.Odb, batch: Sequence[tuple[str, ...]]) -> list[bytes | None]:
    """The contents of ``batch`` in its order (None: missing), read grouped (each group's
    versions in a row: a stable sort by group keeps each group's in plan order)."""
    contents: list[bytes | None] = [None] * len(batch)
    groups = [step[1:] for step in batch]
    read = odb.read
    for i in sorted(range(len(batch)), key=lambda i: groups[i]):
        try:
            contents[i] = read(batch[i][0])[1]
        except _UNREADABLE:  # missing or unreadable: answered as MISSING
            contents[i] = None
    return contents


def _answer(contents: list[bytes | None], sink: IO[bytes]) -> None:
    """Write one window's contents, in order."""
    for data in contents:
        if data is None:
            sink.write(struct.pack(">Q", MISSING))
        else:
            sink.write(struct.pack(">Q", len(data)))
            sink.write(data)
    sink.flush()


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer, int(sys.argv[2]))
