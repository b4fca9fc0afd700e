"""Half of a run's requests made by a forked process, on the machine's second core.

While Spotify answers, a run's process is CPU-bound on one core: its request threads
share one GIL (sending, receiving, parsing the answers), the second core mostly idle.
From ``SPLIT_MIN`` playlists a forked copy of the process fetches every second one
with its own connections and half of the concurrency (the requests in flight at once
stay ``jobs``: Spotify's rate limits count them all), parses each answer itself and
sends it back compactly (spotify.wire). Here each of its playlists has a Future like
the others, which a thread resolves as the answers arrive; so the run sees the same
results, errors and order as when this process makes every request.

The token is obtained here before the fork; the copy never asks for one (a rotated
refresh token must be saved once, here). What it cannot do (its token refused or run
out, anything but an answer or Spotify's error for the playlist) it hands back, and this
process makes that request; if it dies, what it did not send is fetched here too: the
result never depends on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor, as_completed
from functools import partial
from typing import Protocol

from gitarchive.errors import CredentialsError, SpotifyError
from gitarchive.history.parallel import Forked, two_cores
from gitarchive.spotify import wire
from gitarchive.spotify.client import HandBack, SpotifyClient
from gitarchive.spotify.parse import FetchResult

SPLIT_MIN = 200  # playlists wanted from which a forked process makes half of the requests


class Source(Protocol):
    """What is fetched from (ops.fetch.PlaylistSource): a SpotifyClient splits."""

    def get_playlist(self, pid: str) -> FetchResult: ...


_DONE, _FAILED, _AGAIN = "done", "failed", "again"  # what the forked process says of one
Said = tuple[str, str, object]  # (what came of it, pid, its wire bytes or error text)


class Requests:
    """The requests of a run: every playlist's Future, made here or in a forked copy.

    Create it before any thread of the run starts (a fork copies every lock as it is);
    ``jobs`` then says how many request threads this process runs.
    """

    def __init__(self, client: Source, wanted: list[str], jobs: int) -> None:
        self._get: Callable[[str], FetchResult] = client.get_playlist
        self.jobs = max(1, jobs)
        self._theirs: dict[str, Future[FetchResult]] = {}
        self._waiting: dict[str, Future[FetchResult]] = {}  # theirs, not received yet
        self._pool: Executor | None = None
        self._child: Forked[Said | None] | None = None
        if (len(wanted) < SPLIT_MIN or jobs < 2 or not isinstance(client, SpotifyClient)
                or not client.forkable or not two_cores()):
            return
        client.access_token()  # here, before the fork: the copy never asks for one
        client.pause.share()  # a 429 either process is told pauses both
        theirs = wanted[1::2]
        try:
            self._child = Forked(partial(_answers, client, theirs, jobs // 2),
                                 taken=self._taken, ended=self._rest_here)
        except OSError:  # no fork (EAGAIN, ENOMEM): every request made here
            return
        self._theirs = {pid: Future() for pid in theirs}
        self._waiting = dict(self._theirs)
        self.jobs = jobs - jobs // 2

    def submit(self, pool: Executor, wanted: list[str]) -> list[Future[FetchResult]]:
        """Every wanted playlist's Future, in order: this process's own submitted to
        ``pool``, the forked process's resolved by a thread as its answers arrive."""
        futures = [self._theirs.get(pid) or pool.submit(self._get, pid) for pid in wanted]
        self._pool = pool
        if self._child is not None:
            self._child.drain()
        return futures

    def close(self) -> None:
        """Stop the forked process if it still runs (a run that ends early), and the
        thread that reads from it."""
        if self._child is not None:
            self._child.stop()

    def _taken(self, said: Said | None) -> None:
        """A playlist resolved with what the forked process sent (in the reading thread);
        what it hands back is fetched here."""
        if not isinstance(said, tuple) or len(said) != 3:  # not as sent (it cannot be):
            return None  # if it named a pid, that one is fetched here at the end
        kind, pid, body = said
        future = self._waiting.pop(pid, None)
        if future is not None and not _resolve(future, kind, body):
            self._fetch_here(pid, future)
        return None  # nothing kept: the Future holds it

    def _rest_here(self) -> None:
        """All the forked process did not send (it ended, or died): fetched here."""
        while self._waiting:
            self._fetch_here(*self._waiting.popitem())

    def _fetch_here(self, pid: str, future: Future[FetchResult]) -> None:
        """Fetch ``pid`` in this process's pool, its result into ``future``."""
        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(self._get(pid))
                except BaseException as exc:  # raised by future.result(), as a pool's would
                    future.set_exception(exc)

        try:
            if self._pool is None:
                raise RuntimeError("no pool")
            self._pool.submit(run)
        except RuntimeError:  # the pool is shut down: the run has ended, nobody waits
            future.cancel()


def _resolve(future: Future[FetchResult], kind: str, body: object) -> bool:
    """``future`` resolved with what the forked process sent; False: fetch it here."""
    if kind == _DONE and isinstance(body, bytes):
        try:
            result = wire.loads(body)
        except Exception:  # not what it sent (it cannot be): this process fetches it
            return False
        if future.set_running_or_notify_cancel():
            future.set_result(result)
        return True
    if kind == _FAILED and isinstance(body, str):
        if future.set_running_or_notify_cancel():
            future.set_exception(SpotifyError(body))  # what the run keeps of it: its text
        return True
    return False


def _one(client: SpotifyClient, pid: str) -> Said:
    """One playlist in the forked process, as what it tells of it."""
    try:
        return (_DONE, pid, wire.dumps(client.get_playlist(pid)))
    except (HandBack, CredentialsError):
        return (_AGAIN, pid, b"")
    except SpotifyError as exc:
        return (_FAILED, pid, str(exc))
    except Exception:  # anything else: this process will meet it again, and say so
        return (_AGAIN, pid, b"")


def _answers(client: SpotifyClient, pids: list[str], jobs: int) -> Iterator[Said | None]:
    """The forked process's work (parallel.Forked sends what it yields): ``pids`` fetched
    with connections of its own, each told as soon as it is answered."""
    client.in_forked_copy()
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        for future in as_completed([pool.submit(_one, client, pid) for pid in pids]):
            yield future.result()
    finally:  # done, or the parent no longer listens: nothing more is asked
        pool.shutdown(wait=False, cancel_futures=True)
