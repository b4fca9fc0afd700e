"""Timelines recorded while the replay reads the snapshots (all, or new ones): one pass, not two.

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

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

from gitarchive.archive.model import PLAIN_KEY_PREFIX
from gitarchive.archive.snapshots import ParseCache, ParsedSnapshot, holds_plain_key, plain_key_of
from gitarchive.errors import SnapshotError, StoreError
from gitarchive.git.packwriter import Content, store_all
from gitarchive.git.store import process_repository
from gitarchive.history.delta import Chunk, Parsed, Version
from gitarchive.history.events import KIND_FOLLOWERS, KIND_JSON, Event
from gitarchive.history.state import HistoryState
from gitarchive.history.timeline import RECENT, Change, Recent, Timeline, Timelines
from gitarchive.history.timeline_read import compare, in_order, note_recent, parse_version


class Recorder:
    """Timelines of the playlists whose writes a replay applies (``begin``/``version``/``end``)."""

    def __init__(self, read_blob: Callable[[str], bytes], timelines: dict[str, Timeline],
                 resumed: HistoryState | None = None) -> None:
        self.read_blob = read_blob  # for versions the replay did not hand over
        # Filled here (a whole-history replay), or the saved timelines an incremental
        # replay goes on with (timeline_read.begin_recorded), ``resumed`` its saved state.
        self.timelines = timelines
        self._resumed = resumed
        self._seen: set[str] = set()  # playlists _resume was tried for
        self._due: dict[str, tuple[str, str]] = {}  # pid -> (kind, blob) to compare now
        self._event: Event | None = None
        self._known: dict[str, dict[Chunk, Parsed]] = {}  # pid -> its last version's chunks
        # Playlists whose last version named each track once, with that chunk's meta kept:
        # the next version can be compared by its new chunks alone (_changed).
        self._clean: set[str] = set()
        # For a clean playlist: the keys its last version names, and, while its timeline's
        # ``order`` is not written out (_changed), that version's chunks in order.
        self._keys: dict[str, set[str]] = {}
        self._plain: set[str] = set()  # clean ones whose keys hold a plain line (_changed)
        self._seq: dict[str, list[Chunk]] = {}
        self._last: dict[str, int] = {}  # pid -> the replay's number of the version known
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
        chunks, tracks, keys = playlist.chunks, timeline.tracks, set(order)
        if len(chunks) != len(order) or set(chunks.values()) != keys or any(
                key not in tracks for key in order):
            return
        self._known[pid] = {chunk: (key, tracks[key], None) for chunk, key in chunks.items()}
        self._clean.add(pid)
        self._keys[pid] = keys
        self._note_plain(pid, keys)

    def version(self, pid: str, kind: str, blob: str, version: Version,
                parse: Callable[[Chunk], Parsed], *, after: int | None, number: int) -> None:
        """The replay applied ``version`` (``kind``, ``blob``) as ``pid``'s snapshot.

        ``number`` numbers the versions the replay applies; ``after``: the number of
        the one it applied to the same history before. When that is this recorder's
        last version of ``pid`` too, both started from the same chunks, and the replay's
        differences (``version.new``, ``version.gone``) are this one's.
        """
        last = self._last.pop(pid, None)
        if self._event is None or self._due.get(pid) != (kind, blob) or version.seq is None:
            return  # not a version the timeline reads here (e.g. a renamed history)
        del self._due[pid]
        known = self._known.setdefault(pid, {})
        chunks = version.chunks
        parsed = version.new or {}  # what the replay parsed already
        fresh: dict[Chunk, Parsed] = {}
        if after is not None and last == after and version.gone is not None:
            gone, fresh = version.gone, parsed
        else:
            gone = known.keys() - chunks
            for chunk in chunks.difference(known):
                found = parsed.get(chunk)
                fresh[chunk] = found if found is not None else parse(chunk)
        self._last[pid] = number  # known is made this version's chunks below
        timeline = self.timelines[pid]
        adopt = kind == KIND_JSON
        if pid in self._clean and self._changed(pid, timeline, version, fresh, gone, blob,
                                                adopt=adopt):
            return
        self._write_order(pid)  # compare reads it; known still holds the last version
        for chunk in gone:
            del known[chunk]
        known.update(fresh)
        snapshot = ParsedSnapshot(version.name, version.url, version.description,
                                  [known[chunk] for chunk in version.seq])
        compare(timeline, snapshot, self._event, blob, adopt=adopt)
        keys = timeline.order
        now = set(keys)
        if len(now) == len(version.seq) and all(key in timeline.tracks for key in keys):
            self._clean.add(pid)  # each key's meta is its one chunk's: _changed may follow
            self._keys[pid] = now
            self._note_plain(pid, now)
        else:
            self._clean.discard(pid)
            self._keys.pop(pid, None)

    def _note_plain(self, pid: str, keys: set[str]) -> None:
        """Whether a clean playlist's keys (all of them) hold a plain line: only then can
        a JSON version continue one, and a new track's plain key is made (_changed)."""
        (self._plain.add if holds_plain_key(keys) else self._plain.discard)(pid)

    def _changed(self, pid: str, timeline: Timeline, version: Version,
                 fresh: dict[Chunk, Parsed], gone: set[Chunk], blob: str, *, adopt: bool
                 ) -> bool:
        """``compare`` for a version after a clean one, touching only what changed.

        False (nothing done) where ``compare``'s whole walk is needed: a first version, a
        track named twice, or a JSON track that would continue a plain line. Otherwise the
        result is ``compare``'s: without those, a track's meta can only change with its
        chunk. As the last version named each track once, by one chunk, a key new to the
        playlist is a new chunk's and a key it lost a gone chunk's, so nothing walks the
        whole version; a plain version's timeline ``order`` is kept as its lines and
        written out only when read (``_write_order``, ``finish``).
        """
        old = self._keys[pid]  # a clean playlist's, always
        if not old and not timeline.changes:
            return False
        seq, known, event = version.seq, self._known[pid], self._event
        assert seq is not None and event is not None
        if len(seq) != len(version.chunks):
            return False  # a chunk twice
        gone_keys = {known[chunk][0] for chunk in gone}
        new_keys = {p[0] for p in fresh.values()}
        if len(new_keys) != len(fresh) or any(
                key in old and key not in gone_keys for key in new_keys):
            return False  # a track twice
        if adopt and pid in self._plain and any(  # a JSON track continues a plain line
                key not in old and not key.startswith(PLAIN_KEY_PREFIX)
                and plain_key_of(meta) in old
                for key, meta, _ in fresh.values()):
            return False
        for key, meta, _ in fresh.values():
            timeline.tracks[key] = meta
        added = {chunk: p[0] for chunk, p in fresh.items() if p[0] not in old}
        removed = {chunk: known[chunk][0] for chunk in gone
                   if known[chunk][0] not in new_keys}
        last = self._seq.get(pid)
        change = Change(time=event.time, commit=event.oid, blob=blob,
                        added=in_order(added, seq),
                        removed=(in_order(removed, last) if last is not None else in_order(
                            {key: key for key in removed.values()}, timeline.order)))
        if version.name != timeline.name:
            change.name = version.name
        if version.description != timeline.description:
            change.description = version.description
        timeline.name, timeline.url, timeline.description = (
            version.name, version.url, version.description)
        if change.added or change.removed or change.name is not None or \
                change.description is not None:
            timeline.changes.append(change)
        for chunk in gone:
            del known[chunk]
        known.update(fresh)
        old -= gone_keys
        old |= new_keys
        if holds_plain_key(new_keys if pid not in self._plain else gone_keys):
            self._note_plain(pid, old)  # a plain line came, or one held may have gone
        self._seq[pid] = seq
        if seq and type(seq[0]) is not str:
            # A JSON version's pieces are large, and the retained ones are not those known
            # holds (equal, not the same objects): the order now, rather than a copy of them
            # (25 MB on 1,000 playlists).
            self._write_order(pid)
        return True

    def _write_order(self, pid: str) -> None:
        """``pid``'s timeline order from its last version's chunks, if kept that way."""
        seq = self._seq.pop(pid, None)
        if seq is not None:
            self.timelines[pid].order = list(map(_KEY, map(self._known[pid].__getitem__, seq)))

    def finish(self) -> None:
        """Every timeline's order written out: called once the replay is over."""
        for pid in list(self._seq):
            self._write_order(pid)

    def end(self) -> None:
        """After the event: the versions the replay did not apply are read here."""
        event = self._event
        for pid, (kind, blob) in sorted(self._due.items()):
            self._write_order(pid)
            self._known.pop(pid, None)
            self._last.pop(pid, None)
            self._clean.discard(pid)
            self._keys.pop(pid, None)
            try:
                snapshot = parse_version(pid, kind, self.read_blob(blob), self._cache)
            except (SnapshotError, StoreError, KeyError, ValueError):
                continue  # unreadable: skipped, as timeline_read does
            if event is not None:
                compare(self.timelines[pid], snapshot, event, blob, adopt=kind == KIND_JSON)
        self._due = {}
        self._event = None


DrawnBytes = dict[str, dict[str, bytes]]  # pid -> path -> content, as made (``stored``)
RenderedBytes = dict[str, list[tuple[str, bytes]]]  # pid -> its views' (path, content)
# Draws the pictures of some playlists: (timeline lookup, pids, their replay state, the tree
# of the commit replayed to) (pictures.drawer; each half of a split replay calls it).
DrawFn = Callable[[Callable[[str], Timeline | None], list[str], HistoryState, str], DrawnBytes]
# Renders the cumulative views of some playlists: (state, pids) -> pid -> its files.
RenderFn = Callable[[HistoryState, list[str]], RenderedBytes]


# What the halves of a split replay make: pid -> path -> content, and pid -> its views;
# each content bytes, or the blob it was written to where it was made (packwriter.Stored).
Drawn = dict[str, dict[str, Content]]
Rendered = dict[str, list[tuple[str, Content]]]
# Playlists whose pictures and views are made (and written, one pack) at once: ~15 MB of
# files; 50 left a 2,000-playlist rebuild 40 packs, and nothing here repacks them.
MAKE_PIECE = 200


@dataclass
class Half:
    """What the forked half of a split replay recorded, as cheap to send as it can be: its
    timelines as saved (Timeline.to_row; snapshots' blobs), latest changes, pictures, views."""

    rows: dict[str, bytes]
    recent: list[Recent]
    digests: dict[tuple[str, int], Timeline]
    drawn: Drawn
    rendered: Rendered
    sources: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)


@dataclass
class Recording:
    """The timelines a replay records, whole or incremental (and, split, the pictures and the
    cumulative views each half makes of its own playlists while the other does the same:
    nothing big is sent between the processes, and no later fork copies the whole state)."""

    draw: DrawFn | None = None
    tree: str = ""  # the tree of the commit replayed to (its follower counts are drawn)
    render: RenderFn | None = None
    timelines: dict[str, Timeline] = field(default_factory=dict)  # recorded in this process
    halves: list[Half] = field(default_factory=list)  # recorded in a forked one
    drawn: Drawn = field(default_factory=dict)
    rendered: Rendered = field(default_factory=dict)
    # Set: what is made is written to this repository's objects at once, a piece at a time,
    # and only the blob ids are kept (a whole archive's views and pictures are ~90 MB).
    git_dir: str = ""

    def draw_here(self, state: HistoryState) -> None:
        """Draw the pictures of the timelines recorded in this process, and render the
        views of the playlists in ``state`` (this process's half)."""
        for drawn, rendered in self.made_in_pieces(state):
            self.drawn.update(drawn)
            self.rendered.update(rendered)

    def made_in_pieces(self, state: HistoryState) -> Iterator[tuple[Drawn, Rendered]]:
        """The pictures and views of this process's playlists, MAKE_PIECE at a time."""
        pids = sorted(set(self.timelines) | set(state.playlists))
        for start in range(0, len(pids), MAKE_PIECE):
            yield self.make(state, pids[start:start + MAKE_PIECE])

    def make(self, state: HistoryState, pids: list[str]) -> tuple[Drawn, Rendered]:
        """The pictures and views of ``pids`` (those with a timeline / in ``state``)."""
        return stored(self.git_dir, *self.drawn_bytes(state, pids))

    def drawn_bytes(self, state: HistoryState, pids: list[str]) -> tuple[DrawnBytes, RenderedBytes]:
        """``make``'s pictures and views, as bytes (written to the objects by ``stored``)."""
        drawn = {} if self.draw is None else self.draw(
            self.timelines.get, [pid for pid in pids if pid in self.timelines], state,
            self.tree)
        rendered = {} if self.render is None else self.render(
            state, [pid for pid in pids if pid in state.playlists])
        return drawn, rendered

    def made(self) -> tuple[Drawn, Rendered]:
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
        loaded = mine.loaded.items()
        return Half({pid: t.to_row() for pid, t in loaded}, mine.recent,
                    {k: d for k, d in digests.items() if d is not None}, self.drawn,
                    self.rendered, {pid: (t.json_blob, t.plain_blob) for pid, t in loaded})

    def timelines_as_of(self, path: Path, head: str, last_key: tuple[int, int, str] | None,
                        gens: Mapping[str, int]) -> Timelines:
        """Every timeline recorded (both halves), as of ``head``: a whole-history read."""
        timelines = _filled(Timelines(path, ()), self.timelines, self.halves)
        timelines.head = head
        timelines.last_key = last_key
        timelines.gens = dict(gens)
        return timelines


def stored(git_dir: str, drawn: Mapping[str, Mapping[str, bytes]],
           rendered: Mapping[str, Sequence[tuple[str, bytes]]]) -> tuple[Drawn, Rendered]:
    """Pictures and views with every content written to the objects of ``git_dir`` at once
    (one pack) and stood for by its blob id; as they are without ``git_dir``."""
    contents: list[bytes] = [c for files in drawn.values() for c in files.values()] + [
        c for files in rendered.values() for _, c in files]
    made: Iterator[Content] = iter(
        store_all(process_repository(git_dir), contents) if git_dir else contents)
    return ({pid: {path: next(made) for path in files} for pid, files in drawn.items()},
            {pid: [(path, next(made)) for path, _ in files] for pid, files in rendered.items()})


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
        timelines.sources.update(half.sources)
        recent.extend(half.recent)
    timelines.recent = sorted(recent, key=lambda r: (r.time, r.pid, r.index))[-RECENT:]
    return timelines


_KEY = itemgetter(0)  # a parsed chunk's track key
