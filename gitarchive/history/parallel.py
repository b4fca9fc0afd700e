"""One fork-and-merge helper: half the work in a forked process, results sent back by pipe.

A whole-history replay and a full rendering of the views are both CPU-bound and
split cleanly by playlist; a forked child (which shares the parent's memory as it
was at the fork, so nothing is pickled on the way in) does one half while this
process does the other, and sends its results back as they are made. If the child
dies, what it did not send is simply missing: the caller does that part itself, so
the result never depends on the child succeeding.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Generic, TypeVar

from gitarchive import forking, stopping

M = TypeVar("M")
T = TypeVar("T")
R = TypeVar("R")


def second_half(pid: str) -> bool:
    """Whether the second process takes this playlist (a stable split, whatever the hash seed)."""
    return hashlib.sha1(pid.encode()).digest()[0] & 1 == 1


class Meanwhile:
    """Work done in a thread from ``start`` (else here by ``finish``), e.g. a file written
    while this process goes on drawing: its waits on the disk overlap that work.

    No fork may happen between ``start`` and ``finish`` (a forked child would copy a
    thread's locks, held or not); ``finish`` waits for it and raises what it raised. As
    a context manager it finishes on the way out; when an error is already on its way
    out, that error stays the one raised (the work's own failure added as a note).
    """

    def __init__(self, work: Callable[[], None] | None) -> None:
        self._work = work
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        if self._work is not None and self._thread is None:
            thread = threading.Thread(target=self._run, args=(self._work,), name="meanwhile")
            thread.start()  # if it cannot start, finish does the work here
            self._thread = thread

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # raised again by finish, in the caller's thread
            self._error = exc

    def finish(self) -> None:
        work, self._work = self._work, None
        if work is None:
            return
        if self._thread is None:
            work()
            return
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> Meanwhile:
        return self

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if error is None:
            self.finish()
            return
        try:
            self.finish()
        except Exception as late:  # the first error is what the caller must see
            error.add_note(f"(meanwhile, this failed too: {late})")


PIPE_BYTES = 1 << 20  # Linux's default most for a pipe (fs.pipe-max-size)


def _widen(end: Connection) -> None:
    """Let the pipe hold a megabyte (64 KB by default). A message is read in as many
    reads as the pipe holds it in pieces, and between two of them the reading thread
    waits for the GIL while this process's other thread draws: a 2.5 MB message took
    40 waits of up to 5 ms, and the child blocked on sending it (~2 s of a JSON
    rebuild's forked half). Where the size cannot be set, the default stays."""
    try:
        import fcntl

        fcntl.fcntl(end.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (ImportError, OSError):
        pass


def two_cores() -> bool:
    """Whether a second process can run beside this one."""
    return (os.cpu_count() or 1) > 1


class Forked(Generic[M]):
    """``work()`` running in a forked child; each item it yields is sent back as a message.

    ``with Forked(work) as child:`` do this side's half, calling ``child.poll()`` now
    and then to keep the pipe flowing, then ``child.finish()`` for the rest. The
    messages received are in ``child.received`` (fewer than expected if it died).
    ``background``: a thread here takes the messages as they come (this side's half
    cannot call ``poll``), so the child never waits on a full pipe; no ``poll`` then.
    ``drain()`` starts that thread later (until then this process may still fork).
    ``taken``: what becomes of each message as it is taken (in that thread, if any);
    ``ended``: called once the child has sent all it will (it finished, or died).
    ``after``: run by the child once it has sent everything (its end of the pipe closed,
    so ``finish`` returns meanwhile), while this process goes on with what follows, on
    a core that would idle; ``wait`` says whether it ended well.
    """

    def __init__(self, work: Callable[[], Iterable[M]], *, background: bool = False,
                 taken: Callable[[M], M] | None = None,
                 ended: Callable[[], None] | None = None,
                 after: Callable[[], None] | None = None) -> None:
        context = multiprocessing.get_context("fork")
        self._receiver, sender = context.Pipe(duplex=False)
        _widen(self._receiver)
        self._process = context.Process(target=_child_main,
                                        args=(work, sender, self._receiver, after), daemon=True)
        self._after = after is not None
        # The child shares this process's pages until it writes to them (the whole
        # state): forking.prepared keeps its collector off them.
        try:
            with forking.prepared():
                self._process.start()
        except BaseException:  # no child (fork refused: EAGAIN, ENOMEM): no pipe left open
            self._receiver.close()
            raise
        finally:
            sender.close()
        self._open = True
        self._taken, self._ended = taken, ended
        self.received: list[M] = []
        self._thread: threading.Thread | None = None
        if background:
            self.drain()

    def drain(self) -> None:
        """From now on a thread here takes the messages as they come (as ``background``).

        Started late, this process can still fork first (forking.alone: no other thread
        runs), e.g. its own blob reader, instead of starting a new interpreter."""
        if self._thread is None and self._open:
            self._thread = threading.Thread(target=self._drain, daemon=True)
            self._thread.start()

    def _drain(self) -> None:
        while self._open:
            self._take(self.received)

    @property
    def done(self) -> bool:
        """Whether the child has sent everything it will send (finished, or died)."""
        return not self._open

    def poll(self, wait: float = 0.0) -> list[M]:
        """Take the messages that have arrived (waiting up to ``wait`` seconds for a first
        one; the GIL is free meanwhile); returns those new ones."""
        new: list[M] = []
        while self._open and self._receiver.poll(0.0 if new else wait):
            self._take(new)
        self.received.extend(new)
        return new

    def finish(self) -> list[M]:
        """Wait until the child has sent everything (or died); returns all it sent."""
        if self._thread is not None:
            self._thread.join()
        new: list[M] = []
        while self._open:
            self._take(new)
        self.received.extend(new)
        self.close()
        return self.received

    def _take(self, into: list[M]) -> None:
        try:
            message = self._receiver.recv()
        except (EOFError, OSError):  # the child is done, or died
            self._open = False
            if self._ended is not None:
                self._ended()
            return
        into.append(message if self._taken is None else self._taken(message))

    def stop(self) -> None:
        """The child ended now if it still runs (what it sent is taken first, as ``finish``
        does, then ``ended`` is called)."""
        if self._process.is_alive():
            self._process.terminate()
        self.finish()

    def close(self) -> None:
        self._open = False
        self._receiver.close()
        if not self._after:  # else it goes on with ``after``: ``wait``
            self._process.join()

    def wait(self) -> bool:
        """Wait for the child to end; whether it did all it had to (``after`` too)."""
        self._process.join()
        return self._process.exitcode == 0

    def __enter__(self) -> Forked[M]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._receiver.closed:
            if kind is not None:  # failed here: the child's work is not wanted (nor waited for)
                self._process.terminate()
            self.close()


def in_halves(
    items: Sequence[T],
    work: Callable[[Iterable[T]], Iterable[tuple[str, R]]],
    key: Callable[[T], str],
    *,
    batch: int = 1,
    shown: Callable[[Sequence[T]], Iterable[T]] = lambda half: half,
    split: Callable[[Sequence[T]], tuple[Sequence[T], Sequence[T]]] | None = None,
    sent: Callable[[list[tuple[str, R]]], list[tuple[str, R]]] | None = None,
) -> Iterator[tuple[str, R]]:
    """(key, result) of every item, ``work`` done on every second one in a forked child
    (which sends its results ``batch`` at a time) while this process does the others
    (``shown``: wraps this half, e.g. in a progress bar; ``split``: (this process's
    items, the child's), if not every second one). ``sent``: what becomes of a batch
    before the child sends it, e.g. its files written to the objects and replaced by
    their blob ids; this process's results then go through it too, all at once, before
    it waits for the child's. What the child did not send (it died) is done here, so
    the results never depend on it."""
    mine, theirs = split(items) if split is not None else (items[::2], items[1::2])

    def child_work() -> Iterator[list[tuple[str, R]]]:
        results = iter(work(theirs))
        while part := list(islice(results, batch)):
            yield part if sent is None else sent(part)

    with Forked(child_work) as child:
        ours: list[tuple[str, R]] = []
        for made in work(shown(mine)):
            if sent is None:
                yield made
            else:
                ours.append(made)
            child.poll()  # keep the child's pipe flowing while this side works
        yield from sent(ours) if sent is not None else ()
        received = child.finish()
    done: set[str] = set()
    for part in received:
        for name, result in part:
            done.add(name)
            yield name, result
    yield from work([item for item in theirs if key(item) not in done])


def _child_main(work: Callable[[], Iterable[Any]], sender: Connection, receiver: Connection,
                after: Callable[[], None] | None = None) -> None:
    # This child's copy of the parent's end: once the parent closes its own (it gave up on
    # this half), a send here fails instead of waiting (unless another child forked later
    # still holds a copy: then it waits until that child ends).
    receiver.close()
    stopping.in_child()  # Ctrl-C to the group ends it quietly: no "Process ForkProcess-2:"
    try:
        for message in work():
            sender.send(message)
    except (BrokenPipeError, ConnectionResetError):
        return  # the parent no longer wants this half: end quietly, no traceback on stderr
    finally:
        sender.close()
    if after is not None:
        after()
