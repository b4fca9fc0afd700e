"""Benchmark: a full ``fetch`` of 1,000 playlists x 100 tracks against the local stand-in.

Reports, in one run so the ratios hold on a noisy machine:
  * wall time of a full fetch (day 1: every playlist new; day 2: every playlist changed),
    and of the part spent in the pygit2 commit (objects, trees, ref, worktree, index);
  * the same with the cumulative views kept current in the same commit (day 3: the
    first such run replays history; day 4: every playlist's tracks changed again;
    day 5: a typical day, 3% of playlists change tracks, every follower count moves);
  * the same day-2 commit done the usual way: write the files, ``git add -A``,
    ``git commit`` (subprocess git, in a second checkout at the same commit).

Run:  .venv/bin/python benchmarks/bench_fetch.py [--playlists 1000] [--tracks 100]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import string
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from gitarchive.archive import registry
from gitarchive.archive.model import Link, Playlist, Track
from gitarchive.git.store import Store
from gitarchive.ops.fetch import fetch
from gitarchive.spotify.client import SpotifyClient
from gitarchive.spotify.standin import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    StandIn,
    api_playlist_from_model,
)

ALPHABET = string.ascii_letters + string.digits


def spotify_id(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(22))


def synthetic_playlist(rng: random.Random, pid: str, tracks: int) -> Playlist:
    def track() -> Track:
        tid, aid, rid = spotify_id(rng), spotify_id(rng), spotify_id(rng)
        return Track(
            url=f"https://open.spotify.com/track/{tid}",
            name=f"Song {tid[:6]}",
            album=Link(f"Album {rid[:5]}", f"https://open.spotify.com/album/{rid}"),
            artists=(Link(f"Artist {aid[:4]}", f"https://open.spotify.com/artist/{aid}"),),
            duration_ms=rng.randint(120_000, 300_000),
            added_at="2025-01-01 00:00:00",
        )

    return Playlist(
        url=f"https://open.spotify.com/playlist/{pid}",
        original_name=f"Playlist {pid[:8]}",
        description="A synthetic playlist for the benchmark.",
        owner=Link("bench", "https://open.spotify.com/user/bench"),
        tracks=tuple(track() for _ in range(tracks)),
        snapshot_id=spotify_id(rng),
        num_followers=rng.randint(0, 100_000),
    )


class TimedStore(Store):
    """A Store that measures its commits, and the working-tree update inside them.

    fetch writes the tree before committing when it computes the cumulative views on
    it; that write is counted as part of the commit too.
    """

    commit_seconds = 0.0
    checkout_seconds = 0.0
    _in_commit = False

    def write_tree(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self._in_commit:
            return super().write_tree(*args, **kwargs)
        start = time.perf_counter()
        try:
            return super().write_tree(*args, **kwargs)
        finally:
            self.commit_seconds += time.perf_counter() - start

    def commit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        checkout = self.repo.checkout_tree

        def timed_checkout(*a, **k):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return checkout(*a, **k)
            finally:
                self.checkout_seconds += time.perf_counter() - start

        self.repo.checkout_tree = timed_checkout  # type: ignore[method-assign]
        self._in_commit = True
        start = time.perf_counter()
        try:
            return super().commit(*args, **kwargs)
        finally:
            self.commit_seconds += time.perf_counter() - start
            self._in_commit = False
            del self.repo.checkout_tree


def _serve(playlists: dict, queue: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    with StandIn(playlists) as api:
        queue.put((api.api_base, api.token_url))
        stop.wait()


@contextmanager
def standin_process(playlists: dict) -> Iterator[tuple[str, str]]:
    """The stand-in in its own process, as Spotify is: the client does not share its GIL."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    stop = multiprocessing.Event()
    proc = multiprocessing.Process(target=_serve, args=(playlists, queue, stop), daemon=True)
    proc.start()
    try:
        yield queue.get(timeout=120)
    finally:
        stop.set()
        proc.join(timeout=10)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playlists", type=int, default=1000)
    parser.add_argument("--tracks", type=int, default=100)
    args = parser.parse_args()
    rng = random.Random(7)
    pids = sorted({spotify_id(rng) for _ in range(args.playlists)})
    models = {pid: synthetic_playlist(rng, pid, args.tracks) for pid in pids}
    work = Path(tempfile.mkdtemp(prefix="gitarchive-bench-fetch-"))
    os.environ.setdefault("GIT_COMMITTER_NAME", "bench")
    os.environ.setdefault("GIT_COMMITTER_EMAIL", "bench@localhost")
    try:
        Store.init(work / "archive")
        store = TimedStore(work / "archive")
        registry.add(store, pids, when=(1_767_225_600, 0))
        results = []
        days = (
            (1, "day 1, all new", False),
            (2, "day 2, all changed", False),
            (3, "day 3, + cumulative", True),  # the first run with views: replays history
            (4, "day 4, + cumulative", True),  # a daily run with views, incremental
            (5, "day 5, typical", True),  # 3% change tracks, every follower count moves
        )
        git_seconds, same = 0.0, False
        for day, label, cumulative in days:
            if day == 5:
                for n, (pid, model) in enumerate(models.items()):
                    tracks = model.tracks
                    if n % 33 == 0:
                        tracks = tracks[1:] + synthetic_playlist(rng, pid, 1).tracks
                    followers = (model.num_followers or 0) + 1
                    models[pid] = replace(model, tracks=tracks, num_followers=followers)
            elif day > 1:
                for pid, model in models.items():
                    extra = synthetic_playlist(rng, pid, 1).tracks
                    models[pid] = replace(model, tracks=model.tracks[1:] + extra)
            if day == 2:
                git(work, "clone", "-q", str(work / "archive"), "gitpath")
            served = {pid: api_playlist_from_model(m) for pid, m in models.items()}
            with standin_process(served) as (api_base, token_url):
                client = SpotifyClient(
                    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, api_base=api_base, token_url=token_url
                )
                store.commit_seconds = store.checkout_seconds = 0.0
                start = time.perf_counter()
                report = fetch(
                    store, client, cumulative=cumulative,
                    when=(1_767_225_600 + day * 86_400, 0),
                )
                total = time.perf_counter() - start
                client.close()
            assert len(report.changed) == len(pids), "every playlist should change (followers)"
            results.append((label, total, store.commit_seconds, store.checkout_seconds))
            if day == 2:
                git_seconds, same = _commit_the_usual_way(store, work / "gitpath")

        print(f"{len(pids)} playlists x {args.tracks} tracks, stand-in on 127.0.0.1")
        for label, total, commit, checkout in results:
            print(
                f"  fetch {label:<20} {total:6.2f} s   of which pygit2 commit {commit:5.2f} s"
                f" = objects+trees+ref {commit - checkout:5.2f} s"
                f" + working tree/index {checkout:5.2f} s"
            )
        day2_commit = results[1][2]
        print(f"  day-2 commit via write files + git add -A + git commit: {git_seconds:5.2f} s")
        print(f"  ratio git path / pygit2 commit: {git_seconds / day2_commit:4.1f}x"
              f"   (same tree: {same})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _commit_the_usual_way(store: Store, checkout: Path) -> tuple[float, bool]:
    """Redo HEAD's commit in a checkout of its parent: write files, git add -A, git commit.

    Returns the seconds it took and whether git made the same tree as pygit2.
    """
    head = store.head()
    assert head is not None and head.parents
    diff = head.tree.diff_to_tree(head.parents[0].tree)
    paths = [d.delta.new_file.path for d in diff]
    start = time.perf_counter()
    for path in paths:
        target = checkout / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.read(path) or b"")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "the usual way")
    seconds = time.perf_counter() - start
    tree = subprocess.run(
        ["git", "rev-parse", "HEAD^{tree}"], cwd=checkout, capture_output=True, text=True
    ).stdout.strip()
    return seconds, tree == str(head.tree_id)


if __name__ == "__main__":
    main()
