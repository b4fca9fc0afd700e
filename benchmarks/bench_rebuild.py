"""Benchmark of ``rebuild``: full, incremental, the git floor, first questions, memory, size.

    .venv/bin/python -m benchmarks.bench_rebuild [--playlists 1000] [--days 365]
        [--layout plain,json,mixed] [--no-quirks] [--repeat 3] [--naive] [--no-size]
        [--size-playlists 100] [--size-days 120] [--out benchmarks/out]

Every layout asked for is measured in the same run, each against its own git floor:
plain (pre-2022 archives), JSON, and mixed (plain days, then JSON), by default with
every quirk of real archives (benchmarks/synth.py --quirks). After each full rebuild
the first question (``gitarchive search``) runs as a new process, then again on a
fresh copy with no saved state.

Each measured rebuild runs in a child process so its peak RSS (VmHWM) is its own; the
replay's share of it is timed inside that same process. The whole process tree's peak
memory comes from one more full rebuild of its own, sampled every 50 ms: sampling costs
CPU the timed rebuilds would otherwise have, so they are not sampled.

The git floor is what git itself needs to read the same data: ``git log --raw`` over
the snapshot paths the replay walks, plus ``git cat-file --batch`` of exactly the blobs
the replay reads (each playlist's JSON
snapshot, or its plain file while it has no JSON: ``replay_blobs``, the replay's rule
reproduced on git's output; tests/test_benchmarks.py checks that the two agree), run once
before and once after each full rebuild and counted as the faster of the two (git's own
time varies between runs, up to 3x on the mixed history). The naive rebuild reads every
playlist's snapshot at every commit; it is timed on every 10th commit and scaled up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import synth

ROOT = "playlists"
EMPTY_BLOB = b"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # a placeholder: no snapshot
# What a whole-history replay walks (events.EventReader(followers=False)): not followers/,
# whose files it never reads; with one written per playlist per JSON-era day (as fetch
# does), its lines would double the floor's log (1.2-1.4 s -> 2.0-2.4 s, JSON 1,000 x 365).
SNAPSHOT_DIRS = ("plain", "pretty")

CHILD = r"""
import json, resource, sys, time
from gitarchive.git.store import Store
from gitarchive.history import rebuild as history
store = Store(sys.argv[1])
full = sys.argv[2] == "full"
replay = []
sync = history.sync  # the name rebuild() calls, in its own module


def timed_sync(*args, **kwargs):
    t = time.perf_counter()
    try:
        return sync(*args, **kwargs)
    finally:
        replay.append(time.perf_counter() - t)


history.sync = timed_sync  # rebuild calls it: the replay is timed inside this process
if sys.argv[2] == "replay":  # the replay alone: no timelines, no views, nothing saved
    t0 = time.perf_counter()
    synced = sync(store, full=True)
    print(json.dumps({"seconds": time.perf_counter() - t0, "events": synced.events}))
    sys.exit(0)
from gitarchive.cli.history import index_for_questions, index_rows
t0 = time.perf_counter()
result = history.rebuild(store, full=full, rows=index_rows())  # as the rebuild command does
t1 = time.perf_counter()
if result.full and result.synced is not None:  # as the rebuild command does
    index_for_questions(store, result.synced)
total = time.perf_counter() - t0
index = time.perf_counter() - t1
if len(replay) != 1:
    sys.exit(f"the replay was not timed (history.sync called {len(replay)} times)")
# ru_maxrss keeps the parent's high-water mark across fork+exec on Linux (this
# benchmark's parent is big after the naive read), so the process's own peak is
# VmHWM; ru_maxrss only where /proc is missing.
try:
    hwm = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
    maxrss = int(hwm) / 1024
except (OSError, IndexError, ValueError):
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": total, "sync": replay[0], "index": index, "events": result.events,
                  "full": result.full, "changed": len(result.changed), "maxrss_mb": maxrss}))
"""


def run_replay(repo: Path) -> float:
    """Seconds of a whole-history replay alone (``sync``), in a fresh process.

    Inside a rebuild, each half of a split replay also records its timelines, draws its
    pictures and renders its views before the halves meet, so the rebuild's ``sync`` is
    more than the replay; this is the replay by itself."""
    proc = subprocess.run([sys.executable, "-c", CHILD, str(repo), "replay"],
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    return float(json.loads(proc.stdout)["seconds"])


def run_child(repo: Path, mode: str, *, sample: bool = False) -> dict:
    """One whole rebuild in a fresh process (own peak RSS); the replay timed inside it.

    ``sample``: also sample the process tree's memory (``tree_mb``, ``tree_rss_mb``). A
    timed run is never sampled: each sample (``ps`` and a smaps_rollup per process) costs
    ~5 ms of CPU every 50 ms, on a machine whose two cores the rebuild keeps busy, which
    made the sampled rebuild ~0.3 s (~5 %) slower than the same rebuild unsampled.
    """
    whole = _child(repo, mode, sample)
    return {"sync": whole["sync"], "total": whole["seconds"], "index": whole["index"],
            "render_commit": whole["seconds"] - whole["sync"] - whole["index"],
            "events": whole["events"],
            "changed": whole["changed"], "maxrss_mb": whole["maxrss_mb"],
            "tree_mb": whole.get("tree_mb"), "tree_rss_mb": whole.get("tree_rss_mb")}


def _child(repo: Path, mode: str, sample: bool) -> dict:
    """Rebuild in a fresh process; with ``sample``, also sample its process tree's memory."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(repo), mode],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    tree_peak = rss_peak = 0
    while sample and proc.poll() is None:
        pss, rss = tree_memory_kb(proc.pid)
        tree_peak, rss_peak = max(tree_peak, pss), max(rss_peak, rss)
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(err)
    result = json.loads(out)
    if sample:
        result["tree_mb"], result["tree_rss_mb"] = tree_peak / 1024, rss_peak / 1024
    return result


def tree_memory_kb(root: int) -> tuple[int, int]:
    """(summed PSS, summed RSS) in kB of a process and its descendants, at this moment.

    The tree's memory is its summed proportional set size: a page that a forked child
    shares with its parent (copy-on-write, or the same mapped pack file) counts once,
    split between them. Summed RSS counts such a page once per process, so it overstates
    a forking tree; it is kept beside for comparison. Where /proc/PID/smaps_rollup is
    missing (not Linux, or a process gone between the two reads) the RSS stands in.
    """
    rows = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,rss="], capture_output=True,
                          text=True).stdout.split("\n")
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for row in rows:
        parts = row.split()
        if len(parts) == 3:
            pid, ppid, kb = map(int, parts)
            children.setdefault(ppid, []).append(pid)
            rss[pid] = kb
    pss_total = rss_total = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        resident = rss.get(pid, 0)
        rss_total += resident
        pss_total += _pss_kb(pid, resident)
        stack.extend(children.get(pid, []))
    return pss_total, rss_total


def _pss_kb(pid: int, fallback: int) -> int:
    """The Pss line of /proc/PID/smaps_rollup in kB, or ``fallback`` without it."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return fallback


def git(repo: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, **kwargs)


def snapshot_log(repo: Path) -> bytes:
    """``git log --raw``, oldest first, over the snapshot directories the replay walks."""
    return git(repo, "log", "--raw", "--root", "--no-renames", "--no-abbrev", "--reverse",
               "--format=tformat:commit", "--", *(f"{ROOT}/{name}" for name in SNAPSHOT_DIRS),
               capture_output=True).stdout


def replay_blobs(log: bytes) -> set[bytes]:
    """The blobs the replay reads, from ``snapshot_log``'s output (a linear history).

    The replay's rule: a playlist's snapshot is its JSON file while it has one, else
    its plain file; a blob is read when a commit changes which blob that is.
    """
    sources: dict[bytes, list[bytes | None]] = {}  # pid -> [json blob, plain blob]

    def source(blobs: list[bytes | None]) -> bytes | None:
        return blobs[0] if blobs[0] is not None else blobs[1]

    wanted: set[bytes] = set()
    changed: dict[bytes, list[bytes | None]] = {}

    def end_commit() -> None:
        wanted.update(b for b in map(source, changed.values()) if b is not None)
        changed.clear()

    for line in log.splitlines():
        if not line.startswith(b":"):
            if line == b"commit":
                end_commit()
            continue
        meta, path = line.split(b"\t", 1)
        new = meta.split()[3]
        blob = new if new.strip(b"0") and new != EMPTY_BLOB else None  # empty: placeholder
        folder, _, name = path.rpartition(b"/")
        if folder == f"{ROOT}/plain".encode() and name:
            slot, pid = 1, name
        elif folder == f"{ROOT}/pretty".encode() and name.endswith(b".json") and len(name) > 5:
            slot, pid = 0, name[: -len(b".json")]
        else:
            continue  # followers, markdown: the replay reads none of them
        blobs = sources.get(pid)
        if blobs is None:
            if blob is None:
                continue
            blobs = sources[pid] = [None, None]
        before = source(blobs)
        blobs[slot] = blob
        if source(blobs) != before:
            changed[pid] = blobs
    end_commit()
    return wanted


def git_floor(repo: Path) -> tuple[float, int]:
    """Seconds for git log --raw + cat-file --batch of every blob the replay reads, once."""
    t0 = time.perf_counter()
    blobs = replay_blobs(snapshot_log(repo))
    _cat_blobs(repo, blobs)
    return time.perf_counter() - t0, len(blobs)


def paths_floor(repo: Path, paths: Sequence[str], fmt: str = "") -> tuple[float, int]:
    """Seconds for git log --raw + cat-file --batch of every blob changed under ``paths``
    (the floor of reading one playlist's versions, for bench_follow)."""
    t0 = time.perf_counter()
    log = git(repo, "log", "--raw", "--no-abbrev", f"--format={fmt}", "--", *paths,
              capture_output=True).stdout
    blobs = {line.split()[3] for line in log.splitlines()
             if line.startswith(b":") and line.split()[3].strip(b"0")}
    _cat_blobs(repo, blobs)
    return time.perf_counter() - t0, len(blobs)


def _cat_blobs(repo: Path, blobs: set[bytes]) -> None:
    """``git cat-file --batch`` of these blobs (their contents read and thrown away)."""
    subprocess.run(["git", "-C", str(repo), "cat-file", "--batch"], input=b"\n".join(blobs) + b"\n",
                   check=True, capture_output=True)


def naive(repo: Path, step: int = 10) -> float:
    """Estimated seconds to read and parse every playlist's snapshot at every commit.

    The snapshot the replay would read: the JSON (parsed with json.loads), or the plain
    file (split into lines) where there is no JSON.
    """
    import pygit2

    r = pygit2.Repository(str(repo))
    commits = list(r.walk(r.head.target, pygit2.enums.SortMode.TOPOLOGICAL))
    sample = commits[::step]
    t0 = time.perf_counter()
    for commit in sample:
        root = r[commit.tree[ROOT].id]
        pretty = r[root["pretty"].id] if "pretty" in root else None
        for entry in r[root["plain"].id] if "plain" in root else ():
            if pretty is not None and f"{entry.name}.json" in pretty:
                json.loads(r[pretty[f"{entry.name}.json"].id].data)
            else:
                r[entry.id].data.decode().split("\n")
    return (time.perf_counter() - t0) * len(commits) / max(1, len(sample))


def size_of(repo: Path) -> int:
    git(repo, "gc", "-q", "--prune=now")
    return sum(f.stat().st_size for f in (repo / "objects").rglob("*") if f.is_file())


def size_comparison(out: Path, playlists: int, days: int, *, plain_only: bool) -> dict:
    """Repository size after git gc: cumulative files committed daily vs a views branch."""
    from gitarchive.git.store import Store
    from gitarchive.history import rebuild as history

    sizes = {}
    for mode in ("committed", "views-branch", "none"):
        path = out / f"size-{mode}"
        shutil.rmtree(path, ignore_errors=True)
        archive = synth.SynthArchive(path, playlists, plain_only=plain_only)
        store = Store(path)
        for _ in range(days):
            archive.add_day()
            if mode == "committed":
                oid = history.rebuild(store).commit
                if oid is not None:
                    archive.tip = oid
            elif mode == "views-branch":
                history.rebuild(store, views_branch="views")
        sizes[mode] = size_of(path)
    return sizes


def first_question(repo: Path) -> float:
    """Seconds for ``gitarchive search`` run as a new process (as a user would)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gitarchive", "search", "Song 1", "--repo", str(repo)],
                   check=True, capture_output=True)
    return time.perf_counter() - t0


def python_start() -> float:
    """Seconds for ``python -c pass``: the floor under any new process's question."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, capture_output=True)
    return time.perf_counter() - t0


def source_archive(args: argparse.Namespace, layout: str) -> Path:
    """The synthetic archive of one layout, generated once and kept in ``--out``."""
    quirks = "-quirks" if args.quirks else ""
    churn = "" if args.churn == synth.CHURN else f"-churn{args.churn:g}"
    moved = layout == "mixed" and args.json_from != synth.JSON_FROM
    switch = f"-json{args.json_from}" if moved else ""
    source = args.out / synth.cached_name(
        f"archive-{args.playlists}x{args.days}-{layout}{quirks}{churn}{switch}")
    if not source.exists():
        t0 = time.perf_counter()
        partial = source.with_name(source.name + ".partial")  # an interrupted run leaves no
        shutil.rmtree(partial, ignore_errors=True)  # half-written archive to reuse
        archive = synth.build(partial, args.playlists, args.days,
                              **synth.layout_options(layout, min(args.json_from, args.days // 2)),
                              quirks=synth.ALL_QUIRKS if args.quirks else synth.Quirks(),
                              churn=args.churn)
        del archive
        git(partial, "gc", "-q")
        partial.rename(source)
        print(f"generated {source} in {time.perf_counter() - t0:.1f} s (packed with git gc)")
    return source


def measure(args: argparse.Namespace, layout: str) -> dict:
    """Floor and full rebuild side by side (pairs), incremental, first questions: one layout."""
    source = source_archive(args, layout)
    work = args.out / "work"
    # The machine's speed drifts by a third between minutes: measure the floor and the
    # full rebuild in pairs, one right after the other, and report the median pair.
    pairs = []
    floors: list[tuple[float, float]] = []
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work)
    memory = run_child(work, "full", sample=True)  # its own run: the timed ones are unsampled
    for _ in range(args.repeat):
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(source, work)  # fresh each time: a rebuild commits its files
        before, blobs = git_floor(work)
        full = run_child(work, "full")
        full["replay"] = run_replay(work)
        after, again = git_floor(work)  # git's own time varies by run: its better of two counts
        assert again == blobs, (blobs, again)  # the rebuild's commit adds no snapshot blob
        floors.append((before, after))
        pairs.append((min(before, after), full))
    pairs.sort(key=lambda pair: pair[1]["total"] / pair[0])
    print(f"[{layout}] load average {os.getloadavg()[0]:.1f} after the pairs "
          f"({os.cpu_count()} cores)")
    floor, full = pairs[len(pairs) // 2]
    print(f"[{layout}] git floor: {floor:.2f} s (log --raw + cat-file --batch of {blobs} blobs; "
          f"the better of one run before and one after each full rebuild: "
          + ", ".join(f"{b:.2f}/{a:.2f} s" for b, a in floors) + ")")
    if args.naive:
        estimate = naive(work)
        print(f"[{layout}] naive rebuild (every snapshot at every commit, estimated): "
              f"{estimate:.1f} s, {estimate / full['total']:.1f}x the full rebuild")
    print(f"[{layout}] full rebuild: replay with timelines, and each half's views and "
          f"pictures {full['sync']:.2f} s ({full['events']} events), "
          f"the rest of render+commit {full['render_commit']:.2f} s ({full['changed']} files), "
          f"query index {full['index']:.2f} s, total "
          f"{full['total']:.2f} s, peak RSS {full['maxrss_mb']:.0f} MB; the replay alone "
          f"{full['replay']:.2f} s")
    print(f"[{layout}] peak memory of a full rebuild's whole process tree (a run of its own, "
          f"sampled every 50 ms; {memory['total']:.2f} s sampled): {memory['tree_mb']:.0f} MB "
          f"summed PSS ({memory['tree_rss_mb']:.0f} MB summed RSS, shared pages counted once "
          f"per process)")
    print(f"[{layout}] full/floor (replay alone/floor) of each pair: " + ", ".join(
        f"{pair[1]['total'] / pair[0]:.1f}x ({pair[1]['replay'] / pair[0]:.1f}x)"
        for pair in pairs)
        + " (median pair shown)")
    # work is the last pair's copy, just rebuilt (its replay state saved): ask it.
    after_rebuild = first_question(work)
    warm = first_question(work)
    python = python_start()
    print(f"[{layout}] first question after the rebuild (new process): {after_rebuild:.2f} s; "
          f"the next one: {warm:.2f} s; python -c pass: {python:.2f} s")
    archive = synth.SynthArchive.resume(work, plain_only=layout == "plain", day=args.days)
    archive.add_day(churn=args.churn)
    inc = run_child(work, "incremental")
    print(f"[{layout}] incremental after one day: replay {inc['sync']:.3f} s ({inc['events']} "
          f"events), render+commit {inc['render_commit']:.2f} s ({inc['changed']} files), "
          f"total {inc['total']:.2f} s, peak RSS {inc['maxrss_mb']:.0f} MB")
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work)
    cold = first_question(work)
    print(f"[{layout}] first question with no saved state (new process): {cold:.2f} s "
          f"({cold / full['total']:.2f}x the full rebuild)")
    return {"layout": layout, "floor": floor, "full": full, "pairs": pairs, "inc": inc,
            "memory": memory,
            "after_rebuild": after_rebuild, "warm": warm, "python": python, "cold": cold}


def compile_package() -> None:
    """Write gitarchive's bytecode, as installing it (or a first run) does on a user's machine.

    Without it a new process compiles every module it imports from source each time, when
    the environment sets PYTHONDONTWRITEBYTECODE (this project's machine does) and the
    checkout's bytecode is older than its sources: ~0.05 s of each first question.
    """
    import compileall

    import gitarchive

    compileall.compile_dir(Path(gitarchive.__file__).parent, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playlists", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--size-playlists", type=int, default=100)
    parser.add_argument("--size-days", type=int, default=120)
    parser.add_argument("--layout", default="plain,json,mixed",
                        help="comma-separated: plain, json, mixed (200 days plain, then JSON)")
    parser.add_argument("--quirks", action=argparse.BooleanOptionalAction, default=True,
                        help="placeholders, renames, re-issued IDs, offsets, early files, "
                        "unreadable versions in the synthetic history (benchmarks/synth.py)")
    parser.add_argument("--churn", type=float, default=synth.CHURN,
                        help="share of playlists changed on a day (a real archive of 261 "
                        "playlists, ~30,000 versions in ~1,000 days: about 0.11)")
    parser.add_argument("--json-from", type=int, default=synth.JSON_FROM,
                        help="mixed layout: the first day with JSON snapshots")
    parser.add_argument("--repeat", type=int, default=3,
                        help="floor and full rebuild pairs (the median pair is shown)")
    parser.add_argument("--naive", action="store_true",
                        help="also estimate a naive rebuild (every snapshot at every commit)")
    parser.add_argument("--size", action=argparse.BooleanOptionalAction, default=True,
                        help="repository size with and without committed views")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    layouts = [name.strip() for name in args.layout.split(",") if name.strip()]
    unknown = set(layouts) - {"plain", "json", "mixed"}
    if unknown:
        parser.error(f"unknown layout(s): {', '.join(sorted(unknown))}")
    compile_package()
    results = [measure(args, layout) for layout in layouts]
    print(f"\nsummary ({args.playlists} playlists x {args.days} days, {args.churn:g} of "
          f"them changed a day"
          f"{', every quirk' if args.quirks else ''}; median pair of {args.repeat}):")
    print("layout | git floor | full rebuild | full/floor | replay/floor | incremental | "
          "1st question after rebuild | 1st question, no state | peak tree MB (PSS; summed RSS)")
    for r in results:
        full = r["full"]
        print(f"{r['layout']} | {r['floor']:.2f} s | {full['total']:.2f} s | "
              f"{full['total'] / r['floor']:.1f}x | {full['replay'] / r['floor']:.1f}x | "
              f"{r['inc']['total']:.2f} s | {r['after_rebuild']:.2f} s | {r['cold']:.2f} s | "
              f"{r['memory']['tree_mb']:.0f} ({r['memory']['tree_rss_mb']:.0f})")
    if args.size:
        layout = layouts[0]
        sizes = size_comparison(args.out, args.size_playlists, args.size_days,
                                plain_only=layout == "plain")
        print(f"repository size after git gc ({args.size_playlists} playlists x "
              f"{args.size_days} days, {layout} layout): "
              f"snapshots only {sizes['none'] / 1e6:.1f} MB, cumulative committed daily "
              f"{sizes['committed'] / 1e6:.1f} MB, views branch "
              f"{sizes['views-branch'] / 1e6:.1f} MB")


if __name__ == "__main__":
    sys.exit(main())
