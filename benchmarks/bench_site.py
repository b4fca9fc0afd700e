"""Benchmark of ``site`` and the charts against a full ``rebuild``, side by side in one run.

    .venv/bin/python -m benchmarks.bench_site [--playlists 1000] [--days 365] [--out benchmarks/out]

On one synthetic archive (benchmarks/synth.py), each measured in a fresh process,
with the branch reset and the saved state (history, timelines) removed before
each cold measurement:

- rebuild, views only: ``rebuild --full`` with the charts and feeds switched off
  (what a full rebuild cost before them);
- rebuild with charts: ``rebuild --full`` as shipped (views, charts and feeds in
  one commit; the timelines are read from history too);
- site, cold: ``site OUT`` with no saved timelines (reads the history itself and
  renders every page, chart and feed);
- site after one more day: the incremental case (only changed playlists).

Target: site (cold) <= 2x the views-only full rebuild.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import synth

CHILD = r"""
import json, sys, time
from pathlib import Path
from gitarchive.git.store import Store
from gitarchive.history import pictures
from gitarchive.history.rebuild import rebuild
from gitarchive.questions import site
store = Store(sys.argv[1])
phase = sys.argv[2]
t0 = time.perf_counter()
if phase == "rebuild-views":
    pictures.files = lambda *a, **k: {}
    result = rebuild(store, full=True)
    count = len(result.changed)
elif phase == "rebuild-charts":
    result = rebuild(store, full=True)
    count = len(result.changed) + len(result.pictures)
else:
    result = site.build(store, Path(sys.argv[3]))
    count = len(result.rendered)
print(json.dumps({"seconds": time.perf_counter() - t0, "count": count}))
"""


def child(repo: Path, phase: str, out: Path | None = None) -> dict:
    args = [sys.executable, "-c", CHILD, str(repo), phase] + ([str(out)] if out else [])
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout)


def reset(repo: Path, head: str) -> None:
    """Back to the snapshots-only history, with no saved state: every run starts cold."""
    subprocess.run(["git", "-C", str(repo), "update-ref", "refs/heads/main", head], check=True)
    shutil.rmtree(repo / "gitarchive", ignore_errors=True)


def source_archive(out: Path, playlists: int, days: int) -> Path:
    """The synthetic archive, generated once and kept in ``out`` (named with its generator)."""
    repo = out / synth.cached_name(f"site-{playlists}x{days}")
    if not repo.exists():
        t0 = time.perf_counter()
        synth.build(repo, playlists, days)
        print(f"generated {repo} in {time.perf_counter() - t0:.0f} s")
    return repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playlists", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=2, help="rounds of the three cold runs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    repo = source_archive(args.out, args.playlists, args.days)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "refs/heads/main"],
                          check=True, capture_output=True, text=True).stdout.strip()
    site_dir = args.out / "site-output"
    rounds = []
    for _ in range(args.repeat):  # the three measured side by side, in turn
        reset(repo, head)
        views = child(repo, "rebuild-views")
        reset(repo, head)
        charts = child(repo, "rebuild-charts")
        reset(repo, head)
        shutil.rmtree(site_dir, ignore_errors=True)
        cold = child(repo, "site", site_dir)
        rounds.append((views, charts, cold))
        print(f"rebuild views only {views['seconds']:.2f} s ({views['count']} files); "
              f"rebuild with charts and feeds {charts['seconds']:.2f} s ({charts['count']} "
              f"files); site cold {cold['seconds']:.2f} s ({cold['count']} pages); "
              f"site/rebuild {cold['seconds'] / views['seconds']:.2f}x, "
              f"rebuild with charts/without {charts['seconds'] / views['seconds']:.2f}x")
    archive = synth.SynthArchive.resume(repo, args.playlists, plain_only=False, day=args.days)
    archive.add_day()
    step = child(repo, "site", site_dir)
    print(f"site after one more day: {step['seconds']:.2f} s ({step['count']} pages rendered)")
    reset(repo, head)
    best = min(rounds, key=lambda r: r[2]["seconds"] / r[0]["seconds"])
    worst = max(rounds, key=lambda r: r[2]["seconds"] / r[0]["seconds"])
    print(f"site (cold) / full rebuild: {best[2]['seconds'] / best[0]['seconds']:.2f}x to "
          f"{worst[2]['seconds'] / worst[0]['seconds']:.2f}x (target <= 2x)")


if __name__ == "__main__":
    sys.exit(main())
