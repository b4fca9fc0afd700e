"""Benchmark: an archive holding a year of nightly packs, against the same consolidated.

    .venv/bin/python -m benchmarks.bench_packs [--playlists 300] [--days 365]
        [--repeat 3] [--no-deltas] [--out benchmarks/out]

A year of nightly runs is made for real: each day the synthetic archive (benchmarks/
synth.py) gets its day of snapshots and gitarchive's rebuild commits the day's views.
Then every commit's new objects are written as a pack of their own, without deltas, as
gitarchive's pack writer leaves them (``git pack-objects --window=0``): two packs a day.
Measured side by side, each as a new process (medians of --repeat): a question (``log``,
``search``), git itself (``git rev-list --objects --all``, ``git log`` of one file), and
a question on a copy with no saved state (it replays the whole history), the next day's
rebuild (on a fresh copy each time); then what the
consolidation costs (copy, and with libgit2's deltas), the repository's size before and
after, and the nightly step as it runs in steady state (51 day-packs over a base).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pygit2

from benchmarks import synth
from gitarchive.git import packfiles, repack
from gitarchive.git.packfiles import Limits
from gitarchive.git.store import Store
from gitarchive.history.rebuild import rebuild

PLAYLIST = synth.playlist_id(7)


def git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], input=stdin, check=True,
                          capture_output=True).stdout


def nightly_year(path: Path, playlists: int, days: int) -> None:
    """A bare archive whose every day is a snapshot commit and a views commit."""
    archive = synth.SynthArchive(path, playlists, plain_only=False)
    store = Store(path)
    for day in range(days):
        archive.add_day()
        rebuild(store)
        archive.tip = store.repo.head.target  # the views commit: the next day's parent
        if day % 50 == 0:
            print(f"  day {day}: {time.strftime('%H:%M:%S')}", flush=True)


def explode(source: Path, target: Path) -> list[str]:
    """``target``: ``source``'s commits with each commit's new objects in a pack of its
    own (oldest first); the gitarchive state is copied along. The packs' names, in order."""
    shutil.rmtree(target, ignore_errors=True)
    git(source.parent, "init", "-q", "--bare", "-b", "main", str(target))
    commits = git(source, "rev-list", "--reverse", "--first-parent", "main").split()
    names = []
    previous: bytes | None = None
    for commit in commits:
        spec = [commit] + ([b"^" + previous] if previous else [])
        objects = git(source, "rev-list", "--objects", *[s.decode() for s in spec])
        listed = git(source, "pack-objects", "--window=0", "--stdout", stdin=objects)
        pack = git(target, "index-pack", "--stdin", stdin=listed)
        names.append(pack.split()[-1].decode())
        previous = commit
    git(target, "update-ref", "refs/heads/main", commits[-1].decode())
    shutil.copytree(source / "gitarchive", target / "gitarchive")
    return names


def new_process(repo: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gitarchive", *args, "--repo", str(repo)],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def timed(func: object, *args: object) -> float:
    start = time.perf_counter()
    func(*args)  # type: ignore[operator]
    return time.perf_counter() - start


def questions(repo: Path, repeat: int) -> dict[str, float]:
    """Median seconds of each question as a new process (after one to warm the index)."""
    new_process(repo, "search", "Song 1")
    return {
        "log": statistics.median(new_process(repo, "log", PLAYLIST) for _ in range(repeat)),
        "search": statistics.median(new_process(repo, "search", "Song 1")
                                    for _ in range(repeat)),
        "git rev-list": statistics.median(
            timed(git, repo, "rev-list", "--objects", "--all") for _ in range(repeat)),
        "git log -- path": statistics.median(
            timed(git, repo, "log", "--oneline", "--", f"playlists/pretty/{PLAYLIST}.json")
            for _ in range(repeat)),
    }


def cold_question(repo: Path, scratch: Path) -> float:
    """``search`` on a copy with no saved state: the question replays the whole history."""
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(repo, scratch, ignore=shutil.ignore_patterns("gitarchive"))
    took = new_process(scratch, "search", "Song 1")
    shutil.rmtree(scratch)
    return took


def next_day(repo: Path, days: int, scratch: Path) -> float:
    """The next day's rebuild (``gitarchive rebuild`` as a new process) on a copy."""
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(repo, scratch)
    synth.SynthArchive.resume(scratch, plain_only=False, day=days).add_day()
    took = new_process(scratch, "rebuild", "--quiet")
    shutil.rmtree(scratch)
    return took


def size(repo: Path) -> int:
    return sum(p.stat().st_size for p in (repo / "objects").rglob("*") if p.is_file())


def consolidated(many: Path, target: Path, *, deltas: bool) -> repack.Repacked:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(many, target)
    repo = pygit2.Repository(str(target))
    packs = [p for p in packfiles.list_packs(target) if not p.keep]
    return repack.repack(repo, packs, packfiles.loose_objects(target), deltas=deltas)


def steady_state(many: Path, names: list[str], target: Path) -> repack.Repacked | None:
    """All but the last 51 packs folded into a base first; then the nightly step itself."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(many, target)
    repo = pygit2.Repository(str(target))
    recent = {f"pack-{sha}" for sha in names[-51:]}  # index-pack prints the bare SHA-1
    older = [p for p in packfiles.list_packs(target) if p.name not in recent]
    if len(older) > 1:
        repack.repack(repo, older, packfiles.loose_objects(target))
    return repack.maintain(target, Limits())


def report(label: str, result: repack.Repacked) -> None:
    print(f"{label}: {result.combined} packs, {result.objects} objects, "
          f"{result.bytes_before / 1e6:.1f} MB -> {result.bytes_after / 1e6:.1f} MB "
          f"in {result.seconds:.2f} s, of which reading the new pack back "
          f"{result.checked_seconds:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playlists", type=int, default=300)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--deltas", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    out = args.out.resolve() / synth.cached_name(f"packs-{args.playlists}x{args.days}")
    out.mkdir(parents=True, exist_ok=True)
    source, many = out / "nightly.git", out / "many.git"
    if not (out / "names").exists():
        shutil.rmtree(source, ignore_errors=True)
        print(f"making a year of nightly runs ({args.playlists} playlists x {args.days} days)")
        nightly_year(source, args.playlists, args.days)
        (out / "names").write_text("\n".join(explode(source, many)) + "\n")
    names = (out / "names").read_text().split()
    git(many, "config", "gc.autoPackLimit", "0")  # measure it as it is, unconsolidated
    packs = packfiles.list_packs(many)
    print(f"{len(packs)} packs, {sum(p.objects for p in packs)} objects, "
          f"{size(many) / 1e6:.1f} MB; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f}")
    copy = consolidated(many, out / "one.git", deltas=False)
    report("consolidation, entries copied", copy)
    if args.deltas:
        report("consolidation with libgit2's deltas (--deltas)",
               consolidated(many, out / "deltas.git", deltas=True))
    step = steady_state(many, names, out / "steady.git")
    if step is not None:
        report("nightly step in steady state (51 day-packs over the base, gc.autoPackLimit 50)",
               step)
    rows = {"many": many, "one": out / "one.git"} | (
        {"deltas": out / "deltas.git"} if args.deltas else {})
    for label, repo in rows.items():
        times = questions(repo, args.repeat)
        times["search, no saved state"] = cold_question(repo, out / "scratch.git")
        times["next day's rebuild"] = statistics.median(
            next_day(repo, args.days, out / "scratch.git") for _ in range(args.repeat))
        print(f"[{label}] {len(packfiles.list_packs(repo))} pack(s), {size(repo) / 1e6:.1f} MB: "
              + ", ".join(f"{k} {v:.3f} s" for k, v in times.items())
              + f" (load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
