"""One lock per archive repository, so overlapping runs (cron, a hook, a person) never interleave.

The lock is ``<git dir>/gitarchive/lock``, held with ``flock``: the kernel drops it when
the holder dies, however it dies (SIGKILL, power loss of a container), so a lock left
by a dead process is simply taken over by the next run. The file also records who
holds it (pid, host, start time, command) so the refused run can say whom it waited
for; that record is informational, the flock is the truth.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from gitarchive import heal, safejson
from gitarchive.errors import LockedError, LockWriteError
from gitarchive.git.store import Store

LOCK_NAME = "lock"


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) the lock, as written in the lock file."""

    pid: int
    host: str
    started: float
    command: str = ""

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started))
        what = f"'{self.command}' " if self.command else ""
        return f"{what}(pid {self.pid} on {self.host}, started {when})"

    def alive(self) -> bool | None:
        """Whether the holder process runs; None when it is on another host (unknowable)."""
        if self.host != socket.gethostname():
            return None
        return pid_alive(self.pid)

    @classmethod
    def read(cls, path: Path) -> Holder | None:
        try:
            data = safejson.loads(path.read_text(encoding="utf-8"))
            return cls(int(data["pid"]), str(data["host"]), float(data["started"]),
                       str(data.get("command", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def lock_path(store: Store) -> Path:
    return store.git_dir / "gitarchive" / LOCK_NAME


class RepoLock:
    """``with RepoLock(store, "fetch"):`` -- raises LockedError at once if another run holds it.

    ``previous`` is the record a dead holder left behind, when this run took its lock over.
    """

    def __init__(self, store: Store, command: str = "") -> None:
        self.path = lock_path(store)
        self.command = command
        self.previous: Holder | None = None
        self._fd: int | None = None

    def acquire(self) -> RepoLock:
        try:
            heal.cache_dir(self.path.parent)  # a file in its place is ours to replace
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # as the umask allows
        except OSError as exc:
            raise LockWriteError(f"cannot create the lock {self.path}: {exc.strerror}",
                                 exc.errno) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                holder = Holder.read(self.path)
                raise LockedError(self.path, holder.describe() if holder else None) from None
            raise
        left = Holder.read(self.path)
        if left is not None and left.pid != os.getpid():
            self.previous = left  # its process died without releasing: taken over
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.time(),
            "command": self.command,
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise LockWriteError(f"cannot write the lock {self.path}: {exc.strerror}",
                                 exc.errno) from exc
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the record and drop the flock; the file stays (removing it would race)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):  # a full disk: the flock below is what matters
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RepoLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

