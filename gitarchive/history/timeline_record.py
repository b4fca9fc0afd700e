"""Timelines recorded while a whole-history replay reads the snapshots: one pass, not two.

A full replay (sync.py) reads and cuts every version of every playlist (delta.py);
the timelines (timeline.py) need the same versions in the same order. Reading the
whole history a second time for them cost as much as the replay itself, so the
Replayer hands each version it applied to a Recorder, which keeps the timelines
exactly as timeline_read.py would have read them: its own rule for which versions
count (a playlist's JSON file, else its plain file, per file name — renames and
links are the replay's business, not the timelines'), its comparison
(``timeline_read.compare``). A version it needs that the replay did not apply
(unreadable, or a renamed history the replay reads under another name) is read and
parsed here, so the result never depends on the replay's shortcuts;
tests/history/test_timeline_record.py compares both ways on every quirk.

An incremental replay (a daily rebuild) records the same way into the saved timelines
(sync.py, when they describe the saved state's commit): a playlist's saved timeline
takes the replay's last version as its own when both read the same file and name the
same tracks (``Recorder._resume``), so the day's new versions are compared by their
new chunks, not parsed whole; tests/history/test_timeline_properties.py holds it equal
to a whole-history read on random daily histories.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitarchive.archive.model import PLAIN_KEY_PREFIX, track_key
from gitarchive.archive.snapshots import (
    ParseCache,
    ParsedSnapshot,
)
from gitarchive.errors import SnapshotError, StoreError
from gitarchive.history.delta import Chunk, Parsed, Version
from gitarchive.history.events import KIND_FOLLOWERS, KIND_JSON, Event
from gitarchive.history.state import HistoryState
from gitarchive.history.timeline import RECENT, Change, Recent, Timeline, Timelines
from gitarchive.history.timeline_read import compare, note_recent, parse_version


class Recorder:
    """Timelines of the playlists whose writes a replay applies (``begin``/``version``/``end``)."""

    def __init__(self, read_blob: Callable[[str], bytes],
                 timelines: dict[str, Timeline] | None = None,
                 resumed: HistoryState | None = None) -> None:
        self.read_blob = read_blob  # for versions the replay did not hand over
        # Filled here (a whole-history replay), or the saved timelines an incremental
        # replay goes on with (timeline_read.begin_recorded), ``resumed`` its saved state.
        self.timelines: dict[str, Timeline] = {} if timelines is None else timelines
        self._resumed = resumed
        self._seen: set[str] = set()  # playlists _resume was tried for
        self._due: dict[str, tuple[str, str]] = {}  # pid -> (kind, blob) to compare now
        self._event: Event | None = None
        self._known: dict[str, dict[Chunk, Parsed]] = {}  # pid -> its last version's chunks
        # Playlists whose last version named each track once, with that chunk's meta kept:
        # the next version can be compared by its new chunks alone (_changed).
        self._clean: set[str] = set()
        self._cache = ParseCache()

    def begin(self, event: Event) -> None:
        """Before the replay applies ``event``: which playlists get a new version."""
        self._event = event
        before: dict[str, tuple[str, str] | None] = {}
        for write in event.writes:
            if write.kind == KIND_FOLLOWERS:
                continue
            timeline = self.timelines.get(write.pid)
            if timeline is None:
                timeline = self.timelines[write.pid] = Timeline(write.pid)
            if self._resumed is not None and write.pid not in self._seen:
                self._seen.add(write.pid)
                self._resume(write.pid, timeline)
            before.setdefault(write.pid, timeline.source)
            if write.kind == KIND_JSON:
                timeline.json_blob = write.blob
            else:
                timeline.plain_blob = write.blob
        self._due = {}
        for pid, old in before.items():
            now = self.timelines[pid].source
            if now is not None and now != old:
                self._due[pid] = now

    def _resume(self, pid: str, timeline: Timeline) -> None:
        """A saved timeline's last version as this run's start (before any new write).

        It is the replay's last version of the playlist when both read the same file and
        name the same tracks, each once (the replay's rule for which file counts is the
        timelines', and both skip the versions they cannot read): then its chunks' keys
        are the saved replay state's and their metadata the timeline's, and the next
        version is compared by its new chunks alone, as in a whole-history replay.
        Otherwise nothing is known and the next version is compared whole.
        """
        order = timeline.order
        playlist = self._resumed.playlists.get(pid) if self._resumed is not None else None
        if not order or playlist is None or playlist.source != timeline.source:
            return
        chunks, tracks = playlist.chunks, timeline.tracks
        if len(chunks) != len(order) or set(chunks.values()) != set(order) or any(
                key not in tracks for key in order):
            return
        self._known[pid] = {chunk: (key, tracks[key], None) for chunk, key in chunks.items()}
        self._clean.add(pid)

    def version(self, pid: str, kind: str, blob: str, version: Version,
                parse: Callable[[Chunk], Parsed]) -> None:
        """The replay applied ``version`` (``kind``, ``blob``) as ``pid``'s snapshot."""
        if self._event is None or self._due.get(pid) != (kind, blob) or version.seq is None:
            return  # not a version the timeline reads here (e.g. a renamed history)
        del self._due[pid]
        known = self._known.setdefault(pid, {})
        chunks = version.chunks
        new = chunks.difference(known)
        for chunk in known.keys() - chunks:
            del known[chunk]
        parsed = version.new or {}  # what the replay parsed already
        for chunk in new:
            found = parsed.get(chunk)
            known[chunk] = found if found is not None else parse(chunk)
        keys = [known[chunk][0] for chunk in version.seq]
        timeline = self.timelines[pid]
        if pid in self._clean and _changed(timeline, version, keys, [known[c] for c in new],
                                           self._event, blob, adopt=kind == KIND_JSON):
            return
        snapshot = ParsedSnapshot(version.name, version.url, version.description,
                                  [known[chunk] for chunk in version.seq])
        compare(timeline, snapshot, self._event, blob, adopt=kind == KIND_JSON)
        tracks = timeline.tracks
        if len(set(keys)) == len(keys) and all(key in tracks for key in keys):
            self._clean.add(pid)  # each key's meta is its one chunk's: _changed may follow
        else:
            self._clean.discard(pid)

    def end(self) -> None:
        """After the event: the versions the replay did not apply are read here."""
        event = self._event
        for pid, (kind, blob) in sorted(self._due.items()):
            self._known.pop(pid, None)
            self._clean.discard(pid)
            try:
                snapshot = parse_version(pid, kind, self.read_blob(blob), self._cache)
            except (SnapshotError, StoreError, KeyError, ValueError):
                continue  # unreadable: skipped, as timeline_read does
            if event is not None:
                compare(self.timelines[pid], snapshot, event, blob, adopt=kind == KIND_JSON)
        self._due = {}
        self._event = None


# Draws the pictures of some playlists: (timeline lookup, pids, their replay state, the tree
# of the commit replayed to) -> pid -> path -> content (pictures.drawer; each half of a
# split replay calls it).
DrawFn = Callable[[Callable[[str], Timeline | None], list[str], HistoryState, str],
                  dict[str, dict[str, bytes]]]
# Renders the cumulative views of some playlists: (state, pids) -> pid -> its files.
RenderFn = Callable[[HistoryState, list[str]], dict[str, list[tuple[str, bytes]]]]


@dataclass
class Half:
    """What the forked half of a split replay recorded, as cheap to send as it can be:
    its timelines as saved (JSON text), its latest changes, its pictures and views."""

    rows: dict[str, str]
    recent: list[Recent]
    digests: dict[tuple[str, int], Timeline]
    drawn: dict[str, dict[str, bytes]]
    rendered: dict[str, list[tuple[str, bytes]]]


@dataclass
class Recording:
    """The timelines a whole-history replay records (and, split, the pictures and the
    cumulative views each half makes of its own playlists while the other does the same:
    nothing big is sent between the processes, and no later fork copies the whole state)."""

    draw: DrawFn | None = None
    tree: str = ""  # the tree of the commit replayed to (its follower counts are drawn)
    render: RenderFn | None = None
    timelines: dict[str, Timeline] = field(default_factory=dict)  # recorded in this process
    halves: list[Half] = field(default_factory=list)  # recorded in a forked one
    drawn: dict[str, dict[str, bytes]] = field(default_factory=dict)
    rendered: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)

    def draw_here(self, state: HistoryState) -> None:
        """Draw the pictures of the timelines recorded in this process, and render the
        views of the playlists in ``state`` (this process's half)."""
        drawn, rendered = self.make(state, sorted(set(self.timelines) | set(state.playlists)))
        self.drawn.update(drawn)
        self.rendered.update(rendered)

    def make(self, state: HistoryState, pids: list[str]
             ) -> tuple[dict[str, dict[str, bytes]], dict[str, list[tuple[str, bytes]]]]:
        """The pictures and views of ``pids`` (those with a timeline / in ``state``)."""
        drawn = {} if self.draw is None else self.draw(
            self.timelines.get, [pid for pid in pids if pid in self.timelines], state,
            self.tree)
        rendered = {} if self.render is None else self.render(
            state, [pid for pid in pids if pid in state.playlists])
        return drawn, rendered

    def made(self) -> tuple[dict[str, dict[str, bytes]], dict[str, list[tuple[str, bytes]]]]:
        """The pictures and views both halves made (pid -> files)."""
        drawn, rendered = dict(self.drawn), dict(self.rendered)
        for half in self.halves:
            drawn.update(half.drawn)
            rendered.update(half.rendered)
        return drawn, rendered

    def half(self, state: HistoryState, *, made: bool = True) -> Half:
        """This process's recording in the form a forked half sends back (``made``: with
        every picture and view made, else none: the caller makes them a few at a time)."""
        if made:
            self.draw_here(state)
        mine = _filled(Timelines(Path(), ()), self.timelines, ())
        digests = {(r.pid, r.index): mine.digest(r) for r in mine.recent}
        return Half({pid: json.dumps(t.to_dict()) for pid, t in mine.loaded.items()},
                    mine.recent, {k: d for k, d in digests.items() if d is not None},
                    self.drawn, self.rendered)

    def timelines_as_of(self, path: Path, head: str, last_key: tuple[int, int, str] | None,
                        gens: Mapping[str, int]) -> Timelines:
        """Every timeline recorded (both halves), as of ``head``: a whole-history read."""
        timelines = _filled(Timelines(path, ()), self.timelines, self.halves)
        timelines.head = head
        timelines.last_key = last_key
        timelines.gens = dict(gens)
        return timelines


def _filled(timelines: Timelines, here: Mapping[str, Timeline], halves: Iterable[Half]
            ) -> Timelines:
    timelines.full = True
    for pid, timeline in here.items():
        timelines.loaded[pid] = timeline
    timelines.pids.update(here)
    timelines.touched.update(here)
    note_recent(timelines, dict.fromkeys(here, 0))
    recent = list(timelines.recent)
    for half in halves:
        timelines.rows.update(half.rows)
        timelines.pids.update(half.rows)
        timelines.touched.update(half.rows)
        timelines.digests.update(half.digests)
        recent.extend(half.recent)
    timelines.recent = sorted(recent, key=lambda r: (r.time, r.pid, r.index))[-RECENT:]
    return timelines


def _changed(timeline: Timeline, version: Version, keys: list[str], new: list[Parsed],
             event: Event, blob: str, *, adopt: bool) -> bool:
    """``compare`` for a version after a clean one, touching only its new chunks' tracks.

    False (nothing done) where ``compare``'s whole walk is needed: a first version, a
    track named twice, or a JSON track that would continue a plain line. Otherwise the
    result is ``compare``'s: without those, a track's meta can only change with its chunk.
    """
    if not timeline.order and not timeline.changes:
        return False
    old_order = timeline.order
    old = set(old_order)
    now = set(keys)
    if len(now) != len(keys):
        return False
    for key, meta, _ in new:
        if adopt and key not in old and not key.startswith(PLAIN_KEY_PREFIX):
            plain = track_key("", meta.name, (a[0] for a in meta.artists), meta.album[0])
            if plain in old:
                return False
    for key, meta, _ in new:
        timeline.tracks[key] = meta
    change = Change(time=event.time, commit=event.oid, blob=blob,
                    added=[k for k in keys if k not in old],
                    removed=[k for k in old_order if k not in now])
    if version.name != timeline.name:
        change.name = version.name
    if version.description != timeline.description:
        change.description = version.description
    timeline.name, timeline.url, timeline.description = (
        version.name, version.url, version.description)
    timeline.order = keys
    if change.added or change.removed or change.name is not None or \
            change.description is not None:
        timeline.changes.append(change)
    return True
