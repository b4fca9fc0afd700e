"""What changed from version to version of a playlist: ``log`` and ``diff``'s dates.

These read every version of a playlist, so they read each through the replay's
fast snapshot parsers (archive/snapshots.py) with one ParseCache: a track whose
text repeats from the version before is not parsed again, and no Track object is
made but for the tracks that came or went. Parsing every version into a model
Playlist (``Playlist.from_json``) cost ~1 ms per 100 tracks per version, which on
three years of daily versions was most of a ``log``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from gitarchive.archive.model import Link, Track
from gitarchive.archive.snapshots import (
    ParseCache,
    ParsedSnapshot,
    TrackMeta,
    holds_plain_key,
    parse_json_snapshot,
    parse_plain_snapshot,
    plain_key_of,
)
from gitarchive.errors import QueryError, SnapshotError, StoreError
from gitarchive.git.store import Store
from gitarchive.history.events import KIND_JSON, KIND_PLAIN
from gitarchive.questions.formats import by_key, plain_keys
from gitarchive.questions.index import QueryIndex, Write

LATEST = 2**62  # a time after every commit: "now"


@dataclass(frozen=True)
class Version:
    """The playlist's snapshot changed at this commit (source None: no longer archived)."""

    time: int
    oid: str
    kind: str | None
    blob: str | None


def versions(writes: Iterable[Write]) -> Iterator[Version]:
    """Successive snapshots from the raw file writes: JSON wins over plain, as in the replay."""
    current: dict[str, str | None] = {KIND_JSON: None, KIND_PLAIN: None}
    source: tuple[str | None, str | None] = (None, None)
    pending: list[Write] = []

    def flush() -> Iterator[Version]:
        nonlocal source
        for w in pending:
            current[w.kind] = w.blob
        kind = KIND_JSON if current[KIND_JSON] else KIND_PLAIN if current[KIND_PLAIN] else None
        new = (kind, current[kind] if kind else None)
        if new != source:
            source = new
            yield Version(pending[0].time, pending[0].oid, *new)

    for write in writes:
        if pending and (write.time, write.gen, write.oid) != (
            pending[0].time, pending[0].gen, pending[0].oid
        ):
            yield from flush()
            pending = []
        pending.append(write)
    if pending:
        yield from flush()


@dataclass
class Change:
    """What one new snapshot changed; ``name``/``description`` only when they changed.

    ``added``/``removed`` are made from the parsed metadata: ``added_at`` is not set."""

    time: int
    commit: str
    added: list[Track] = field(default_factory=list)
    removed: list[Track] = field(default_factory=list)
    name: str | None = None
    description: str | None = None
    first: bool = False
    archived: bool = True  # False: the snapshot was deleted (no longer archived)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.name is not None
                    or self.description is not None or self.first or not self.archived)


def unreadable(pid: str, commit: str, blob: str, exc: Exception) -> QueryError:
    """The one message for a snapshot a question cannot read."""
    if isinstance(exc, KeyError):
        return QueryError(f"the snapshot of {pid} at {commit[:12]} is unreadable: its object "
                          f"{blob[:12]} is not in this repository (a partial clone?)")
    return QueryError(f"the snapshot of {pid} at {commit[:12]} is unreadable: {exc}")


class Versions:
    """Each version's parsed snapshot by blob id, parsed once, sharing one ParseCache."""

    def __init__(self, store: Store, pid: str) -> None:
        self.store = store
        self.pid = pid
        self._parses = ParseCache()
        self._found: dict[str, ParsedSnapshot] = {}

    def get(self, version: Version) -> ParsedSnapshot | None:
        """The version's snapshot (None: deleted); QueryError if unreadable."""
        if version.blob is None or version.kind is None:
            return None
        found = self._found.get(version.blob)
        if found is None:
            try:
                data = self.store.blob(version.blob)
                found = (parse_json_snapshot(self.pid, data, self._parses)
                         if version.kind == KIND_JSON else parse_plain_snapshot(self.pid, data))
            except (KeyError, StoreError, SnapshotError) as exc:
                raise unreadable(self.pid, version.oid, version.blob, exc) from None
            self._found[version.blob] = found
        return found

    def readable(self, found: Iterable[Version]
                 ) -> Iterator[tuple[Version, ParsedSnapshot | None]]:
        """Versions with their snapshots (None: deleted); unreadable ones are left out."""
        for version in found:
            try:
                yield version, self.get(version)
            except QueryError:
                continue


def keys_of(snap: ParsedSnapshot) -> list[str]:
    return [key for key, _, _ in snap.tracks]


def meta_by_key(snap: ParsedSnapshot, plain: set[str]) -> dict[str, TrackMeta]:
    """As formats.by_key: a track known by its ID whose plain line is one of ``plain``
    goes by that line's key (a change of format is no change of tracks)."""
    return by_key(((key, meta) for key, meta, _ in snap.tracks), plain, plain_key_of)


def track_of(meta: TrackMeta) -> Track:
    return Track(url=meta.url, name=meta.name, album=Link(*meta.album),
                 artists=tuple(Link(*a) for a in meta.artists),
                 duration_ms=meta.duration_ms or 0, added_by=meta.added_by)


def changes(store: Store, index: QueryIndex, pid: str, until: int = LATEST) -> list[Change]:
    """Every change of the playlist up to ``until``, oldest first (followers-only skipped)."""
    parsed = Versions(store, pid)
    found: list[Change] = []
    before: ParsedSnapshot | None = None
    for version, after in parsed.readable(versions(index.writes(pid, until))):
        change = compare(before, after, version)
        if not change.empty:
            found.append(change)
        if after is not None:
            before = after
    return found


def compare(before: ParsedSnapshot | None, after: ParsedSnapshot | None,
            version: Version) -> Change:
    """The change from one snapshot to the next (``after`` None: deleted)."""
    change = Change(version.time, version.oid)
    if after is None:
        change.archived = False
        return change
    change.first = before is None
    if before is None or before.name != after.name:
        change.name = after.name
    if before is not None and before.description != after.description:
        change.description = after.description
    after_keys = keys_of(after)
    before_keys = keys_of(before) if before is not None else []
    plain = (plain_keys(after_keys) | plain_keys(before_keys)
             if holds_plain_key(after_keys) or holds_plain_key(before_keys) else set())
    if before is not None and not plain and before_keys == after_keys:
        return change  # the usual new version: the same tracks, followers or order moved
    old = meta_by_key(before, plain) if before else {}
    new = meta_by_key(after, plain)
    change.added = [track_of(m) for k, m in new.items() if k not in old]
    change.removed = [track_of(m) for k, m in old.items() if k not in new]
    return change


def change_dates(
    store: Store, index: QueryIndex, pid: str, start: int, end: int
) -> tuple[dict[str, int], dict[str, int]]:
    """When each track was last added and last removed within (start, end]."""
    added: dict[str, int] = {}
    removed: dict[str, int] = {}
    found = list(Versions(store, pid).readable(versions(index.writes(pid, end))))
    plain = set().union(*(plain_keys(keys_of(snap)) for _, snap in found if snap is not None))
    base = max((i for i, (v, _) in enumerate(found) if v.time <= start), default=-1)

    def keys(snap: ParsedSnapshot | None) -> set[str]:
        return set(meta_by_key(snap, plain)) if snap is not None else set()

    before = keys(found[base][1] if base >= 0 else None)
    for version, snap in found[base + 1:]:
        now = keys(snap)
        for key in now - before:
            added[key] = version.time
        for key in before - now:
            removed[key] = version.time
        before = now
    return added, removed
