"""Synthetic archives for benchmarks: N playlists x D daily commits with realistic churn.

Each day a few percent of the playlists change by a few tracks (additions, removals,
re-additions of earlier tracks, reorders, now and then a rename), and a few percent
of follower counts move. Objects are written with pygit2 directly (tree builders on
the previous day's trees), so a year of 1,000 playlists takes seconds, not hours.

    python -m benchmarks.synth OUT --playlists 1000 --days 365 [--layout plain]
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from gitarchive.archive import render
from gitarchive.archive.model import Link, Playlist, Track

START = 1_672_567_200  # 2023-01-01 10:00 UTC
DAY = 86_400


def playlist_id(n: int) -> str:
    return f"SYN{n:019d}"


def make_track(n: int) -> Track:
    return Track(
        url=f"https://open.spotify.com/track/TRK{n:019d}",
        name=f"Song {n} (feat. Someone)" if n % 7 == 0 else f"Song {n}",
        album=Link(f"Album {n // 10}", f"https://open.spotify.com/album/ALB{n // 10:019d}"),
        artists=tuple(
            Link(f"Artist {n % (97 + i)}", f"https://open.spotify.com/artist/ART{n % 97 + i:019d}")
            for i in range(1 + n % 2)
        ),
        duration_ms=120_000 + (n * 7919) % 240_000,
        added_at=None,
    )


@dataclass
class SynthPlaylist:
    pid: str
    name: str
    tracks: list[int]
    removed: list[int] = field(default_factory=list)
    followers: int = 100

    def snapshot(self, day: int) -> Playlist:
        stamp = f"2023-01-01 00:00:{day % 60:02}"
        return Playlist(
            url=f"https://open.spotify.com/playlist/{self.pid}",
            original_name=self.name,
            description=f"Synthetic playlist {self.pid}",
            owner=Link("Synth", "https://open.spotify.com/user/synth"),
            tracks=tuple(
                Track(**{**make_track(n).__dict__, "added_at": stamp}) for n in self.tracks
            ),
            snapshot_id=f"snap{day}",
            num_followers=self.followers,
            unique_name=self.name,
        )


class SynthArchive:
    """Writes the days of a synthetic archive into a bare repository."""

    def __init__(self, path: Path, playlists: int, *, plain_only: bool, seed: int = 1) -> None:
        self.repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
        self.plain_only = plain_only
        self.rng = random.Random(seed)
        self.next_track = 0
        self.playlists = []
        for i in range(playlists):
            size = self.rng.randint(20, 80)
            self.playlists.append(SynthPlaylist(playlist_id(i), f"Playlist {i}", self._new(size)))
        self.dirs: dict[str, pygit2.Oid | None] = {"plain": None, "pretty": None, "followers": None}
        self.day = 0
        self.tip: pygit2.Oid | None = None
        empty = self.repo.create_blob(b"")
        builder = self.repo.TreeBuilder()
        for p in self.playlists:
            builder.insert(p.pid, empty, pygit2.GIT_FILEMODE_BLOB)
        self.registry = builder.write()

    @classmethod
    def resume(cls, path: Path, playlists: int, *, plain_only: bool, day: int) -> SynthArchive:
        """Continue an archive written earlier (playlists read back from HEAD's snapshots)."""
        self = cls.__new__(cls)
        self.repo = pygit2.Repository(str(path))
        self.plain_only = plain_only
        self.rng = random.Random(day)
        head = self.repo.head.peel(pygit2.Commit)
        root = self.repo[head.tree["playlists"].id]
        self.dirs = {name: (root[name].id if name in root else None)
                     for name in ("plain", "pretty", "followers")}
        empty = self.repo.TreeBuilder().write()
        self.registry = root["registry"].id if "registry" in root else empty
        self.playlists = []
        self.next_track = 10**9
        for i in range(playlists):
            pid = playlist_id(i)
            if plain_only:
                lines = self.repo[root["plain"].id][pid].data.decode().split("\n")
                tracks = [int(line.split(" ")[1]) for line in lines[3:] if line]
                name = lines[0]
            else:
                data = self.repo[self.repo[root["pretty"].id][f"{pid}.json"].id].data
                snap = Playlist.from_json(data)
                tracks = [int(t.url.rsplit("TRK", 1)[1]) for t in snap.tracks]
                name = snap.original_name
            self.playlists.append(SynthPlaylist(pid, name, tracks))
        self.day = day
        self.tip = head.id
        return self

    def _new(self, count: int) -> list[int]:
        start = self.next_track
        self.next_track += count
        return list(range(start, start + count))

    def _churn(self, p: SynthPlaylist) -> None:
        rng = self.rng
        action = rng.random()
        if action < 0.05:
            p.name = f"{p.name.split(' v')[0]} v{self.day}"  # a rename
        for _ in range(rng.randint(1, 3)):
            if p.tracks and rng.random() < 0.45:
                gone = p.tracks.pop(rng.randrange(len(p.tracks)))
                p.removed.append(gone)
        for _ in range(rng.randint(1, 3)):
            if p.removed and rng.random() < 0.2:
                p.tracks.append(p.removed.pop(rng.randrange(len(p.removed))))  # re-addition
            else:
                p.tracks.extend(self._new(1))
        if rng.random() < 0.3:
            rng.shuffle(p.tracks)  # a reorder: JSON changes, plain does not

    def _write_dir(self, name: str, files: dict[str, bytes]) -> None:
        base = self.dirs[name]
        builder = (
            self.repo.TreeBuilder(self.repo[base]) if base is not None else self.repo.TreeBuilder()
        )
        for filename, content in files.items():
            builder.insert(filename, self.repo.create_blob(content), pygit2.GIT_FILEMODE_BLOB)
        self.dirs[name] = builder.write()

    def _files(self, p: SynthPlaylist) -> tuple[dict[str, bytes], dict[str, bytes]]:
        snapshot = p.snapshot(self.day)
        plain = {p.pid: render.plain(snapshot).encode()}
        if self.plain_only:
            return plain, {}
        pretty = {
            f"{p.pid}.json": snapshot.to_json().encode(),
            f"{p.pid}.md": f"# {p.name}\n\n{len(p.tracks)} songs, day {self.day}\n".encode(),
        }
        return plain, pretty

    def add_day(self, *, churn: float = 0.03, follower_churn: float = 0.03) -> pygit2.Oid:
        """One more daily run: every playlist on day 0, then the changed ones."""
        first = self.day == 0
        changed = self.playlists if first else [
            p for p in self.playlists if self.rng.random() < churn
        ]
        if not first:
            for p in changed:
                self._churn(p)
        plain: dict[str, bytes] = {}
        pretty: dict[str, bytes] = {}
        for p in changed:
            a, b = self._files(p)
            plain.update(a)
            pretty.update(b)
        self._write_dir("plain", plain)
        if not self.plain_only:
            self._write_dir("pretty", pretty)
            moved = self.playlists if first else [
                p for p in self.playlists if self.rng.random() < follower_churn
            ]
            for p in moved:
                p.followers += self.rng.randint(-3, 10)
            self._write_dir(
                "followers", {f"{p.pid}.json": f'{{"followers": {p.followers}}}\n'.encode()
                              for p in moved},
            )
        tree = self._root_tree()
        when = START + self.day * DAY + self.rng.randint(0, 600)
        sig = pygit2.Signature("synth", "synth@localhost", when, 0)
        parents = [self.tip] if self.tip is not None else []
        self.tip = self.repo.create_commit(
            "refs/heads/main", sig, sig, f"day {self.day}", tree, parents
        )
        self.day += 1
        return self.tip

    def _root_tree(self) -> pygit2.Oid:
        """playlists/ with today's snapshot dirs; other entries of the tip (cumulative/) kept."""
        playlists = self.repo.TreeBuilder()
        if self.tip is not None:
            tip_tree = self.repo[self.tip].peel(pygit2.Commit).tree
            if "playlists" in tip_tree:
                for entry in self.repo[tip_tree["playlists"].id]:
                    playlists.insert(entry.name, entry.id, entry.filemode)
        for name, oid in self.dirs.items():
            if oid is not None:
                playlists.insert(name, oid, pygit2.GIT_FILEMODE_TREE)
        if not self.plain_only:
            playlists.insert("registry", self.registry, pygit2.GIT_FILEMODE_TREE)
        root = self.repo.TreeBuilder()
        root.insert("playlists", playlists.write(), pygit2.GIT_FILEMODE_TREE)
        return root.write()


def build(path: Path, playlists: int, days: int, *, plain_only: bool = False,
          seed: int = 1) -> SynthArchive:
    archive = SynthArchive(path, playlists, plain_only=plain_only, seed=seed)
    for _ in range(days):
        archive.add_day()
    return archive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--playlists", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--layout", choices=["json", "plain"], default="json")
    args = parser.parse_args()
    build(args.out, args.playlists, args.days, plain_only=args.layout == "plain")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
