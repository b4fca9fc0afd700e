"""A typical day's renders done while the requests are still out, on the second core.

Most days most playlists have the tracks the last run rendered; their files are the
last run's table rows and track list under a new header (gitarchive.ops.rendered). That
render waited for every answer (the names made unique across the archive are known
only then) and took ~0.5 ms a playlist of the one core the run has once the requests are
done, while during the requests the second core was nearly idle.

So from ``FORK_MIN`` playlists on two cores, a process forked before the request
threads start (none of their locks is copied mid-use) is handed each such playlist as
its answer comes, and renders it with the very function the run uses, under the name it
will most likely get. It is handed the playlist's fields with only the count and the
lengths of its tracks (``Lengths``, all that page header reads of them; pickling 100
track objects costs as much as the render) and its tracks' print. The run takes a
result only when the playlist's final name is the one it was rendered under. Whatever it
did not render (it died, a file of the last run could not be read so the rows need the
tracks, the name differs) is rendered as before: the files never depend on it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, cast

from gitarchive.archive import settings
from gitarchive.archive.model import Playlist, Track
from gitarchive.git.store import Store, TreeReader
from gitarchive.history.parallel import Forked, two_cores
from gitarchive.ops import lastrun, rendered, snapfiles

FORK_MIN = 200  # playlists fetched from which a forked process renders while they come

Result = tuple[str, str | None, snapfiles.Made | None]  # pid, name rendered under, files


class _Length:
    """A track as the page header reads it: its length, nothing else (any other field
    asked for is an AttributeError, and the result is not taken)."""

    __slots__ = ("duration_ms",)

    def __init__(self, duration_ms: int) -> None:
        self.duration_ms = duration_ms


class Lengths:
    """A playlist's tracks as the reusing render reads them: how many, and their lengths."""

    def __init__(self, lengths: tuple[int, ...]) -> None:
        self.lengths = lengths

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[_Length]:
        return (_Length(ms) for ms in self.lengths)


def _slim(snapshot: Playlist) -> Playlist:
    """``snapshot`` with its tracks as ``Lengths`` (pickled in microseconds)."""
    lengths = Lengths(tuple(t.duration_ms for t in snapshot.tracks))
    return replace(snapshot, tracks=cast(tuple[Track, ...], lengths))


class Early:
    """The forked renderer: ``offer`` each playlist as it comes, ``take`` what it made."""

    def __init__(self, store: Store, day: str) -> None:
        commit = store.head()
        assert commit is not None
        git_dir, commit_id = store.repo.path, commit.id
        base, newline = settings.githistory_base(store), settings.final_newline(store)
        context = multiprocessing.get_context("fork")
        jobs, self._jobs = context.Pipe(duplex=False)

        def work() -> Iterator[Result]:
            self._jobs.close()  # this child's copy: the parent's end alone says "no more"
            mine = Store(git_dir)
            head = mine.reader(mine.resolve(str(commit_id)), checkout=True)
            last = rendered.load(mine, head, base, newline)
            while True:
                try:
                    job = jobs.recv()
                except (EOFError, OSError):
                    return
                if job is None:
                    return
                yield _render(job, last, head, day, base, newline)

        self._forked: Forked[Result] | None = Forked(work, background=True)
        jobs.close()

    def offer(self, snapshot: Playlist, printed: str) -> None:
        """Render ``snapshot`` (its tracks' print: ``printed``) under its current name."""
        if self._forked is None:
            return
        try:
            self._jobs.send((snapshot.id, _slim(snapshot), printed))
        except OSError:  # it died: the run renders everything itself
            self.close()

    def take(self) -> dict[str, tuple[str, snapfiles.Made]]:
        """pid -> (the name it was rendered under, its files), for all it rendered."""
        if self._forked is None:
            return {}
        self._end()
        received = self._forked.finish()
        self._forked = None
        return {pid: (name, made) for pid, name, made in received
                if name is not None and made is not None}

    def close(self) -> None:
        """Stop it (a run that ends early, or a worker found dead)."""
        if self._forked is not None:
            self._end()
            self._forked.close()
            self._forked = None

    def _end(self) -> None:
        """No more jobs: said in a message (a later fork may hold this end too: no EOF)."""
        with contextlib.suppress(OSError):  # it died
            self._jobs.send(None)
        self._jobs.close()


def _render(job: Any, last: rendered.Last, head: TreeReader, day: str, base: str | None,
            newline: bool) -> Result:
    """One playlist's files, in the forked process; (pid, None, None): not rendered here."""
    pid, snapshot, printed = job
    last.given(pid, snapshot.tracks, printed)
    if not last.likely(snapshot):
        return pid, None, None
    try:
        made = snapfiles.snapshot_files(snapshot, lastrun.follower_history(head, pid), day,
                                        base, newline, last)
    except Exception:  # noqa: BLE001 - e.g. the rows needed the tracks themselves (an
        return pid, None, None  # AttributeError): the run renders it, and says what failed
    return pid, snapshot.name, made


def start(store: Store, fetched: int, day: str) -> Early | None:
    """The forked renderer, when there is enough to render and a core for it (and HEAD, so
    a record can apply). Call it before any thread starts."""
    if fetched < FORK_MIN or store.head() is None or not two_cores():
        return None
    return Early(store, day)
