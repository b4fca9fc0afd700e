"""Building archive histories for the cumulative-view tests: commits at chosen times."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

import pygit2

from gitarchive.archive import layout, render
from gitarchive.archive.links import LINKS_PATH
from gitarchive.archive.model import Link, Playlist, Track
from gitarchive.git.store import Store
from gitarchive.history import timeline, timeline_read
from gitarchive.history.sync import save_state, sync
from gitarchive.history.timeline import Timelines

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def pid(n: int) -> str:
    """A valid 22-character playlist id."""
    return f"PL{n:020d}"


def tid(n: int) -> str:
    return f"TR{n:020d}"


def at(day: str, hour: int = 12) -> int:
    """Epoch seconds of ``YYYY-MM-DD`` at ``hour``:00 UTC."""
    return int(datetime.fromisoformat(f"{day}T{hour:02}:00:00+00:00").timestamp())


def track(n: int, added_at: str | None = None) -> Track:
    """Track ``n``: title ``Song n``, artist ``Artist n``, album ``Album n``."""
    return Track(
        url=f"https://open.spotify.com/track/{tid(n)}",
        name=f"Song {n}",
        album=Link(f"Album {n}", f"https://open.spotify.com/album/AL{n:020d}"),
        artists=(Link(f"Artist {n}", f"https://open.spotify.com/artist/AR{n:020d}"),),
        duration_ms=180_000 + n * 1000,
        added_at=added_at,
    )


def playlist(p: str, name: str, tracks: Iterable[Track], description: str = "") -> Playlist:
    return Playlist(
        url=f"https://open.spotify.com/playlist/{p}",
        original_name=name,
        description=description,
        owner=Link("Owner", "https://open.spotify.com/user/owner"),
        tracks=tuple(tracks),
        num_followers=1,
    )


def json_files(snapshot: Playlist) -> dict[str, bytes | None]:
    """The files a fetch writes for one playlist (JSON layout)."""
    p = snapshot.id
    return {
        layout.pretty_json_path(p): snapshot.to_json().encode(),
        layout.pretty_md_path(p): render.pretty_md(snapshot).encode(),
        layout.plain_path(p): render.plain(snapshot).encode(),
    }


def plain_files(snapshot: Playlist) -> dict[str, bytes | None]:
    """The plain-only (pre-2022) layout: just ``playlists/plain/<name>``."""
    return {layout.plain_path(snapshot.id): render.plain(snapshot).encode()}


def registry(*pids: str) -> dict[str, bytes | None]:
    return {layout.registry_path(p): b"" for p in pids}


def snapshot_changes(kind: str, p: str, numbers: Iterable[int], clock: int
                     ) -> dict[str, bytes | None]:
    """The files a commit of ``kind`` changes for playlist ``p`` (random histories):
    a JSON or plain snapshot of tracks ``numbers`` (its follower count from ``clock``:
    "json-followers"), a placeholder, a deletion, a follower
    count, a registration or its removal, or a README edit (no snapshot at all)."""
    if kind == "empty":  # a placeholder: how old archives registered a playlist
        return {layout.plain_path(p): b""}
    snap = playlist(p, f"List {p[-1]}", [track(n) for n in sorted(numbers)])
    if kind == "json":
        return json_files(snap)
    if kind == "json-followers":  # as fetch writes it most days: the follower count moved
        return json_files(replace(snap, num_followers=clock % 997))
    if kind == "plain":
        return plain_files(snap)
    if kind == "delete":
        return {layout.pretty_json_path(p): None, layout.plain_path(p): None}
    if kind == "followers":
        return {layout.followers_path(p): f'{{"x": {clock}}}\n'.encode()}
    if kind == "unregister":
        return {layout.registry_path(p): None}
    if kind == "register":
        return registry(p)
    return {"README.md": f"{clock}\n".encode()}


class History:
    """A repository whose commits get exactly the times and parents a test asks for."""

    def __init__(self, path: str, *, bare: bool = True) -> None:
        self.store = Store.init(path, bare=bare)
        self.repo = self.store.repo

    def tip(self, branch: str = "main") -> pygit2.Oid | None:
        ref = self.repo.references.get(f"refs/heads/{branch}")
        return ref.target if ref is not None else None

    def commit(
        self,
        changes: Mapping[str, bytes | None],
        when: int,
        *,
        branch: str = "main",
        parents: list[pygit2.Oid] | None = None,
        message: str = "run",
        offset: int = 0,
    ) -> pygit2.Oid:
        """Commit ``changes`` on ``branch`` (or on explicit ``parents``) at time ``when``.

        ``offset``: the committer's UTC offset in minutes (real archives mix several).
        """
        if parents is None:
            tip = self.tip(branch)
            parents = [tip] if tip is not None else []
        base = self.repo[parents[0]].peel(pygit2.Commit).tree if parents else None
        tree = self.store.write_tree(base, dict(changes))
        sig = pygit2.Signature("t", "t@example.com", when, offset)
        oid = self.repo.create_commit(None, sig, sig, message, tree, parents)
        self.repo.references.create(f"refs/heads/{branch}", oid, force=True)
        return oid

    def merge(self, into: str, other: str, when: int) -> pygit2.Oid:
        """Merge ``other`` into ``into``; conflicts resolved by taking ``into``'s side."""
        ours, theirs = self.tip(into), self.tip(other)
        assert ours is not None and theirs is not None
        index = self.repo.merge_commits(ours, theirs)
        if index.conflicts is not None:
            for base, mine, _theirs in list(index.conflicts):
                path = (mine or _theirs or base).path  # both renamed away: base's only
                del index.conflicts[path]
                if mine is not None:
                    index.add(pygit2.IndexEntry(path, mine.id, mine.mode))
        tree = index.write_tree(self.repo)
        sig = pygit2.Signature("t", "t@example.com", when, 0)
        oid = self.repo.create_commit(None, sig, sig, "merge", tree, [ours, theirs])
        self.repo.references.create(f"refs/heads/{into}", oid, force=True)
        return oid


def real_changes(h: History, branch: str, kind: str, old: str, new: str
                 ) -> dict[str, bytes | None]:
    """What real archives do besides snapshots (issue 9): ``link`` OLD to NEW, ``unlink``,
    or ``rename`` OLD's files to NEW with the same content (on ``branch``'s tip)."""
    if kind == "link":
        return {LINKS_PATH: f"{old} {new}\n".encode()}
    if kind == "unlink":
        return {LINKS_PATH: None}
    tip = h.tip(branch)
    assert tip is not None
    tree = h.repo[tip].peel(pygit2.Commit).tree
    found: dict[str, bytes | None] = {}
    for path in (layout.plain_path(old), layout.pretty_json_path(old)):
        if path in tree:  # the same content under the other ID, the old file gone
            found[path] = None
            found[path.replace(old, new)] = h.repo[tree[path].id].data
    return found


def date(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def timelines_as_dict(timelines: Timelines) -> dict[str, object]:
    """Everything a timelines file holds (history/timeline.py), comparable with ==."""
    return {
        "timelines": {t.pid: t.to_dict() for t in timelines},
        "recent": [(r.time, r.pid, r.index) for r in timelines.recent],
        "head": timelines.head,
        "last_key": timelines.last_key,
    }


# The two playlists and the first commit time of the random histories (property tests).
PIDS = [pid(1), pid(2)]
START = 1_700_000_000


def sync_and_save(h: History) -> None:
    """An incremental sync, going on with the saved timelines as it replays, then saved."""
    save_state(h.store, sync(h.store, timelines=True))


def read_alone_timelines(store: Store) -> Timelines:
    """The timelines of a whole-history read, nothing saved used (nor saved)."""
    timeline.forget(store)
    return timeline_read.update(store, save=False)


def read_alone(store: Store) -> dict[str, object]:
    return timelines_as_dict(read_alone_timelines(store))


def eight_playlists(path: str, start: int = 1_700_000_000) -> History:
    """Eight JSON playlists over five days from ``start``; the last one only ever an
    unregistered file (a placeholder-like snapshot no run observes)."""
    h = History(path)
    pids = [pid(n) for n in range(1, 9)]
    for day in range(5):
        files = {name: data for n, p in enumerate(pids)
                 for name, data in json_files(playlist(p, f"P{n}", [
                     track(n), track(10 + day), track(20 + n * day)])).items()}
        h.commit({**files, **registry(*pids[:-1])}, start + day * 86_400)
    return h
