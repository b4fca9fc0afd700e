"""Benchmark of ``follow``: one playlist out of a large source, against git's own floor.

    .venv/bin/python -m benchmarks.bench_follow [--playlists 1000] [--days 365] [--rounds 3]

The source is a synthetic archive (benchmarks/synth.py), packed with ``git gc`` as a
published archive would be. Each round, side by side:

- import: ``ops.follow.commands.add_source`` for one playlist in a fresh archive that already
  fetched the source (a no-op fetch, the walk of every source commit, the side
  commits, the merge);
- views: the rebuild of the cumulative views that ``gitarchive follow`` runs next
  (``history.rebuild.rebuild``), timed apart, and import + views against the floor;
- git floor of reading that playlist's versions: ``git log --raw -- <its 4 paths>``
  plus ``git cat-file --batch`` of every blob that log names;
- fetch: ``ops.follow.transfer.fetch_source`` of the whole source into a fresh repository (a
  source on this machine: its object files linked, as ``git clone --local`` does),
  against ``git fetch`` of the same into another fresh repository. With
  ``--transport``, once more through libgit2's local transport (``Remote.fetch``),
  which recompresses the whole history (slow: minutes at 1,000 x 365).

The medians of the rounds are printed, and the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import bench_rebuild, synth
from benchmarks.bench_rebuild import git
from gitarchive.archive import layout  # noqa: F401 - imported before timing
from gitarchive.git.store import Store
from gitarchive.history import views  # noqa: F401 - imported before timing
from gitarchive.history.rebuild import rebuild
from gitarchive.ops.follow.commands import add_source
from gitarchive.ops.follow.importer import UpdateResult
from gitarchive.ops.follow.sources import Source
from gitarchive.ops.follow.transfer import fetch_source


def source_archive(out: Path, playlists: int, days: int) -> Path:
    """The synthetic source, built once and packed (reused by later runs)."""
    path = out / synth.cached_name(f"follow-source-{playlists}x{days}")
    done = path / "gitarchive-bench-complete"
    if not done.exists():
        shutil.rmtree(path, ignore_errors=True)
        t0 = time.perf_counter()
        synth.build(path, playlists, days)
        git(path, "gc", "-q", "--prune=now")
        done.write_text("ok\n")
        print(f"built and packed the source in {time.perf_counter() - t0:.1f} s")
    return path


def children_cpu() -> float:
    now = os.times()
    return now.children_user + now.children_system


def git_floor(source: Path, pid: str) -> tuple[float, float, int]:
    """(wall, CPU) seconds for git log --raw of one playlist's files (with each commit's
    id and time) + cat-file --batch of every blob it names."""
    c0 = children_cpu()
    seconds, blobs = bench_rebuild.paths_floor(source, layout.snapshot_paths(pid), "%H %ct")
    return seconds, children_cpu() - c0, blobs


def git_fetch(source: Path, work: Path) -> float:
    target = work / "git-fetch.git"
    git(work, "init", "-q", "--bare", str(target))
    t0 = time.perf_counter()
    git(target, "fetch", "-q", str(source), "+HEAD:refs/gitarchive/follow/source")
    seconds = time.perf_counter() - t0
    shutil.rmtree(target)
    return seconds


def pygit2_round(source: Path, pid: str, work: Path) -> tuple[dict[str, float], UpdateResult]:
    """Seconds of the fetch, the import (wall, CPU) and the views (wall, CPU) in a
    fresh archive, and the import's result."""
    target = work / "follower"
    store = Store.init(target, bare=True)
    probe = Source("source", str(source), (pid,))
    t0 = time.perf_counter()
    fetch_source(store, probe)
    out = {"fetch": time.perf_counter() - t0}
    c0, t0 = time.process_time(), time.perf_counter()
    result = add_source(store, str(source), name="source", playlists=[pid])
    out["import"], out["import_cpu"] = time.perf_counter() - t0, time.process_time() - c0
    c0, t0 = time.process_time(), time.perf_counter()
    views_result = rebuild(store)
    out["views"], out["views_cpu"] = time.perf_counter() - t0, time.process_time() - c0
    assert views_result.playlists == 1, "the views of the followed playlist were not written"
    shutil.rmtree(target)
    return out, result


def transport_fetch(source: Path, work: Path) -> float:
    """libgit2's local transport (what a URL would use), into a fresh repository."""
    store = Store.init(work / "transport.git", bare=True)
    remote = store.repo.remotes.create_anonymous(str(source))
    t0 = time.perf_counter()
    remote.fetch(["+HEAD:refs/gitarchive/follow/source"])
    seconds = time.perf_counter() - t0
    shutil.rmtree(work / "transport.git")
    return seconds


def times(part: float, whole: float) -> str:
    """``part / whole`` as "1.23x"; a floor too small for the clock to see gives no ratio."""
    return f"{part / whole:.2f}x" if whole > 0 else "n/a (too fast to measure)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playlists", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--transport", action="store_true",
                        help="also time libgit2's local transport once")
    args = parser.parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    source = source_archive(args.out, args.playlists, args.days)
    pid = synth.playlist_id(args.playlists // 2)
    rows: dict[str, list[float]] = {k: [] for k in (
        "floor", "import", "views", "floor_cpu", "import_cpu", "views_cpu", "git_fetch",
        "fetch")}
    result = None
    blobs = 0
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(dir=args.out) as tmp:
            work = Path(tmp)
            seconds, cpu, blobs = git_floor(source, pid)
            rows["floor"].append(seconds)
            rows["floor_cpu"].append(cpu)
            measured, result = pygit2_round(source, pid, work)
            for key, value in measured.items():
                rows[key].append(value)
            rows["git_fetch"].append(git_fetch(source, work))
    med = {k: statistics.median(v) for k, v in rows.items()}
    assert result is not None
    print(f"source: {args.playlists} playlists x {args.days} days; following {pid}: "
          f"{result.versions} versions and {result.imported - result.changed_commits} runs "
          f"that left it unchanged imported; the floor reads {blobs} blobs")
    print(f"medians of {args.rounds} rounds (all rounds: "
          + ", ".join(f"{k} {' '.join(f'{x:.2f}' for x in v)}" for k, v in rows.items()) + ")")
    print(f"  git floor (log --raw -- its paths + cat-file --batch): {med['floor']:.3f} s")
    print(f"  import (walk, side commits, merge):                     {med['import']:.3f} s"
          f"  = {times(med['import'], med['floor'])} the floor")
    print(f"  CPU time: floor {med['floor_cpu']:.3f} s, import {med['import_cpu']:.3f} s"
          f"  = {times(med['import_cpu'], med['floor_cpu'])}")
    both = [i + v for i, v in zip(rows["import"], rows["views"], strict=True)]
    both_cpu = [i + v for i, v in zip(rows["import_cpu"], rows["views_cpu"], strict=True)]
    print(f"  views rebuilt after it: {med['views']:.3f} s ({med['views_cpu']:.3f} s CPU); "
          f"import + views {statistics.median(both):.3f} s"
          f"  = {times(statistics.median(both), med['floor'])} the floor"
          f" ({times(statistics.median(both_cpu), med['floor_cpu'])} in CPU time)")
    ratios = [times(i, f) for i, f in zip(rows["import"], rows["floor"], strict=True)]
    print(f"  import / floor, round by round: {' '.join(ratios)}")
    print(f"  git fetch of the whole source:                          {med['git_fetch']:.3f} s")
    print(f"  follow's fetch (object files linked):                   {med['fetch']:.3f} s"
          f"  = {times(med['fetch'], med['git_fetch'])} git fetch")
    if args.transport:
        with tempfile.TemporaryDirectory(dir=args.out) as tmp:
            seconds = transport_fetch(source, Path(tmp))
        print(f"  libgit2 local transport (Remote.fetch), once:           {seconds:.3f} s"
              f"  = {times(seconds, med['git_fetch'])} git fetch")
    total, floor_total = med["fetch"] + med["import"], med["git_fetch"] + med["floor"]
    print(f"  follow in all (fetch + import) {total:.3f} s vs git fetch + floor "
          f"{floor_total:.3f} s = {times(total, floor_total)}")


if __name__ == "__main__":
    main()
