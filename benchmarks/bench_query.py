"""Benchmark: ``search`` and ``show --at`` on a synthetic archive (benchmarks/synth.py).

Reports, for N playlists x D days (default 1,000 x 365):
  * the cold index build (history.sync + the query index, once per archive);
  * the incremental catch-up after one more day is committed;
  * warm timings of ``show --at`` and ``search`` run in-process through click
    (median of several runs; the index is up to date), and the same commands as
    separate ``gitarchive`` processes (interpreter start-up and imports included).

Targets: ``show --at`` <= 0.3 s and ``search`` <= 1 s warm.

Run:  .venv/bin/python -m benchmarks.bench_query [--playlists 1000] [--days 365] [--keep DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from benchmarks import synth
from gitarchive.cli import main as cli
from gitarchive.git.store import Store
from gitarchive.questions.index import index_path
from gitarchive.questions.indexing import open_index


def timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def median_of(func: Callable[[], object], runs: int) -> float:
    return statistics.median(timed(func) for _ in range(runs))


def invoke(repo: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--repo", str(repo)])
    if result.exit_code != 0:
        raise SystemExit(f"gitarchive {' '.join(args)} failed: {result.output}")
    return result.output


def process(repo: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "gitarchive", *args, "--repo", str(repo)],
        check=True, stdout=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playlists", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="Build (or reuse) the archive here.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        repo = args.keep or Path(tmp) / "archive"
        archive = None
        if (repo / "HEAD").exists() and synth.generator_of(repo) != synth.GENERATOR:
            parser.error(f"{repo} was made by synth generator {synth.generator_of(repo)}, "
                         f"not {synth.GENERATOR}: remove it to build it afresh")
        if not (repo / "HEAD").exists():
            print(f"building {args.playlists} playlists x {args.days} days ...", flush=True)
            start = time.perf_counter()
            archive = synth.build(repo, args.playlists, args.days)
            print(f"  synth: {time.perf_counter() - start:.1f} s")
        store = Store(repo)
        index_path(store).unlink(missing_ok=True)
        print(f"cold index (history.sync + query index): "
              f"{timed(lambda: open_index(store).close()):.2f} s")
        if archive is not None:  # a built archive can grow by one more day
            archive.add_day()
            print(f"incremental index, one more day:        "
                  f"{timed(lambda: open_index(store).close()):.2f} s")

        pid = synth.playlist_id(args.playlists // 2)
        day = time.strftime("%Y-%m-%d", time.gmtime(synth.START + synth.DAY * (args.days // 2)))
        show = ("show", pid, "--at", day, "--format", "json")
        search_many = ("search", "song 12")  # hundreds of hits
        search_rare = ("search", "feat. someone", "--playlist", pid)

        invoke(repo, *show)  # warm the OS cache and the index
        results = {
            "show --at (in-process)": median_of(lambda: invoke(repo, *show), args.runs),
            "search, many hits (in-process)": median_of(
                lambda: invoke(repo, *search_many), args.runs
            ),
            "search --playlist (in-process)": median_of(
                lambda: invoke(repo, *search_rare), args.runs
            ),
            "show --at (new process)": median_of(lambda: process(repo, *show), 3),
            "search, many hits (new process)": median_of(lambda: process(repo, *search_many), 3),
        }
        hits = invoke(repo, *search_many).count("\n") - 1
        for label, seconds in results.items():
            print(f"{label:34} {seconds * 1000:8.1f} ms")
        print(f"(search 'song 12': {hits} hits)")


if __name__ == "__main__":
    main()
