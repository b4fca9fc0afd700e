"""A whole-history rebuild shared by two processes a group at a time (sync._replay_split).

Each process takes the next group of playlists nobody has taken, replays it, then
records, draws, renders and writes that group's playlists, and asks for another: the
one that is free takes it. With a fixed half each (a playlist's hash) one process
waited 0.2-0.8 s for the other at the end of a 3.5-5 s JSON rebuild (1,000 x 365; six
traced runs): both replays ended together, but after it the forked one turns its
timelines into rows, pickles its messages and writes its files with no thread beside
it (~0.2-0.3 s more than this one), and the machine's other work falls on either core
(this one was the later in two of the six); a fixed bias towards this process measured
slower whenever this one was the slower side.

The group numbers wait in a pipe made before the fork, 4 bytes each; a read of 4 bytes
takes one whole (a pipe's readers are served one at a time), and no lock is held that a
process dying would keep. Each process takes one group without asking (this one the
first, the child the second), so both always do some. Groups get smaller towards the
end (grouped.tapered), so the two end within a small group's work of each other.
Playlists a link or a rename joins are in one group; the state, timelines, pictures and
views are those of any other split (each group is replayed on a state of its own).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import pygit2

from gitarchive.git.store import Store, blob_data
from gitarchive.history import grouped, shelf
from gitarchive.history import saved as history_state
from gitarchive.history.events import Event
from gitarchive.history.parallel import Forked
from gitarchive.history.pieces import PIECE, IndexRows, Piece, RowsFn, Swaps, written
from gitarchive.history.replay import Problem, Replayer
from gitarchive.history.state import HistoryState
from gitarchive.history.timeline_record import (
    Drawn,
    DrawnBytes,
    Half,
    Recorder,
    Recording,
    Rendered,
    RenderedBytes,
    stored,
)
from gitarchive.progress import ProgressFn, no_progress

_TOKEN = struct.Struct("<I")
HELD = 8 << 20  # bytes of pictures and views a process holds before it stores them
Due = tuple[list[str], Drawn, Rendered]  # playlists whose files are due, pictures, views


class Claims:
    """Group numbers ``0 .. count - 1``, each taken once, by whichever process asks first
    (``mine``). Made before the fork: both processes read the same pipe."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.taken: list[int] = []  # by this process, in order
        tokens = b"".join(_TOKEN.pack(n) for n in range(2, count))
        if len(tokens) > 1 << 16:  # what a pipe holds (grouped.tapered keeps far below)
            raise ValueError(f"{count} groups: more than a pipe holds")
        self._read, write = os.pipe()
        try:
            while tokens:  # an empty pipe takes 64 KB without waiting
                tokens = tokens[os.write(write, tokens):]
        except BaseException:
            os.close(self._read)
            raise
        finally:
            os.close(write)  # then a read of an empty pipe ends: every group is taken

    def mine(self, first: int) -> Iterator[int]:
        """The groups this process takes: ``first`` (0 here, 1 in the child), then each
        next one nobody has taken."""
        if first < self.count:
            self.taken.append(first)
            yield first
        while True:
            try:
                token = os.read(self._read, _TOKEN.size)
            except OSError:
                return
            if len(token) < _TOKEN.size:
                return
            (number,) = _TOKEN.unpack(token)
            self.taken.append(number)
            yield number

    def close(self) -> None:
        if self._read >= 0:
            os.close(self._read)
            self._read = -1


def replayed(repo: pygit2.Repository, state: HistoryState, groups: Sequence[Sequence[Event]],
             numbers: Iterable[int], recording: Recording | None, swaps: Swaps,
             problems: list[Problem]) -> Iterator[tuple[list[str], Recording | None]]:
    """The groups ``numbers`` replayed one after another (``grouped.replayed_groups``: each
    on a state of its own, joined into ``state``), their blobs read here; after each, its
    playlists and its timelines (a Recording of that group's alone, None if not asked).
    Each group parses with a cache of its own (``grouped.group_chunker``)."""
    made: list[Recording | None] = [None]

    def replayer(target: HistoryState, events: Sequence[Event]) -> Replayer:
        mine = made[0] = (None if recording is None else Recording(
            recording.draw, recording.tree, recording.render))
        recorder = (None if mine is None else
                    Recorder(partial(blob_data, repo), mine.timelines))
        return Replayer(target, grouped.read_here(repo, events), None, recorder,
                        grouped.group_chunker())

    for done in grouped.replayed_groups(state, (groups[n] for n in numbers), replayer,
                                        swaps, problems):
        yield done, made[0]


@dataclass
class Made:
    """A process's playlists replayed and made (pictures, views), not yet written: once a
    shelf's worth (``shelf.SHELF``) is held, their saved files go in whole pieces of
    ``PIECE`` and their pictures and views to the objects (one pack), the rest at the end
    (``taken(end=True)``). A group at a time left a pack each, and pieces of fewer than
    ``shelf.SHELF_MIN`` a file per playlist; twice as many pictures held (timeline_record's
    ``MAKE_PIECE``) while the next groups replay made the process tree's peak ~40 MB higher
    (JSON 1,000 x 365: 370-372 against 330-331 MB summed PSS); long histories' pictures are
    larger: stored once ``HELD`` bytes are held too."""

    git_dir: str
    drawn: DrawnBytes = field(default_factory=dict)
    rendered: RenderedBytes = field(default_factory=dict)
    pids: list[str] = field(default_factory=list)  # replayed: their files to write
    made: int = 0  # playlists whose pictures and views are held (drawn, rendered)
    held: int = 0  # their bytes

    def add(self, state: HistoryState, done: list[str], mine: Recording | None) -> None:
        """A replayed group's playlists (settled), their pictures and views made."""
        for pid in done:
            state.playlists[pid]  # noqa: B018 (settled: nothing changes them any more)
        self.pids.extend(done)
        if mine is not None:
            drawn, rendered = mine.drawn_bytes(state, sorted(set(done) | set(mine.timelines)))
            self.drawn.update(drawn)
            self.rendered.update(rendered)
            self.made += len(done)
            self.held += sum(len(c) for files in drawn.values() for c in files.values()) + sum(
                len(c) for files in rendered.values() for _, c in files)

    def taken(self, end: bool = False) -> Due:
        """The playlists whose files are due, and the pictures and views due, stored (none
        before there are enough of them, or the ``end``)."""
        pids: list[str] = []
        if end or len(self.pids) >= shelf.SHELF:  # whole pieces (and shelves) of PIECE
            cut = len(self.pids) if end else len(self.pids) - len(self.pids) % PIECE
            pids, self.pids = self.pids[:cut], self.pids[cut:]
        if not end and self.made < shelf.SHELF and self.held < HELD:
            return pids, {}, {}
        made = stored(self.git_dir, self.drawn, self.rendered)
        self.drawn, self.rendered, self.made, self.held = {}, {}, 0, 0
        return pids, *made


def shares(events: Sequence[Event], links: Mapping[str, str]
           ) -> tuple[list[list[Event]], Callable[[str], int]]:
    """The groups a shared replay hands out (tapered), and which group a playlist is in."""
    return grouped.shared_out(events, links, grouped.tapered)


def _made(repo: pygit2.Repository, state: HistoryState, groups: Sequence[Sequence[Event]],
          numbers: Iterable[int], recording: Recording | None, swaps: Swaps,
          problems: list[Problem]) -> Iterator[tuple[Half | None, Due]]:
    """Each group ``numbers`` takes, replayed, recorded and made (``replayed``, ``Made``):
    its timelines as saved (None if not asked), and what is due to be written after it;
    last, with no timelines, what is left (the end)."""
    made = Made(recording.git_dir if recording is not None else "")
    for done, mine in replayed(repo, state, groups, numbers, recording, swaps, problems):
        made.add(state, done, mine)
        yield (mine.half(state, made=False) if mine is not None else None), made.taken()
    yield None, made.taken(end=True)


def shared_here(store: Store, state: HistoryState, groups: Sequence[Sequence[Event]],
                claims: Claims, recording: Recording | None,
                ahead: history_state.AheadWriter | None, rows: RowsFn | None, swaps: Swaps,
                problems: list[Problem], progress: ProgressFn = no_progress) -> None:
    """This process's share, kept here: each group it takes replayed into ``state``, its
    timelines into ``recording`` (as saved: ``halves``), its pictures and views made and
    stored (``recording``'s ``drawn``, ``rendered``), its playlists' files written
    (``ahead``) with their index rows (``rows``)."""
    shown = iter(progress("Replaying history", groups))  # this share's, then the rest
    for half, due in _made(store.repo, state, groups, claims.mine(0), recording, swaps,
                           problems):
        next(shown, None)
        if half is not None and recording is not None:
            # As saved, now: pickled after both processes ended, they took ~0.1 s with a
            # core idle (JSON 1,000 x 365); the forked half sends its own the same way.
            recording.halves.append(half)
        _kept_here(state, due, recording, ahead, rows)
    for _ in shown:
        pass


def _kept_here(state: HistoryState, due: Due, recording: Recording | None,
               ahead: history_state.AheadWriter | None, rows: RowsFn | None) -> None:
    pids, drawn, rendered = due
    if recording is not None:
        recording.drawn.update(drawn)
        recording.rendered.update(rendered)
    if ahead is not None:
        playlists = [(pid, state.playlists[pid]) for pid in pids]
        ahead.write_all([(pid, p, history_state.pickled(p)) for pid, p in playlists])
        if rows is not None:
            ahead.rows.update((pid, rows(p)) for pid, p in playlists)


def child_pieces(store: Store, groups: Sequence[Sequence[Event]], claims: Claims,
                 links: Mapping[str, str], recording: Recording | None, write: bool,
                 rows: RowsFn | None) -> Iterator[Piece]:
    """The forked process's share: each group it takes replayed, recorded, made and written
    as ``shared_here`` does, then sent (its playlists' files' names, or their rows; its
    timelines; its pictures' and views' blob ids); what applies to all of it comes last."""
    state = grouped.fresh_state(links)
    swaps: Swaps = ([], [])
    met: list[Problem] = []
    writer = history_state.AheadWriter(store) if write else None
    for half, due in _made(store.repo, state, groups, claims.mine(1), recording, swaps, met):
        if half is not None:
            yield Piece(half=half)
        yield from _sent(state, due, writer, rows)
    yield Piece(meta=(state.view_dirty, state.pending, met, swaps), last=True)


def beginning(store: Store, events: Sequence[Event], rows: RowsFn | None
              ) -> tuple[str, Callable[[], None]] | None:
    """Where the forked process begins the questions' index, and what it does for it
    once it has sent its share (parallel.Forked's ``after``), if ``rows`` can
    (pieces.IndexRows). Made after the rebuild, its writes table took ~0.12 s with a
    core idle (JSON 1,000 x 365); there it is made while this process saves and commits."""
    if not isinstance(rows, IndexRows):
        return None
    path, git_dir, index = rows.begun_at(store), store.repo.path, rows
    return path, lambda: index.prepare(Store(git_dir), events, path)


def begun(child: Forked[Piece], path: str) -> str | None:
    """The index ``beginning`` began, once the child has ended: None if it did not end well
    or left no file (the index's build writes it all then)."""
    return path if child.wait() and os.path.exists(path) else None


def _sent(state: HistoryState, due: Due,
          writer: history_state.AheadWriter | None, rows: RowsFn | None) -> Iterator[Piece]:
    pids, drawn, rendered = due
    yield from written(state, pids, writer, rows)
    if drawn or rendered:
        yield Piece(drawn=drawn, rendered=rendered)
