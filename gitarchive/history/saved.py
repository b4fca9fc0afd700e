"""The incremental state of the cumulative views, kept inside the git directory.

``<git dir>/gitarchive/history-state/`` holds one pickle per playlist and a small
manifest (``manifest.pickle``)::

    {"format": "gitarchive-history/7", "head": "<last commit processed>",
     "gens": {"<commit>": <generation>}, "last_key": (time, gen, "<commit>"),
     "runs": [(time, registry index)],
     "registries": ["<sorted ids joined by NUL>" | None],
     "files": {"<id>": "<id>.<token>.<digest>.pickle" | a shelf's entry (shelf.py)},
     "sizes": {"<file>": bytes},
     "pending": [...], "view_dirty": [...],
     "views": (target, settings, cumulative tree id) | None,
     "links": {"<new id>": "<old id>"}, "candidates": [(old, new, commit)],
     "sources": {"<id>": (json blob, plain blob, digest | None, quiet)},
     "followers": {"<id>": raw blob id of its followers file seen as the layout's own}}

    <id>.<token>.<digest>.pickle: (PLAYLIST_FORMAT, pid, json blob, plain blob (those of
        its last save: "sources" wins), name, url, description, first_run, last_run,
        settled, loaded, dirty, [(key, TrackMeta's fields (those left out: its defaults),
          first_seen, last_seen, removed, stints, added_at, asterisk, in_snapshot, present)],
        {raw chunk of the current snapshot: key},   (delta.py)
        [[first failed run, last failed run, open]])   (fetch gaps, archive/runrecord.py)

Why this shape: a daily run changes a few playlists, so it reads and rewrites only theirs
(plus the manifest), never the whole state — the single 23 MB JSON file of format 1 cost
more than the rest of an incremental run. (A run writing many at once puts them in shelves,
shelf.py: creating a file costs more than writing it.) A playlist's file is written under a
new name and the manifest replaced atomically afterwards, so a run killed half-way leaves
the previous state whole. Pickle is fine: it is our own cache in our own git directory.
Each registry (the playlists registered at a run; a long history holds dozens of ~1,000
ids) is one string: as lists of ids they were most of the manifest and of its pickling.

A playlist's snapshot blobs are in ``sources`` (format 7), authoritative over its file's:
most days most playlists change only their follower count (their JSON blob, nothing the
replay keeps), so fetch moves the blob there (state.HistoryState.move_alone) instead of
rewriting a thousand files. A format 6 manifest is read as is (each file's blobs count).
``followers`` (optional: none, each file is checked whole) lets a daily rebuild check a
followers file by its last line (pictures.py); keyed by content, never wrong for another.

Everything in it is epoch seconds (no display time zone). Each playlist file's size
is in the manifest (checked on load: a truncated file means a replay, with a note) and
its blake2b digest in its name (checked when read). It is a cache: when it is missing,
unreadable, of another format, or written for a history that HEAD no longer contains
(rewritten, rebased, force-pushed), the caller replays the whole history instead.
"""

from __future__ import annotations

import os
import pickle
import secrets
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2

from gitarchive import heal
from gitarchive.archive.snapshots import TrackMeta
from gitarchive.errors import StateError
from gitarchive.git.store import Store
from gitarchive.history import shelf
from gitarchive.history.delta import counts_of
from gitarchive.history.state import (
    HistoryState,
    Loader,
    PlaylistHistory,
    Playlists,
    Source,
    TrackHistory,
    quiet,
)

FORMAT = "gitarchive-history/7"  # 7: the snapshots' blobs in the manifest (sources)
_READ = (FORMAT, "gitarchive-history/6")  # 6: each registry one string; converted as read
PLAYLIST_FORMAT = 5
_LOAD_ERRORS = (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError,
                EOFError, pickle.UnpicklingError)


@dataclass
class SavedState:
    head: str
    gens: dict[str, int]
    state: HistoryState


def state_dir(store: Store) -> Path:
    return store.git_dir / "gitarchive" / "history-state"


def state_path(store: Store) -> Path:
    """The manifest: the file that makes a saved state exist."""
    return state_dir(store) / "manifest.pickle"


def load(store: Store) -> SavedState | None:
    """The saved state, or None when there is none usable (never raises for bad content).
    Only the manifest is read; playlists are read when first accessed."""
    folder = state_dir(store)
    if not state_path(store).is_file():
        return None  # none saved yet (or its directory replaced by a file: save mends it)
    try:
        data = pickle.loads(state_path(store).read_bytes())
        if data.get("format") not in _READ:
            return None
        files: dict[str, str] = dict(data["files"])
        if not shelf.files_of(files.values()) <= set(os.listdir(folder)):
            return None  # a file lost (concurrent save): replay
        damaged = _damaged(folder, data.get("sizes") or {})
        if damaged:
            heal.notice(f"the saved history state of {damaged} is damaged (truncated or "
                        "overwritten); replaying the whole history")
            return None
        state = HistoryState()
        if data["last_key"]:
            time, gen, oid = data["last_key"]
            state.last_key = (int(time), int(gen), str(oid))
        for registry in data["registries"]:
            state.registry_index(_registry(registry))
        state.saved_registries = list(data["registries"])
        state.runs = [(int(t), int(r)) for t, r in data["runs"]]
        state.pending = set(data["pending"])
        state.view_dirty = set(data["view_dirty"])
        state.views = data["views"]
        state.links = dict(data["links"])
        state.candidates = [(str(a), str(b), str(c)) for a, b, c in data["candidates"]]
        state.sources = {str(pid): (j, p, d, bool(q))
                         for pid, (j, p, d, q) in (data.get("sources") or {}).items()}
        state.playlists = Playlists(state, _loader(folder, state), files)
        state.files = files
        state.sizes = {str(k): int(v) for k, v in (data.get("sizes") or {}).items()}
        state.followers = {p: o for p, o in data.get("followers", {}).items() if type(o) is bytes}
        return SavedState(str(data["head"]), dict(data["gens"]), state)
    except _LOAD_ERRORS as exc:
        heal.notice(f"the saved history state is unreadable ({type(exc).__name__}); "
                    "replaying the whole history")
        return None


def _registry(text: str | None) -> frozenset[str] | None:
    """A registry as saved: its ids joined by NUL (no git file name holds one)."""
    if text is None:
        return None
    return frozenset(text.split("\0")) if text else frozenset()


def _damaged(folder: Path, sizes: dict[str, int]) -> str | None:
    """The first playlist file whose size differs from the one saved in the manifest."""
    prefix = f"{folder}{os.sep}"  # os.stat of a string: a thousand pathlib objects cost more
    for name, size in sizes.items():
        if os.stat(prefix + name).st_size != size:
            return name.split(".", 1)[0]
    return None


def _loader(folder: Path, state: HistoryState) -> Loader:
    """Reads a playlist by the name ``state`` has for it then (a save may move it: compact)."""
    def load_playlist(pid: str) -> PlaylistHistory:
        try:
            playlist = _playlist_from_row(pickle.loads(shelf.read(folder, state.files[pid])))
        except _LOAD_ERRORS as exc:
            raise StateError(f"the saved history state of {pid} is unreadable ({exc})") from exc
        source = state.sources.get(pid)  # read now: move_alone may have changed it
        if source is not None:
            playlist.json_blob, playlist.plain_blob, playlist.digest, _ = source
        return playlist

    return load_playlist


_META = len(TrackMeta._fields)  # a saved meta this long needs none of TrackMeta's defaults


def _playlist_from_row(row: tuple[Any, ...]) -> PlaylistHistory:
    (fmt, pid, json_blob, plain_blob, name, url, description, first_run, last_run,
     settled, loaded, dirty, rows, chunks, gaps) = row
    if fmt != PLAYLIST_FORMAT:
        raise ValueError("playlist state of another format")
    # Whole metas as tuples (TrackMeta's __new__ is Python), rows unpacked by name: ~25 % less.
    tracks = {key: TrackHistory(tuple.__new__(TrackMeta, m) if len(m) == _META else TrackMeta(*m),
                                first, last, removed, stints, added, asterisk, now, present)
              for key, m, first, last, removed, stints, added, asterisk, now, present in rows}
    return PlaylistHistory(pid, json_blob, plain_blob, name, url, description, first_run,
                           last_run, tracks, set(dirty), loaded, settled, changed=False,
                           chunks=chunks, counts=counts_of(chunks),
                           gaps=[list(gap) for gap in gaps])


def _playlist_row(p: PlaylistHistory) -> tuple[Any, ...]:
    return (
        PLAYLIST_FORMAT, p.pid, p.json_blob, p.plain_blob, p.name, p.url, p.description,
        p.first_run, p.last_run, p.settled, p.loaded, sorted(p.dirty),
        [(key, tuple(t.meta), t.first_seen, t.last_seen, t.removed, t.stints, t.added_at,
          t.asterisk, t.in_snapshot, t.present) for key, t in p.tracks.items()],
        p.chunks,
        p.gaps,
    )


# pid -> (the playlist as written ahead, its settled runs then, its file, the file's size)
Ahead = dict[str, tuple[PlaylistHistory, int, str, int]]


def write_ahead(store: Store, state: HistoryState) -> Ahead:
    """The files of the changed playlists, written now under new names: a daily rebuild
    writes them in a thread while it draws, instead of after its commit. Only settled
    ones (nothing changes them any more); ``save`` names them in the manifest, and
    ``discard`` removes them when the run fails before it saves."""
    folder = heal.cache_dir(state_dir(store))
    token = secrets.token_hex(6)
    runs = len(state.runs)
    written: Ahead = {}
    try:
        due = [(pid, playlist) for pid, playlist in list(state.playlists.loaded().items())
               if (playlist.changed or pid not in state.files) and playlist.settled == runs]
        for start in range(0, len(due), shelf.SHELF):  # a copy of the list: in a thread
            part = due[start:start + shelf.SHELF]
            names = shelf.write_all(folder, token, [(pid, pickled(p)) for pid, p in part],
                                    shelved=len(due) >= shelf.SHELF_MIN)
            written.update((pid, (p, runs, *names[pid])) for pid, p in part)
    except BaseException:
        discard(store, written)
        raise
    return written


def discard(store: Store, ahead: Ahead, deferred: Iterable[str] = ()) -> None:
    """Remove the files ``write_ahead`` wrote, and the ``deferred`` ones of playlists
    left on disk (``AheadWriter.defer``): no manifest will name them."""
    for name in shelf.files_of([*(found[2] for found in ahead.values()), *deferred]):
        heal.remove(state_dir(store) / name)


def pickled(playlist: PlaylistHistory) -> bytes:
    """A playlist's saved file, as bytes. The forked half of a split replay sends its
    playlists so: a quarter of the cost of pickling the objects themselves, and this
    process writes the bytes as they came (``AheadWriter``)."""
    return pickle.dumps(_playlist_row(playlist), protocol=5)


def unpickled(data: bytes) -> PlaylistHistory:
    """The playlist ``pickled`` gave the bytes of (not saved yet: ``changed``). Its
    ``digest`` is not in them (the manifest's sources keep it): None, as a whole-history
    replay leaves it."""
    playlist = _playlist_from_row(pickle.loads(data))
    playlist.changed = True
    return playlist


class AheadWriter:
    """The playlists' files of a whole-history replay, written before the save that names
    them (as ``write_ahead``'s), while this process would otherwise wait for the other
    half: the save after the rebuild's commit then writes only the manifest. A thread
    receiving the other half's playlists writes theirs as they come (``write``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.token = secrets.token_hex(6)
        self.written: Ahead = {}
        self.kept: dict[str, tuple[bool, object]] = {}  # left on disk: has a view, index rows
        self.rows: dict[str, object] = {}  # index rows of the playlists in memory here
        # The questions' index begun by the other process (pieces.IndexRows), once it ended.
        self.prepared: Callable[[], str | None] | None = None
        self._folder: Path | None = None

    def write(self, pid: str, playlist: PlaylistHistory, data: bytes) -> tuple[str, int] | None:
        """One playlist's file from its ``pickled`` bytes: its name and size; on a failure
        to write, None (the save writes it then, and reports what fails)."""
        return self.write_all([(pid, playlist, data)]).get(pid)

    def write_all(self, items: list[tuple[str, PlaylistHistory, bytes]]
                  ) -> dict[str, tuple[str, int]]:
        """Many playlists' files at once (in shelves, shelf.py), as ``write`` writes one;
        none on a failure to write."""
        try:
            names = shelf.write_all(self.folder(), self.token, [(p, d) for p, _, d in items])
        except OSError:
            return {}
        for pid, playlist, _ in items:
            self.written[pid] = (playlist, playlist.settled, *names[pid])
        return names

    def folder(self) -> Path:
        if self._folder is None:
            self._folder = heal.cache_dir(state_dir(self.store))
        return self._folder

    def read(self, pid: str, name: str, size: int) -> PlaylistHistory | None:
        """A playlist from a file another process wrote (``write``), now counted as written
        here; None if it cannot be read back."""
        try:
            playlist = unpickled(shelf.read(self.folder(), name))
        except _LOAD_ERRORS:
            return None
        self.written[pid] = (playlist, playlist.settled, name, size)
        return playlist

    def defer(self, state: HistoryState, found: dict[str, tuple[str, int, Source]]) -> None:
        """Playlists another process wrote (pid -> file, size, source) left on disk, read
        when first asked for as a saved state's are (the save keeps their files)."""
        for pid, (name, size, source) in found.items():
            state.files[pid], state.sizes[shelf.file_of(name)] = name, size
            state.sources[pid] = source
        state.playlists.defer(found, _loader(self.folder(), state))


def save(store: Store, saved: SavedState, ahead: Ahead | None = None) -> None:
    """Write the changed playlists under new names (or take those written ``ahead`` that
    are still current), then replace the manifest atomically."""
    folder = heal.cache_dir(state_dir(store))
    state = saved.state
    old_files = state.files
    files = {pid: old_files[pid] for pid in state.playlists if pid in old_files}
    token = secrets.token_hex(6)
    sizes = dict(state.sizes)  # a daily run writes a few files: the others' sizes are known
    early = ahead or {}
    due: list[tuple[str, PlaylistHistory]] = []
    for pid, playlist in state.playlists.loaded().items():
        if not playlist.changed and pid in files:
            continue
        found = early.get(pid)
        if found is not None and found[0] is playlist and found[1] == playlist.settled:
            sizes[shelf.file_of(found[2])], files[pid] = found[3], found[2]
        else:
            due.append((pid, playlist))
    for start in range(0, len(due), shelf.SHELF):
        names = shelf.write_all(folder, token, [(pid, pickled(p)) for pid, p in
                                                due[start:start + shelf.SHELF]],
                                shelved=len(due) >= shelf.SHELF_MIN)
        for pid, (name, size) in names.items():
            sizes[shelf.file_of(name)], files[pid] = size, name
    for pid, (name, size) in shelf.compact(folder, token, files, sizes).items():
        sizes[shelf.file_of(name)], files[pid] = size, name
    new_sizes = {name: sizes[name] if name in sizes else (folder / name).stat().st_size
                 for name in shelf.files_of(files.values())}
    sources = {pid: state.sources[pid] for pid in files if pid in state.sources}
    for pid, playlist in state.playlists.loaded().items():
        sources[pid] = (playlist.json_blob, playlist.plain_blob, playlist.digest,
                        quiet(playlist))
    known = state.saved_registries
    registries = [known[i] if i < len(known) else None if r is None else "\0".join(sorted(r))
                  for i, r in enumerate(state.registries)]
    manifest = {
        "format": FORMAT,
        "head": saved.head,
        "gens": saved.gens,
        "last_key": state.last_key,
        "runs": state.runs,
        "registries": registries,
        "files": files,
        "sizes": new_sizes,
        "pending": sorted(state.pending),
        "view_dirty": sorted(state.view_dirty),
        "views": state.views,
        "links": state.links,
        "candidates": state.candidates,
        "sources": sources,
        "followers": {pid: oid for pid, oid in state.followers.items() if pid in files},
    }
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".manifest.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pickle.dumps(manifest, protocol=5))
        heal.remove(state_path(store), only_if_dir=True)  # a folder in the manifest's place
        os.replace(tmp, state_path(store))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for playlist in state.playlists.loaded().values():
        playlist.changed = False
    state.files = files
    state.sizes = new_sizes
    state.sources.clear()  # the same dict: the loader reads it
    state.sources.update(sources)
    state.saved_registries = registries
    keep = shelf.files_of(files.values())
    # Every file no manifest names goes, not only those replaced: a run killed after
    # write_ahead (while it drew or committed) left its files unnamed (~1,000 names listed).
    for name in os.listdir(folder):
        if name.endswith(".pickle") and name not in keep and name != "manifest.pickle":
            heal.remove(folder / name)
    (store.git_dir / "gitarchive" / "history-state.json").unlink(missing_ok=True)  # format 1


def still_valid(store: Store, saved: SavedState, head: pygit2.Commit) -> bool:
    """Whether the saved state describes an ancestor of ``head`` (else: rewritten history)."""
    repo = store.repo
    try:
        old = pygit2.Oid(hex=saved.head)
        if old not in repo:
            return False
        if old == head.id:
            return True
        return bool(repo.descendant_of(head.id, old))
    except (ValueError, pygit2.GitError):
        return False
