"""What HEAD holds of the registered playlists, read while a run's requests go out.

A run compares each answer with the playlist's last snapshot and extends its
follower counts; reading and parsing those files for 1,000 playlists is CPU work
that the requests and the rendering need too. From ``FORK_MIN`` playlists a forked
process reads them (forked before any request thread starts, so no thread's lock
is copied mid-use) and sends back small summaries; if it dies, what it did not
send is read here, so the result never depends on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from gitarchive import safejson
from gitarchive.archive import layout
from gitarchive.archive.index import PreviousSnapshot, previous_snapshot
from gitarchive.git.store import Store, TreeReader
from gitarchive.history.parallel import Forked, two_cores

FORK_MIN = 200  # registered playlists from which a forked process reads them
CHUNK = 50  # playlists per message from the forked process


@dataclass
class LastRun:
    """Each registered playlist's last snapshot (summary) and the follower counts of those
    fetched this run (day -> count; empty when none were recorded)."""

    snapshots: dict[str, PreviousSnapshot | None] = field(default_factory=dict)
    followers: dict[str, dict[str, int]] = field(default_factory=dict)

    def update(self, other: LastRun) -> None:
        self.snapshots.update(other.snapshots)
        self.followers.update(other.followers)


def read(head: TreeReader, pids: list[str], wanted: set[str]) -> LastRun:
    """Read here, in this process."""
    return LastRun(
        {pid: previous_snapshot(head, pid) for pid in pids},
        {pid: follower_history(head, pid) for pid in pids if pid in wanted},
    )


class Reading:
    """The reading under way: ``snapshot`` and ``followers`` of a playlist wait only until
    that playlist's part has arrived, so a run renders while the rest is read."""

    def __init__(self, head: TreeReader, pids: list[str], wanted: set[str],
                 forked: Forked[LastRun] | None) -> None:
        self._head, self._pids, self._wanted, self._forked = head, pids, wanted, forked
        self.result = LastRun() if forked is not None else read(head, pids, wanted)

    def snapshot(self, pid: str) -> PreviousSnapshot | None:
        self._until(pid)
        return self.result.snapshots[pid]

    def followers(self, pid: str) -> dict[str, int]:
        self._until(pid)
        return dict(self.result.followers.get(pid, {}))

    def finish(self) -> LastRun:
        """Everything (what the forked process did not send is read here)."""
        if self._forked is not None:
            seen = len(self._forked.received)
            for part in self._forked.finish()[seen:]:
                self.result.update(part)
            self._forked = None
            missing = [pid for pid in self._pids if pid not in self.result.snapshots]
            if missing:  # it died: read the rest here
                self.result.update(read(self._head, missing, self._wanted))
        return self.result

    def close(self) -> None:
        """Stop the forked reading (a run that ends early): it is not left blocked."""
        if self._forked is not None:
            self._forked.close()
            self._forked = None

    def _until(self, pid: str) -> None:
        while pid not in self.result.snapshots:
            if self._forked is None or self._forked.done:
                self.finish()
                return
            for part in self._forked.poll(wait=0.05):  # the request threads run meanwhile
                self.result.update(part)


def start(store: Store, pids: list[str], wanted: list[str]) -> Reading:
    """Start reading ``pids`` (the registry) out of HEAD. Call it before any thread starts."""
    head = store.reader(checkout=True)
    chosen = set(wanted)
    commit = store.head()
    if len(pids) < FORK_MIN or commit is None or not two_cores():
        return Reading(head, pids, chosen, None)
    git_dir, commit_id = store.repo.path, commit.id

    def work() -> Iterator[LastRun]:
        mine = Store(git_dir)
        reader = mine.reader(mine.resolve(str(commit_id)), checkout=True)
        for at in range(0, len(pids), CHUNK):
            yield read(reader, pids[at:at + CHUNK], chosen)

    return Reading(head, pids, chosen, Forked(work))


def follower_history(head: TreeReader, pid: str) -> dict[str, int]:
    """The follower counts recorded so far (day -> count); nothing readable: none."""
    data = head.read(layout.followers_path(pid))
    if not data:
        return {}
    try:
        loaded = safejson.loads(data)
    except ValueError:
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {day: count for day, count in loaded.items() if isinstance(count, int)}
