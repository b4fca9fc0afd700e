"""What an archive's index shows: the shown name of each playlist, and ``playlists/index.md``.

A fetch writes the index with its snapshots; a merge of two archivers' branches
writes it again for the merged registry. Both read every registered playlist's
last snapshot, so that read (``PreviousSnapshot``) builds no Track objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gitarchive import safejson
from gitarchive.archive import layout, render
from gitarchive.archive.model import Playlist
from gitarchive.errors import SnapshotError
from gitarchive.git.store import TreeReader


def archive_names(
    entries: Mapping[str, layout.RegistryEntry], known: Mapping[str, Snapshot]
) -> dict[str, str]:
    """Unique shown names of the registered playlists with a snapshot (alias, else name)."""
    return unique_names(
        {pid: (entries[pid].alias or snap.original_name, snap.num_followers)
         for pid, snap in known.items()}
    )


def index_file(known: Mapping[str, Snapshot], names: Mapping[str, str]) -> bytes:
    """playlists/index.md for the registered playlists with a snapshot (also used by merges)."""
    return render.index_md(
        (pid, names[pid], snap.track_count) for pid, snap in known.items()
    ).encode()


@dataclass(frozen=True)
class PreviousSnapshot:
    """What a run needs of a playlist's last snapshot, read without building Track objects.

    A run reads every registered playlist's last snapshot; parsing them all into
    the model cost more than rendering the new ones.
    """

    name: str
    original_name: str
    num_followers: int | None
    track_keys: tuple[str, ...]  # in playlist order; see model.track_key

    @property
    def track_count(self) -> int:
        return len(self.track_keys)

    @classmethod
    def of(cls, playlist: Playlist) -> PreviousSnapshot:
        return cls(
            playlist.name,
            playlist.original_name,
            playlist.num_followers,
            tuple(t.key for t in playlist.tracks),
        )

    @classmethod
    def from_json(cls, data: bytes) -> PreviousSnapshot | None:
        """The summary, or None for a snapshot that cannot be read (it is simply replaced)."""
        try:
            raw = safejson.loads(data)
            tracks = raw["tracks"]
            urls = [t["url"] for t in tracks]
            keys = tuple(u.rstrip("/").rsplit("/", 1)[-1] for u in urls if type(u) is str)
            followers = raw.get("num_followers")
            name, original = raw.get("unique_name") or raw["original_name"], raw["original_name"]
            if (
                len(keys) == len(urls) and all(keys)
                and type(original) is str
                and type(name) is str
                and (followers is None or type(followers) is int)
            ):
                return cls(name, original, followers, keys)
        except (ValueError, KeyError, TypeError):
            pass
        try:  # anything unusual (local tracks without url, odd types): the checked parser
            return cls.of(Playlist.from_json(data))
        except SnapshotError:
            return None


Snapshot = Playlist | PreviousSnapshot


def previous_snapshot(head: TreeReader, pid: str) -> PreviousSnapshot | None:
    """The summary of ``pid``'s snapshot in ``head``, or None (none, or unreadable)."""
    data = head.read(layout.pretty_json_path(pid))
    return None if data is None else PreviousSnapshot.from_json(data)


def shown_name(alias: str | None, snapshot: Snapshot | None) -> str:
    """The name a playlist is shown by: its alias, else its snapshot's name."""
    return alias or (snapshot.name if snapshot else "")


def unique_names(bases: dict[str, tuple[str, int | None]]) -> dict[str, str]:
    """Give colliding names ` (2)`, ` (3)` ... in order of follower count (most first)."""
    groups: dict[str, list[tuple[str, int]]] = {}
    for pid, (name, followers) in bases.items():
        groups.setdefault(name, []).append((pid, -1 if followers is None else followers))
    names: dict[str, str] = {}
    for name, members in groups.items():
        members.sort(key=lambda m: (-m[1], m[0]))
        for rank, (pid, _) in enumerate(members, start=1):
            names[pid] = name if rank == 1 else f"{name} ({rank})"
    return names
