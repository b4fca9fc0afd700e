"""Synthetic archives for benchmarks: N playlists x D daily commits with realistic churn.

Each day a few percent of the playlists change by a few tracks (additions, removals,
re-additions of earlier tracks, reorders, now and then a rename), and a few percent
of follower counts move (in the JSON era the snapshot holds the count, so a count that
moves alone gives a new snapshot of the same tracks, as fetch writes it). In the JSON era
every live playlist's followers file gets the commit's UTC day, every day
(``{"YYYY-MM-DD": count}``, written by ``snapfiles.followers_json`` as gitarchive's fetch
writes it), so a history holds a followers write per playlist per commit, as a real one
does. Objects are written with
pygit2 directly (tree builders on the previous day's trees), so a year of 1,000
playlists takes about a minute, not hours.

Layouts: ``json`` (today's files), ``plain`` (plain files only, as before 2022), and
``mixed`` (plain-only days, then JSON from ``--json-from`` on, as real archives
changed). ``--quirks`` adds what real spotify-playlist-archive histories hold (issue 9):
playlists registered late by an empty placeholder file, files renamed from a mistyped
ID, playlists re-issued under a new ID with the same name, mixed committer UTC offsets,
artists named like "Tyler, The Creator", files outside today's layout in the first
days, and a few unreadable versions (truncated JSON, plain files that are not UTF-8).

    python -m benchmarks.synth OUT --playlists 1000 --days 365 [--layout plain|mixed]
        [--json-from 200] [--quirks]
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from gitarchive.archive import render
from gitarchive.archive.model import Link, Playlist, SnapshotError, Track
from gitarchive.history.followers_chart import parse_followers
from gitarchive.ops.snapfiles import followers_json

START = 1_672_567_200  # 2023-01-01 10:00 UTC
DAY = 86_400
JSON_FROM = 200  # the mixed layout's first JSON day
CHURN = 0.03  # share of playlists that change on a day (a real archive of 261 playlists: ~0.11)
SNAPSHOT_DIRS = ("plain", "pretty", "followers")
FOLLOWER_CHURN = 0.03  # share of the unchanged playlists whose follower count moves on a day
# Bumped whenever what build() writes changes: benchmarks that keep generated archives
# name them with it (``cached_name``), so an archive of an older generator is never reused.
# 2: followers files as fetch writes them (a day -> count file, every day of the JSON era).
# 3: a count that moves is in that day's snapshot (num_followers), as fetch writes it: a
#    playlist whose count alone moved gets a new JSON snapshot of the same tracks.
GENERATOR = 3
GENERATOR_KEY = "synth.generator"  # the git config entry of an archive that records it


def cached_name(name: str) -> str:
    """The directory name a benchmark keeps a generated archive under: with the generator."""
    return f"{name}-gen{GENERATOR}"


def generator_of(path: Path) -> int | None:
    """The generator that made the archive at ``path`` (its git config records it); None
    for one made before the generator was recorded."""
    value = pygit2.Repository(str(path)).config.get_multivar(GENERATOR_KEY)
    found = list(value)
    return int(found[-1]) if found else None


def commit_day(when: int) -> str:
    """The UTC day of a commit made at ``when``: the key fetch gives that day's count."""
    return time.strftime("%Y-%m-%d", time.gmtime(when))


def added_stamp(day: int) -> str:
    """Spotify's added_at of a track added on ``day``: fixed from then on, as Spotify's is."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(START + day * DAY - 3600))


def playlist_id(n: int) -> str:
    return f"SYN{n:019d}"


def reissued_id(n: int) -> str:
    """The ID Spotify gives playlist ``n`` when it re-issues it."""
    return f"NEW{n:019d}"


def mistyped_id(n: int) -> str:
    """The file name playlist ``n`` was first archived under (corrected by a rename)."""
    return f"SYn{n:019d}"


TYLER = 5  # track numbers n with n % 13 == TYLER have an artist whose name holds ", "


def make_track(n: int) -> Track:
    if n % 13 == TYLER:
        artists: tuple[Link, ...] = (
            Link(f"Tyler, The Creator {n % 5}", f"https://open.spotify.com/artist/TYL{n % 5:019d}"),
        )
    else:
        artists = tuple(
            Link(f"Artist {n % (97 + i)}", f"https://open.spotify.com/artist/ART{n % 97 + i:019d}")
            for i in range(1 + n % 2)
        )
    return Track(
        url=f"https://open.spotify.com/track/TRK{n:019d}",
        name=f"Song {n} (feat. Someone)" if n % 7 == 0 else f"Song {n}",
        album=Link(f"Album {n // 10}", f"https://open.spotify.com/album/ALB{n // 10:019d}"),
        artists=artists,
        duration_ms=120_000 + (n * 7919) % 240_000,
        added_at=None,
    )


@dataclass(frozen=True)
class Quirks:
    """What real archive histories hold besides clean daily snapshots; all off by default."""

    placeholders: float = 0.0  # share of playlists registered late by an empty plain file
    renames: int = 0  # playlists first archived under a mistyped ID, renamed by day 60
    reissues: int = 0  # playlists re-issued under a new ID (same name) between days 30 and 300
    offsets: bool = False  # committer UTC offsets -0400, -0700 and +0000 mixed
    early_files: bool = False  # playlist_ids.txt, playlists/<id>.txt, playlists/raw/ early on
    unreadable: int = 0  # versions written as junk (truncated JSON / not UTF-8 plain)


ALL_QUIRKS = Quirks(placeholders=0.1, renames=5, reissues=5, offsets=True, early_files=True,
                    unreadable=8)


@dataclass
class SynthPlaylist:
    pid: str
    name: str
    tracks: list[int]
    removed: list[int] = field(default_factory=list)
    followers: int = 100
    counts: dict[str, int] = field(default_factory=dict)  # its followers file: day -> count
    path_id: str = ""  # the ID its files are written under (a mistyped one until renamed)
    start: int = 0  # the day of its first snapshot (late: a placeholder the day before)
    rename_day: int | None = None
    reissue_day: int | None = None
    reissue_as: str = ""
    added: dict[int, str] = field(default_factory=dict)  # track -> Spotify's added_at

    def __post_init__(self) -> None:
        self.path_id = self.path_id or self.pid

    def snapshot(self, day: int) -> Playlist:
        first = added_stamp(0)
        return Playlist(
            url=f"https://open.spotify.com/playlist/{self.pid}",
            original_name=self.name,
            description=f"Synthetic playlist {self.pid}",
            owner=Link("Synth", "https://open.spotify.com/user/synth"),
            tracks=tuple(
                Track(**{**make_track(n).__dict__, "added_at": self.added.get(n, first)})
                for n in self.tracks
            ),
            snapshot_id=f"snap{day}",
            num_followers=self.followers,
            unique_name=self.name,
        )


class SynthArchive:
    """Writes the days of a synthetic archive into a bare repository.

    ``plain_only`` may be switched off between days (the layout change of real
    archives); ``json_from`` does that on a given day.
    """

    def __init__(self, path: Path, playlists: int, *, plain_only: bool, seed: int = 1,
                 json_from: int | None = None, quirks: Quirks = Quirks()) -> None:
        self.repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
        self.repo.config[GENERATOR_KEY] = str(GENERATOR)
        self.plain_only = plain_only
        self.json_from = json_from
        self.quirks = quirks
        self.rng = random.Random(seed)
        self.next_track = 0
        self.playlists = []
        for i in range(playlists):
            size = self.rng.randint(20, 80)
            self.playlists.append(SynthPlaylist(playlist_id(i), f"Playlist {i}", self._new(size)))
        self._plan_quirks()
        self.dirs: dict[str, pygit2.Oid | None] = {name: None for name in SNAPSHOT_DIRS}
        self.extra: dict[str, bytes | None] = {}  # files outside the layout, this day
        self.day = 0
        self.tip: pygit2.Oid | None = None
        self.registered: set[str] = set()
        self.registry: pygit2.Oid = self.repo.TreeBuilder().write()
        self.junk_days: set[int] = set()
        if quirks.unreadable:
            self.junk_days = set(self.rng.sample(range(1, 300), quirks.unreadable))

    def _plan_quirks(self) -> None:
        q, rng, count = self.quirks, self.rng, len(self.playlists)
        late = rng.sample(range(count), int(count * q.placeholders))
        for i in late:
            self.playlists[i].start = rng.randint(1, 150)
        others = [i for i in range(count) if i not in set(late)]
        chosen = rng.sample(others, min(len(others), q.renames + q.reissues))
        for i in chosen[:q.renames]:
            p = self.playlists[i]
            p.path_id, p.rename_day = mistyped_id(i), rng.randint(5, 60)
        for i in chosen[q.renames:]:
            p = self.playlists[i]
            p.reissue_day, p.reissue_as = rng.randint(30, 300), reissued_id(i)

    @classmethod
    def resume(cls, path: Path, playlists: int = 0, *, plain_only: bool, day: int,
               quirks: Quirks = Quirks()) -> SynthArchive:
        """Continue an archive written earlier (playlists read back from HEAD's snapshots).

        Every playlist with a readable snapshot at HEAD goes on (``playlists`` is
        not needed any more: the IDs come from the tree); no quirk is planned.
        """
        self = cls.__new__(cls)
        self.repo = pygit2.Repository(str(path))
        self.plain_only = plain_only
        self.json_from = None
        self.quirks = Quirks(offsets=quirks.offsets)
        self.rng = random.Random(day)
        self.junk_days = set()
        self.extra = {}
        head = self.repo.head.peel(pygit2.Commit)
        root = self.repo[head.tree["playlists"].id]
        self.dirs = {name: (root[name].id if name in root else None) for name in SNAPSHOT_DIRS}
        self.registry = (root["registry"].id if "registry" in root
                         else self.repo.TreeBuilder().write())
        self.registered = {e.name for e in self.repo[self.registry]}
        self.playlists = []
        self.next_track = 10**9
        pretty = self.repo[root["pretty"].id] if "pretty" in root else None
        followers = self.repo[root["followers"].id] if "followers" in root else None
        for entry in self.repo[root["plain"].id]:
            read = _read_back(self.repo, entry, pretty)
            if read is not None:
                p = SynthPlaylist(entry.name, read[0], read[1], added=read[2])
                if followers is not None and f"{entry.name}.json" in followers:
                    p.counts = parse_followers(self.repo[followers[f"{entry.name}.json"].id].data)
                    p.followers = p.counts[max(p.counts)] if p.counts else p.followers
                self.playlists.append(p)
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
                back = p.removed.pop(rng.randrange(len(p.removed)))  # a re-addition
                p.tracks.append(back)
                p.added[back] = added_stamp(self.day)
            else:
                new = self._new(1)
                p.tracks.extend(new)
                p.added[new[0]] = added_stamp(self.day)
        if rng.random() < 0.3:
            rng.shuffle(p.tracks)  # a reorder: JSON changes, plain does not

    def _write_dir(self, name: str, files: dict[str, bytes | None]) -> None:
        if not files:
            return
        base = self.dirs[name]
        builder = (
            self.repo.TreeBuilder(self.repo[base]) if base is not None else self.repo.TreeBuilder()
        )
        for filename, content in files.items():
            if content is None:
                if builder.get(filename) is not None:
                    builder.remove(filename)
            else:
                builder.insert(filename, self.repo.create_blob(content), pygit2.GIT_FILEMODE_BLOB)
        self.dirs[name] = builder.write()

    def _files(self, p: SynthPlaylist, junk: bool = False) -> dict[str, dict[str, bytes | None]]:
        """dir -> file -> content of one playlist's snapshot today (junk: unreadable)."""
        snapshot = p.snapshot(self.day)
        plain = render.plain(snapshot).encode()
        if self.plain_only:
            if junk:
                plain = b"\xff\xfe" + plain[: len(plain) // 2]  # not UTF-8
            return {"plain": {p.path_id: plain}}
        data = snapshot.to_json().encode()
        page = f"# {p.name}\n\n{len(p.tracks)} songs, day {self.day}\n".encode()
        if junk:
            data = data[: len(data) // 2]  # truncated
        return {
            "plain": {p.path_id: plain},
            "pretty": {
                f"{p.path_id}.json": data,
                f"{p.path_id}.md": page,
            },
        }

    def _current(self, folder: str, name: str) -> bytes | None:
        oid = self.dirs[folder]
        if oid is None:
            return None
        tree = self.repo[oid]
        return self.repo[tree[name].id].data if name in tree else None

    def _move(self, p: SynthPlaylist, new_id: str, writes: dict[str, dict[str, bytes | None]],
              *, same_content: bool) -> None:
        """Delete ``p``'s files and registry entry; with ``same_content``, re-add them as is."""
        old = p.path_id
        for folder, names in (("plain", [old]), ("pretty", [f"{old}.json", f"{old}.md"]),
                              ("followers", [f"{old}.json"])):
            for name in names:
                content = self._current(folder, name)
                if content is None:
                    continue
                writes.setdefault(folder, {})[name] = None
                if same_content:
                    writes[folder][name.replace(old, new_id)] = content
        if old in self.registered:
            self.registered.discard(old)
            self.registered.add(new_id)
        p.path_id = new_id

    def add_day(self, *, churn: float = CHURN,
                follower_churn: float = FOLLOWER_CHURN) -> pygit2.Oid:
        """One more daily run: every playlist on its first day, then the changed ones."""
        if self.json_from is not None and self.day >= self.json_from:
            self.plain_only = False
        switched = self.day == 0 or self.day == self.json_from  # every playlist written
        rng = self.rng
        writes: dict[str, dict[str, bytes | None]] = {}
        changed = []
        for p in self.playlists:
            if p.start > self.day:
                if p.start == self.day + 1:  # registered today by an empty file
                    writes.setdefault("plain", {})[p.path_id] = b""
                    self.registered.add(p.path_id)
                continue
            if p.rename_day == self.day:
                self._move(p, p.pid, writes, same_content=True)
                continue  # a commit of its own in real archives; here, part of the day
            if p.reissue_day == self.day:  # same name, new ID, some tracks changed
                self._move(p, p.reissue_as, writes, same_content=False)
                p.pid, name, p.counts = p.reissue_as, p.name, {}  # a new playlist to Spotify
                self._churn(p)
                p.name = name
                changed.append(p)
                continue
            if p.start == self.day or switched or rng.random() < churn:
                changed.append(p)
        if self.day in self.junk_days and not changed:  # a junk day writes a version
            live = [p for p in self.playlists if p.start < self.day
                    and self.day not in (p.rename_day, p.reissue_day)]
            changed += [rng.choice(live)] if live else []
        junk = rng.choice(changed) if self.day in self.junk_days and changed else None
        alike: list[SynthPlaylist] = []
        if not self.plain_only:  # before the snapshots are written: they hold the count
            moved = [p for p in self.playlists if p.start <= self.day and (
                p in changed or rng.random() < follower_churn)]
            for p in moved:
                p.followers += rng.randint(-3, 10)
            alike = [p for p in moved if p not in changed and p.rename_day != self.day]
        for p in changed:
            if p.start != self.day and not switched and p.reissue_day != self.day:
                self._churn(p)
            self.registered.add(p.path_id)
            for folder, files in self._files(p, junk=p is junk).items():
                writes.setdefault(folder, {}).update(files)
        for p in alike:  # fetch rewrites a snapshot whose count alone moved (num_followers)
            for folder, files in self._files(p).items():
                writes.setdefault(folder, {}).update(files)
        when = START + self.day * DAY + rng.randint(0, 600)
        offset = rng.choice((-240, -420, 0)) if self.quirks.offsets else 0
        if not self.plain_only:
            self._count_followers(commit_day(when), writes)
        for folder, files in writes.items():
            self._write_dir(folder, files)
        if self.quirks.early_files and self.day < 3:
            self._early_files()
        tree = self._root_tree()
        sig = pygit2.Signature("synth", "synth@localhost", when, offset)
        parents = [self.tip] if self.tip is not None else []
        self.tip = self.repo.create_commit(
            "refs/heads/main", sig, sig, f"day {self.day}", tree, parents
        )
        self.extra = {}
        self.day += 1
        return self.tip

    def _count_followers(self, day: str, writes: dict[str, dict[str, bytes | None]]) -> None:
        """Today's count in every live playlist's followers file, as fetch adds it to each
        playlist it reads, every run (moved or not: most days only repeat the count)."""
        files = writes.setdefault("followers", {})
        for p in self.playlists:
            if p.start <= self.day:
                p.counts[day] = p.followers
                files[f"{p.path_id}.json"] = followers_json(p.counts).encode()

    def _early_files(self) -> None:
        """Files of spotify-playlist-archive's first layout, outside today's (ignored)."""
        ids = [p.path_id for p in self.playlists if p.start <= self.day]
        self.extra["playlist_ids.txt"] = "".join(f"{i}\n" for i in ids[: 10 + self.day]).encode()
        for i in ids[:20]:
            self.extra[f"playlists/{i}.txt"] = f"day {self.day}\n".encode()
            self.extra[f"playlists/raw/{i}.json"] = b'{"day": ' + str(self.day).encode() + b"}"

    def _root_tree(self) -> pygit2.Oid:
        """Today's snapshot dirs and registry; other entries of the tip (cumulative/) kept."""
        repo = self.repo
        tip_tree = repo[self.tip].peel(pygit2.Commit).tree if self.tip is not None else None
        root = repo.TreeBuilder(tip_tree) if tip_tree is not None else repo.TreeBuilder()
        playlists = repo.TreeBuilder()
        if tip_tree is not None and "playlists" in tip_tree:
            for entry in repo[tip_tree["playlists"].id]:
                playlists.insert(entry.name, entry.id, entry.filemode)
        for name, oid in self.dirs.items():
            if oid is not None:
                playlists.insert(name, oid, pygit2.GIT_FILEMODE_TREE)
        if not self.plain_only:
            empty = repo.create_blob(b"")
            builder = repo.TreeBuilder()
            for pid in sorted(self.registered):
                builder.insert(pid, empty, pygit2.GIT_FILEMODE_BLOB)
            playlists.insert("registry", builder.write(), pygit2.GIT_FILEMODE_TREE)
        raw: dict[str, bytes | None] = {}
        for path, content in self.extra.items():
            if path.startswith("playlists/raw/"):
                raw[path.rsplit("/", 1)[1]] = content
            elif path.startswith("playlists/"):
                playlists.insert(path.split("/", 1)[1], repo.create_blob(content or b""),
                                 pygit2.GIT_FILEMODE_BLOB)
            else:
                root.insert(path, repo.create_blob(content or b""), pygit2.GIT_FILEMODE_BLOB)
        if raw:
            old = playlists.get("raw")
            folder = repo.TreeBuilder(repo[old.id]) if old is not None else repo.TreeBuilder()
            for name, content in raw.items():
                folder.insert(name, repo.create_blob(content or b""), pygit2.GIT_FILEMODE_BLOB)
            playlists.insert("raw", folder.write(), pygit2.GIT_FILEMODE_TREE)
        root.insert("playlists", playlists.write(), pygit2.GIT_FILEMODE_TREE)
        return root.write()


def _read_back(repo: pygit2.Repository, entry: pygit2.Object,
               pretty: pygit2.Tree | None) -> tuple[str, list[int], dict[int, str]] | None:
    """(name, track numbers, added_at) of a playlist at HEAD; None if empty or unreadable."""
    try:
        if pretty is not None and f"{entry.name}.json" in pretty:
            snap = Playlist.from_json(repo[pretty[f"{entry.name}.json"].id].data)
            numbers = [int(t.url.rsplit("TRK", 1)[1]) for t in snap.tracks]
            added = {n: t.added_at for n, t in zip(numbers, snap.tracks, strict=True)
                     if t.added_at}
            return snap.original_name, numbers, added
        lines = repo[entry.id].data.decode().split("\n")
        if len(lines) < 3:
            return None
        return lines[0], [int(line.split(" ")[1]) for line in lines[3:] if line], {}
    except (SnapshotError, ValueError, IndexError, UnicodeDecodeError):
        return None


def build(path: Path, playlists: int, days: int, *, plain_only: bool = False,
          seed: int = 1, json_from: int | None = None,
          quirks: Quirks = Quirks(), churn: float = CHURN,
          follower_churn: float = FOLLOWER_CHURN) -> SynthArchive:
    """``churn``: the share of playlists that change on a day; ``follower_churn``: the
    share of the others whose follower count moves."""
    archive = SynthArchive(path, playlists, plain_only=plain_only or json_from is not None,
                           seed=seed, json_from=json_from, quirks=quirks)
    for _ in range(days):
        archive.add_day(churn=churn, follower_churn=follower_churn)
    return archive


def layout_options(layout: str, json_from: int = JSON_FROM) -> dict:
    """build()'s keywords for a layout name: json, plain, or mixed (plain, then JSON)."""
    if layout == "mixed":
        return {"plain_only": True, "json_from": json_from}
    return {"plain_only": layout == "plain"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--playlists", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--layout", choices=["json", "plain", "mixed"], default="json")
    parser.add_argument("--json-from", type=int, default=JSON_FROM,
                        help="mixed layout: the first day with JSON snapshots")
    parser.add_argument("--quirks", action="store_true",
                        help="placeholders, renames, re-issued IDs, UTC offsets, early files, "
                        "unreadable versions")
    args = parser.parse_args()
    build(args.out, args.playlists, args.days, **layout_options(args.layout, args.json_from),
          quirks=ALL_QUIRKS if args.quirks else Quirks())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
