"""What the forked process of a split replay sends back (sync._replay_split), in pieces.

A big message would be pickled whole in the child while the parent reads it (every
byte of it in memory twice), so the child sends its state a few playlists at a time,
and, a rebuild's (claimed.py), each group's timelines as it is replayed and its
pictures and views as they are stored, what applies to all of it last. Its playlists go
as their saved rows (saved.pickled: a quarter of the cost of pickling the objects),
or, when the caller saves the state afterwards (a rebuild), as the saved state's
files the child wrote itself, named in the message: megabytes through the pipe kept
the child waiting on the parent's receiving thread, which shares its GIL with the
parent's own drawing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from gitarchive.git.store import Store
from gitarchive.history import saved as history_state
from gitarchive.history.events import Event
from gitarchive.history.replay import Problem
from gitarchive.history.state import HistoryState, PlaylistHistory, Source, quiet
from gitarchive.history.timeline_record import Drawn, Half, Rendered

RowsFn = Callable[[PlaylistHistory], object]  # a playlist's rows in the questions' index


@runtime_checkable
class IndexRows(Protocol):
    """A ``RowsFn`` that also begins the questions' index (questions/indexing.py): a whole
    replay's forked half, once it has sent its share, writes the index's writes table of
    ``events`` into the file ``begun_at`` names (``prepare``: whole, or no file), while
    this process goes on after the join."""

    def __call__(self, p: PlaylistHistory) -> object: ...

    def begun_at(self, store: Store) -> str: ...

    def prepare(self, store: Store, events: Sequence[Event], path: str) -> None: ...

# (vanished, appeared): (commit, pid, name) of playlists whose snapshot went away / came
Swaps = tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]
# What the child of _replay_split sends back: playlists, view_dirty, pending, problems, swaps,
# and what it recorded besides (its timelines and what it made: none if not asked for).
HalfResult = tuple[dict[str, PlaylistHistory], set[str], set[str], list[Problem], Swaps,
                   list[Half]]


@dataclass
class Piece:
    """A part of what the child of _replay_split sends."""

    playlists: dict[str, PlaylistHistory] = field(default_factory=dict)  # made here (taken)
    rows: dict[str, bytes] = field(default_factory=dict)  # pid -> saved.pickled (as sent)
    files: dict[str, tuple[str, int]] = field(default_factory=dict)  # pid -> its file, size
    lost: bool = False  # a playlist written by the child could not be read back here
    # pid -> (source, has a view, its rows for the questions' index) of playlists written
    # by the child that stay on disk here (``sent``'s ``rows``): none is read back.
    kept: dict[str, tuple[Source, bool, object]] = field(default_factory=dict)
    meta: tuple[set[str], set[str], list[Problem], Swaps] | None = None
    half: Half | None = None
    drawn: Drawn = field(default_factory=dict)
    rendered: Rendered = field(default_factory=dict)
    last: bool = False  # everything was sent


PIECE = 50  # playlists per piece


def written(state: HistoryState, pids: Sequence[str], writer: history_state.AheadWriter | None,
            rows: RowsFn | None = None) -> Iterator[Piece]:
    """Pieces of these playlists of ``state``, a few at a time: with a ``writer``, written
    to the saved state's files and only their names sent (``rows``: with what the parent
    needs of them, which it then leaves on disk), else (or where writing fails) as rows."""
    for start in range(0, len(pids), PIECE):
        piece = Piece()
        items = [(pid, state.playlists[pid], history_state.pickled(state.playlists[pid]))
                 for pid in pids[start:start + PIECE]]
        names = writer.write_all(items) if writer else {}  # shelves (a file each is slow)
        for pid, _, data in items:
            done = names.get(pid)
            if done is None:
                piece.rows[pid] = data
                continue
            piece.files[pid] = done
            if rows is not None:
                p = state.playlists[pid]
                piece.kept[pid] = ((p.json_blob, p.plain_blob, p.digest, quiet(p)),
                                   p.first_run is not None, rows(p))
        yield piece


def rows_of(state: HistoryState, pids: Sequence[str]) -> Iterator[Piece]:
    """Pieces of these playlists of ``state`` (settled: nothing changes them any more) as
    their saved rows, a few at a time."""
    order = sorted(pids)
    for start in range(0, len(order), PIECE):
        yield Piece(rows={pid: history_state.pickled(state.playlists[pid])
                          for pid in order[start:start + PIECE]})


def taken(ahead: history_state.AheadWriter | None, piece: Piece) -> Piece:
    """A piece as kept here (by the thread receiving it): its playlists read from the
    files the child wrote, or made of the rows it sent (then written, ``ahead``)."""
    for pid, data in piece.rows.items():
        playlist = piece.playlists[pid] = history_state.unpickled(data)
        if ahead is not None:
            ahead.write(pid, playlist, data)
    piece.rows = {}
    for pid, (name, size) in piece.files.items():  # sent only when asked for (``ahead``)
        if pid in piece.kept:
            continue  # left on disk (sync._replay_split)
        found = ahead.read(pid, name, size) if ahead is not None else None
        if found is None:
            piece.lost = True  # the child's part is replayed here (assembled)
        else:
            piece.playlists[pid] = found
    return piece


def assembled(pieces: Sequence[Piece]) -> HalfResult | None:
    """The child's whole result from its pieces; None unless all came (the last says so).

    Its playlists in pid order however they came (a group at a time, or all at the end):
    the order the parent's state then holds them in stays that of the child's sorted list."""
    meta = next((piece.meta for piece in pieces if piece.meta is not None), None)
    if not pieces or not pieces[-1].last or meta is None or any(
            piece.lost for piece in pieces):
        return None
    playlists: dict[str, PlaylistHistory] = {}
    halves: list[Half] = []
    made = Half({}, [], {}, {}, {})  # the pictures and views sent in pieces of their own
    for piece in pieces:
        playlists.update(piece.playlists)
        if piece.half is not None:
            halves.append(piece.half)
        made.drawn.update(piece.drawn)
        made.rendered.update(piece.rendered)
    if made.drawn or made.rendered:
        halves.append(made)
    return (dict(sorted(playlists.items())), *meta, halves)
