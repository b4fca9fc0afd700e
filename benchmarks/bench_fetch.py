"""Benchmark: a full ``fetch`` of 1,000 playlists x 100 tracks against the local stand-in.

Reports, in one run so the ratios hold on a noisy machine:
  * per day, the HTTP floor beside the fetch: the same requests (token, each playlist,
    its item pages by ``next``) made by a bare ``requests.Session`` loop with the same
    concurrency, bodies parsed with ``json.loads`` and nothing else; measured right
    before and right after the fetch against the same stand-in (the first pass also
    warms the stand-in's encoded answers, as the fetch finds them), and the target
    "fetch <= 1.5 x floor + commit" checked against the later (warm) floor; beside it,
    the same loop split over two processes (as many requests in flight in all), what
    the machine's second core gives the bare loop (the target stays against the one);
  * each day's fetch runs in a forked process of its own, cold as a daily run is;
  * wall time of a full fetch (day 1: every playlist new; day 2: every playlist changed),
    and of the part spent in the pygit2 commit (objects, trees, ref, worktree, index);
  * the same with the cumulative views kept current in the same commit (day 3: the
    first such run replays history; day 4: every playlist's tracks changed again;
    day 5: a typical day, 3% of playlists change tracks, every follower count moves);
  * day 2's commit redone on its parent in fresh clones, both ways side by side with the
    same files already in memory: the usual way (write the files, ``git add -A``,
    ``git commit``, subprocess git) against pygit2 (Store.commit: objects, trees, ref,
    working tree and index). Nothing is read out of the repository inside the clock.

Also the CPU time of each day's fetch process (and of the processes it forked and waited
for; the stand-in excluded). With ``BENCH_FETCH_PROFILE=DIR`` each day's fetch writes a
cProfile of itself there (``fetch-<time>.prof``).

Run:  .venv/bin/python benchmarks/bench_fetch.py [--playlists 1000] [--tracks 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import random
import shutil
import statistics
import string
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pygit2
import requests

from gitarchive.archive import registry
from gitarchive.archive.model import Link, Playlist, Track
from gitarchive.git.store import Store
from gitarchive.ops.fetch import fetch
from gitarchive.spotify.apijson import api_playlist_from_model
from gitarchive.spotify.client import PAGE_LIMIT, SpotifyClient
from gitarchive.spotify.standin import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, StandIn

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


def http_floor(api_base: str, token_url: str, pids: list[str], jobs: int) -> tuple[float, int]:
    """(seconds, requests) of the bare loop: the fetch's requests and nothing else.

    One token; per playlist, ``GET /playlists/{id}``, then ``/items`` from offset 0 when
    no entries are embedded, then every ``next`` page; ``json.loads`` of every body.
    ``jobs`` playlists at once, a ``requests.Session`` per thread, as the client does.
    """
    start = time.perf_counter()
    count = _bare_loop(api_base, token_url, pids, jobs)
    return time.perf_counter() - start, count


def _floor_half(api_base: str, token_url: str, pids: list[str], jobs: int,
                queue: multiprocessing.Queue) -> None:
    queue.put(_bare_loop(api_base, token_url, pids, jobs))


def http_floor_two(api_base: str, token_url: str, pids: list[str],
                   jobs: int) -> tuple[float, int]:
    """(seconds, requests) of the same bare loop split over two processes: every second
    playlist in a forked process (``jobs // 2`` at once) while this one does the rest
    (the others of ``jobs``), each with its own token; the fork inside the clock."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    start = time.perf_counter()
    child = context.Process(target=_floor_half,
                            args=(api_base, token_url, pids[1::2], jobs // 2, queue))
    child.start()
    count = _bare_loop(api_base, token_url, pids[0::2], jobs - jobs // 2)
    count += queue.get(timeout=600)
    child.join()
    return time.perf_counter() - start, count


def _bare_loop(api_base: str, token_url: str, pids: list[str], jobs: int) -> int:
    """The bare loop (see http_floor): the requests it made."""
    local = threading.local()
    count = [0]
    lock = threading.Lock()

    def session() -> requests.Session:
        found = getattr(local, "session", None)
        if found is None:
            found = local.session = requests.Session()
        return found

    def get(url: str, headers: dict[str, str], params: dict | None = None) -> dict:
        response = session().get(url, headers=headers, params=params, timeout=30)
        response.raise_for_status()
        with lock:
            count[0] += 1
        return json.loads(response.content)

    answer = requests.post(token_url, data={"grant_type": "client_credentials"},
                           auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), timeout=30)
    headers = {"Authorization": f"Bearer {json.loads(answer.content)['access_token']}"}

    def one(pid: str) -> int:
        data = get(f"{api_base}/playlists/{pid}", headers)
        page = data.get("items") if isinstance(data.get("items"), dict) else data.get("tracks")
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            page = get(f"{api_base}/playlists/{pid}/items", headers,
                       {"limit": PAGE_LIMIT, "offset": 0})
        entries = len(page["items"])
        while page.get("next") and page.get("items"):
            page = get(page["next"], headers)
            entries += len(page["items"])
        return entries

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        entries = sum(pool.map(one, pids))
    assert entries > 0 or not pids
    return count[0]


@contextmanager
def counting_requests() -> Iterator[Any]:
    """Count the API requests the client sends (token requests aside), in this process
    and in any it forks (the count in shared memory: ``.value``)."""
    count = multiprocessing.get_context("fork").Value("i", 0)
    original = requests.Session.request

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        if method == "GET":
            with count.get_lock():
                count.value += 1
        return original(self, method, url, *args, **kwargs)

    requests.Session.request = request  # type: ignore[method-assign]
    try:
        yield count
    finally:
        requests.Session.request = original  # type: ignore[method-assign]


def _fetch_child(path: Path, api_base: str, token_url: str, cumulative: bool,
                 when: tuple[int, int], jobs: int, queue: multiprocessing.Queue) -> None:
    store = TimedStore(path)
    client = SpotifyClient(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, api_base=api_base,
                           token_url=token_url)
    profile = os.environ.get("BENCH_FETCH_PROFILE")  # a directory: cProfile of each day
    profiler = cProfile.Profile() if profile else None
    with counting_requests() as fetch_requests:
        start, cpu = time.perf_counter(), os.times()
        if profiler is not None:
            profiler.enable()
        report = fetch(store, client, cumulative=cumulative, when=when, jobs=jobs)
        if profiler is not None:
            profiler.disable()
        total, after = time.perf_counter() - start, os.times()
    client.close()
    if profiler is not None:
        profiler.dump_stats(Path(profile) / f"fetch-{when[0]}.prof")
    queue.put({"total": total, "cpu": after.user + after.system - cpu.user - cpu.system,
               "forks": (after.children_user + after.children_system
                         - cpu.children_user - cpu.children_system),
               "commit": store.commit_seconds,
               "checkout": store.checkout_seconds, "changed": len(report.changed),
               "requests": fetch_requests.value})


def fetch_in_child(path: Path, api_base: str, token_url: str, cumulative: bool,
                   when: tuple[int, int], jobs: int) -> dict:
    """One day's fetch in a forked process of its own, timed there.

    Each day starts cold, as a daily ``gitarchive fetch`` does: nothing a previous
    day's run left in this process's memory (caches, compiled templates) helps it.
    """
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_fetch_child,
                            args=(path, api_base, token_url, cumulative, when, jobs, queue))
    child.start()
    try:
        return queue.get(timeout=3600)
    finally:
        child.join(timeout=60)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playlists", type=int, default=1000)
    parser.add_argument("--tracks", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3,
                        help="times each way redoes the day-2 commit (median shown)")
    parser.add_argument("--jobs", type=int, default=4, help="concurrency of fetch and floor")
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]  # other work on the machine: said beside the figures
    rng = random.Random(7)
    pids = sorted({spotify_id(rng) for _ in range(args.playlists)})
    models = {pid: synthetic_playlist(rng, pid, args.tracks) for pid in pids}
    work = Path(tempfile.mkdtemp(prefix="gitarchive-bench-fetch-"))
    os.environ.setdefault("GIT_COMMITTER_NAME", "bench")
    os.environ.setdefault("GIT_COMMITTER_EMAIL", "bench@localhost")
    os.environ.setdefault("GIT_AUTHOR_NAME", "bench")
    os.environ.setdefault("GIT_AUTHOR_EMAIL", "bench@localhost")
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
        redo: dict = {}
        floors_two: list[float] = []  # the bare loop over two processes, after the fetch
        cpu: list[tuple[str, float, float]] = []  # CPU of the fetch process, of its forks
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
            served = {pid: api_playlist_from_model(m) for pid, m in models.items()}
            with standin_process(served) as (api_base, token_url):
                floor_before, floor_requests = http_floor(api_base, token_url, pids, args.jobs)
                run = fetch_in_child(work / "archive", api_base, token_url, cumulative,
                                     (1_767_225_600 + day * 86_400, 0), args.jobs)
                floor_after, _ = http_floor(api_base, token_url, pids, args.jobs)
                two, two_requests = http_floor_two(api_base, token_url, pids, args.jobs)
            assert two_requests == floor_requests, (two_requests, floor_requests)
            floors_two.append(two)
            assert run["changed"] == len(pids), "every playlist should change (followers)"
            assert run["requests"] == floor_requests, (run["requests"], floor_requests)
            results.append((label, run["total"], run["commit"], run["checkout"],
                            floor_before, floor_after, floor_requests))
            cpu.append((label, run["cpu"], run["forks"]))
            if day == 2:
                redo = _commit_both_ways(store, work, args.repeat)

        print(f"{len(pids)} playlists x {args.tracks} tracks, stand-in on 127.0.0.1; "
              f"load average {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
              f" ({os.cpu_count()} cores)")
        for label, total, commit, checkout, *_ in results:
            print(
                f"  fetch {label:<20} {total:6.2f} s   of which pygit2 commit {commit:5.2f} s"
                f" = objects+trees+ref {commit - checkout:5.2f} s"
                f" + working tree/index {checkout:5.2f} s"
            )
        for label, own, forks in cpu:
            print(f"  CPU of fetch {label:<20} {own:6.2f} s in its process"
                  f" + {forks:5.2f} s in the processes it forked and waited for")
        print(f"  HTTP floor (bare requests.Session loop, {args.jobs} at once, json.loads), "
              "before / after the fetch; target fetch <= 1.5 x floor(after) + commit;\n"
              "  [the same loop over two processes, half each, as many at once in all, "
              "after the fetch: what the second core gives the bare loop]:")
        for (label, total, commit, _checkout, before, after, count), two in zip(
                results, floors_two, strict=True):
            budget = 1.5 * after + commit
            print(
                f"    {label:<20} floor {before:5.2f} / {after:5.2f} s ({count} requests)"
                f" [two processes {two:5.2f} s]"
                f"   fetch / (floor + commit) {total / (after + commit):4.2f}x"
                f"   (fetch - commit) / floor {(total - commit) / after:4.2f}x"
                f"   budget {budget:5.2f} s: {'met' if total <= budget else 'MISSED'}"
            )
        print(f"  day-2 commit ({redo['files']} files) redone on its parent in fresh clones,"
              f" median of {args.repeat} each:")
        print(f"    write files + git add -A + git commit  {redo['git']:5.2f} s")
        print(f"    pygit2 Store.commit                     {redo['pygit2']:5.2f} s"
              f" (of which working tree/index {redo['checkout']:5.2f} s)")
        print(f"  ratio git path / pygit2: {redo['git'] / redo['pygit2']:4.1f}x (each pair: "
              + ", ".join(f"{r:.1f}x" for r in redo["ratios"])
              + f"; same tree both ways: {redo['same']})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _commit_both_ways(store: Store, work: Path, repeat: int) -> dict:
    """Redo HEAD's commit on its parent both ways, each in a fresh clone, side by side.

    The changed files are read out of the repository into memory before any clock
    starts, so both ways get the same bytes and are timed only for their own work:
    the usual way writes the files, runs ``git add -A`` and ``git commit``; pygit2
    (Store.commit) writes blobs, trees, the commit and the ref, then updates the
    working tree and the index. The two alternate, ``repeat`` times each.
    """
    head = store.head()
    assert head is not None and head.parents
    parent = head.parents[0]
    changes: dict[str, bytes | None] = {}
    for delta in parent.tree.diff_to_tree(head.tree).deltas:
        if delta.status == pygit2.enums.DeltaStatus.DELETED:
            changes[delta.old_file.path] = None
        else:
            changes[delta.new_file.path] = store.repo[delta.new_file.id].data
    message = head.message
    times: dict[str, list[float]] = {"git": [], "pygit2": [], "checkout": []}
    same = True
    for n in range(repeat):
        for way in ("pygit2", "git") if n % 2 == 0 else ("git", "pygit2"):
            clone = work / f"redo-{way}-{n}"
            git(work, "clone", "-q", str(store.git_dir), str(clone))
            git(clone, "reset", "-q", "--hard", str(parent.id))
            start = time.perf_counter()
            if way == "git":
                for path, content in changes.items():
                    target = clone / path
                    if content is None:
                        target.unlink()
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(content)
                git(clone, "add", "-A")
                git(clone, "commit", "-q", "-m", message)
            else:
                timed = TimedStore(clone)
                timed.commit(changes, message)
                times["checkout"].append(timed.checkout_seconds)
            times[way].append(time.perf_counter() - start)
            tree = subprocess.run(
                ["git", "rev-parse", "HEAD^{tree}"], cwd=clone, capture_output=True, text=True,
                check=True,
            ).stdout.strip()
            same = same and tree == str(head.tree_id)
            shutil.rmtree(clone)
    return {"git": statistics.median(times["git"]), "pygit2": statistics.median(times["pygit2"]),
            "checkout": statistics.median(times["checkout"]),
            "ratios": [g / p for g, p in zip(times["git"], times["pygit2"], strict=True)],
            "files": len(changes), "same": same}


if __name__ == "__main__":
    main()
