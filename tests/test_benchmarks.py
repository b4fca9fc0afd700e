"""The benchmarks measure what their labels say, and every mode of every one of them runs.

Not timed: the smoke runs use tiny sizes and only check that each benchmark completes and
that its side-by-side comparisons compare like with like.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

from benchmarks import bench_follow, bench_rebuild, bench_site, synth
from gitarchive.git.store import Store
from gitarchive.history import rebuild as history
from gitarchive.history.followers_chart import parse_followers
from gitarchive.history.replay import Replayer
from gitarchive.history.state import HistoryState
from gitarchive.history.sync import all_events

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(module: str, *args: str) -> str:
    """Run ``python -m benchmarks.MODULE ARGS`` from the checkout; its output, or fail."""
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert done.returncode == 0, f"{module} {' '.join(args)} crashed:\n{done.stderr}"
    return done.stdout


# ------------------------------------------------------- the floor reads what the replay reads


def blobs_the_replay_reads(path: Path) -> set[bytes]:
    """Run the real replay over the whole history, recording every blob it reads."""
    store = Store(path)
    head = store.head()
    assert head is not None
    read: set[bytes] = set()

    def reader(oid: str) -> bytes:
        read.add(oid.encode())
        return store.repo[oid].data

    Replayer(HistoryState(), reader).apply_all(all_events(store, head, {}))
    return read


def busy_archive(path: Path, *, plain_days: int, json_days: int) -> synth.SynthArchive:
    """A synthetic history with much churn: plain-only days first, then the JSON layout."""
    archive = synth.SynthArchive(path, 5, plain_only=plain_days > 0, seed=3)
    for _ in range(plain_days):
        archive.add_day(churn=0.6, follower_churn=0.6)
    archive.plain_only = False
    for _ in range(json_days):
        archive.add_day(churn=0.6, follower_churn=0.6)
    return archive


def drop_json(archive: synth.SynthArchive, pid: str) -> None:
    """Commit the deletion of one playlist's JSON snapshot: its plain file is read again."""
    repo = archive.repo
    tip = repo[archive.tip].peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(tip.tree)
    index.remove(f"playlists/pretty/{pid}.json")
    sig = pygit2.Signature("synth", "synth@localhost", tip.commit_time + 3600, 0)
    archive.tip = repo.create_commit(
        "refs/heads/main", sig, sig, "drop a JSON", index.write_tree(repo), [tip.id]
    )


@pytest.mark.parametrize(
    ("plain_days", "json_days"), [(0, 12), (12, 0), (6, 6)], ids=["json", "plain", "mixed"]
)
def test_git_floor_reads_exactly_the_blobs_the_replay_reads(
    tmp_path: Path, plain_days: int, json_days: int
) -> None:
    archive = busy_archive(tmp_path / "a", plain_days=plain_days, json_days=json_days)
    if plain_days and json_days:
        drop_json(archive, synth.playlist_id(0))
        archive.plain_only = True  # the next day writes plain files only
        archive.add_day(churn=1.0)
    replay = blobs_the_replay_reads(tmp_path / "a")
    floor = bench_rebuild.replay_blobs(bench_rebuild.snapshot_log(tmp_path / "a"))
    assert floor == replay
    repo = archive.repo
    kinds = {repo[b.decode()].data[:1] == b"{" for b in floor}  # JSON or plain text
    assert kinds == ({True, False} if plain_days and json_days else {json_days > 0})


def test_git_floor_leaves_out_what_the_replay_does_not_read(tmp_path: Path) -> None:
    """Written out by hand for one small history (day 0 plain only, day 1 with JSON)."""
    archive = busy_archive(tmp_path / "a", plain_days=1, json_days=1)
    repo = archive.repo
    head = repo[archive.tip].peel(pygit2.Commit)
    day0 = head.parents[0].tree
    pids = [synth.playlist_id(n) for n in range(5)]
    with_json = [pid for pid in pids if f"playlists/pretty/{pid}.json" in head.tree]
    assert 0 < len(with_json) < 5  # day 1 changed some playlists, not all
    expected = {str(day0[f"playlists/plain/{pid}"].id) for pid in pids} | {
        str(head.tree[f"playlists/pretty/{pid}.json"].id) for pid in with_json
    }
    skipped = {  # the replay reads none of these: markdown, followers, plain beside a JSON
        *(str(head.tree[f"playlists/pretty/{pid}.md"].id) for pid in with_json),
        *(str(e.id) for e in repo[head.tree["playlists/followers"].id]),
        *(str(head.tree[f"playlists/plain/{pid}"].id) for pid in with_json),
    } - expected
    log = bench_rebuild.snapshot_log(tmp_path / "a")
    floor = bench_rebuild.replay_blobs(log)
    assert {b.decode() for b in floor} == expected
    assert skipped
    # nor does the floor's log list the followers files (a whole-history walk leaves them out)
    assert b"playlists/followers/" not in log and b"playlists/pretty/" in log


# ---------------------------------------------------------------- every mode runs (not timed)


def test_bench_fetch_runs_and_both_ways_make_the_same_tree() -> None:
    out = run_benchmark("bench_fetch", "--playlists", "3", "--tracks", "4", "--repeat", "2")
    assert "write files + git add -A + git commit" in out
    assert "same tree both ways: True" in out
    assert "HTTP floor (bare requests.Session loop" in out and "budget" in out


@pytest.mark.parametrize("layout", ["json", "plain", "mixed"])
def test_bench_rebuild_runs_in_each_layout(tmp_path: Path, layout: str) -> None:
    args = ("--playlists", "3", "--days", "4", "--size-playlists", "3", "--size-days", "3",
            "--repeat", "1", "--layout", layout, "--out", str(tmp_path))
    (tmp_path / f"archive-3x4-{layout}-quirks").mkdir()  # an older generator's: not reused
    first = run_benchmark("bench_rebuild", *args)
    assert "generated" in first and f"{layout} layout" in first
    made = synth.cached_name(f"archive-3x4-{layout}-quirks")
    assert synth.generator_of(tmp_path / made) == synth.GENERATOR
    again = run_benchmark("bench_rebuild", *args)  # reuses the archive generated before
    assert "generated" not in again and "full rebuild: replay" in again
    assert "first question after the rebuild" in first and f"\n{layout} | " in first
    # the timed rebuilds are not sampled; the tree's memory comes from a run of its own
    assert "peak memory of a full rebuild's whole process tree (a run of its own" in first


SHARING_TREE = r"""
import os, sys, time
block = bytearray(os.urandom(1 << 20)) * 64  # 64 MiB, every page touched
if os.fork() == 0:  # the child shares every page of the block with its parent
    time.sleep(30)
    os._exit(0)
print("ready", flush=True)
time.sleep(30)
"""


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="needs Linux /proc")
def test_tree_memory_counts_a_forked_childs_shared_pages_once() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SHARING_TREE], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        pss, rss = bench_rebuild.tree_memory_kb(proc.pid)
    finally:
        for child in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
            subprocess.run(["kill", child], check=False)
        proc.kill()
        proc.wait()
    block = 64 * 1024
    assert rss >= 2 * block  # both processes hold the block: summed RSS counts it twice
    assert block <= pss < block * 1.5  # summed PSS counts it once, split between them


def test_render_check_hashes_every_file_and_finds_none_changed(tmp_path: Path) -> None:
    synth.build(tmp_path / "a", 3, 4)
    args = (str(tmp_path / "a"), "--cache", str(tmp_path / "cache"), "--repeat", "1")
    first = run_benchmark("render_check", *args, "--save", str(tmp_path / "hashes.json"))
    # Per setting: 2 cumulative files, 3 charts and a feed per playlist, the archive feed.
    assert "38 files, digest" in first and "views: " in first and "feeds: " in first
    again = run_benchmark("render_check", *args, "--compare", str(tmp_path / "hashes.json"))
    assert again.splitlines()[:2] == [first.splitlines()[0], "0 differ"]


def test_bench_query_runs_fresh_and_on_a_kept_archive(tmp_path: Path) -> None:
    args = ("--playlists", "3", "--days", "4", "--runs", "1")
    assert "show --at (in-process)" in run_benchmark("bench_query", *args)
    synth.build(tmp_path / "kept", 3, 4)
    assert "show --at (new process)" in run_benchmark(
        "bench_query", *args, "--keep", str(tmp_path / "kept")
    )
    old = pygit2.Repository(str(tmp_path / "kept"))
    del old.config[synth.GENERATOR_KEY]  # as an archive of an older generator has none
    done = subprocess.run([sys.executable, "-m", "benchmarks.bench_query", *args, "--keep",
                           str(tmp_path / "kept")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0 and "made by synth generator None" in done.stderr


def test_cached_archives_are_named_with_their_generator(tmp_path: Path) -> None:
    """An archive of an older generator is never reused: each name holds the generator."""
    follow = bench_follow.source_archive(tmp_path, 2, 2)
    site = bench_site.source_archive(tmp_path, 2, 2)
    assert follow.name == synth.cached_name("follow-source-2x2") != "follow-source-2x2"
    assert site.name == synth.cached_name("site-2x2")
    assert synth.generator_of(follow) == synth.generator_of(site) == synth.GENERATOR


def test_bench_packs_compares_many_packs_with_one(tmp_path: Path) -> None:
    out = run_benchmark("bench_packs", "--playlists", "8", "--days", "60", "--repeat", "1",
                        "--out", str(tmp_path))
    assert "consolidation, entries copied: " in out and "(--deltas)" in out
    assert "nightly step in steady state (51 day-packs" in out
    assert (tmp_path / synth.cached_name("packs-8x60") / "names").exists()
    lines = {line.split("]")[0][1:]: line for line in out.splitlines() if line.startswith("[")}
    assert set(lines) == {"many", "one", "deltas"} and "next day's rebuild" in lines["one"]
    assert lines["one"].startswith("[one] 1 pack(s)") and "[many] 1 pack" not in lines["many"]


@pytest.mark.parametrize("layout", ["json", "plain", "mixed"])
def test_synth_runs_in_each_layout(tmp_path: Path, layout: str) -> None:
    run_benchmark("synth", str(tmp_path / "a"), "--playlists", "3", "--days", "3",
                  "--layout", layout)
    head = pygit2.Repository(str(tmp_path / "a")).head.peel(pygit2.Commit)
    assert ("playlists/pretty" in head.tree) == (layout == "json")  # mixed: JSON from day 200


def test_synth_quirks_are_in_the_history(tmp_path: Path) -> None:
    """--layout mixed --quirks: every quirk of a real archive occurs (issue 9)."""
    run_benchmark("synth", str(tmp_path / "a"), "--playlists", "40", "--days", "120",
                  "--layout", "mixed", "--json-from", "60", "--quirks")
    repo = pygit2.Repository(str(tmp_path / "a"))
    log = subprocess.run(["git", "-C", str(tmp_path / "a"), "log", "--raw", "--no-renames",
                          "--no-abbrev",
                          "--format=commit %ci", "--reverse"],
                         capture_output=True, text=True, check=True).stdout
    assert {line.split()[-1] for line in log.splitlines() if line.startswith("commit")} == {
        "-0400", "-0700", "+0000"}
    empty = str(pygit2.hash(b""))
    placeholders = [line for line in log.splitlines() if f" {empty} A\tplaylists/plain/" in line]
    assert placeholders  # playlists registered late by an empty file
    assert any(line.endswith(f"\tplaylists/plain/{synth.mistyped_id(n)}") and " D\t" in line
               for line in log.splitlines() for n in range(40))
    head = repo.head.peel(pygit2.Commit).tree
    assert any(e.name.startswith("NEW") for e in repo[head["playlists/plain"].id])
    assert {"playlist_ids.txt", "playlists"} <= {e.name for e in head}
    assert "raw" in repo[head["playlists"].id]
    days = log.split("commit ")[1:]
    assert "playlists/pretty/" not in "".join(days[:60]) and "playlists/pretty/" in days[60]


# ------------------------------------------------- followers files as gitarchive's fetch writes


def commit_days(repo: pygit2.Repository) -> list[str]:
    """The UTC day of each commit on main, oldest first."""
    commits = repo.walk(repo.head.target, pygit2.enums.SortMode.REVERSE)
    return [synth.commit_day(c.commit_time) for c in commits]


def followers_at_head(repo: pygit2.Repository) -> dict[str, dict[str, int]]:
    """pid -> its followers file at HEAD, parsed as the charts parse it."""
    tree = repo.head.peel(pygit2.Commit).tree
    return {e.name[: -len(".json")]: parse_followers(repo[e.id].data)
            for e in repo[tree["playlists/followers"].id]}


@pytest.mark.parametrize("layout", ["json", "mixed", "plain"])
def test_synth_followers_files_hold_every_json_era_day(tmp_path: Path, layout: str) -> None:
    """Every live playlist gets the commit's UTC day every JSON-era day (as fetch adds it),
    counting on from the day before; plain-only days have no followers files."""
    synth.build(tmp_path / "a", 6, 8, **synth.layout_options(layout, json_from=3))
    repo = pygit2.Repository(str(tmp_path / "a"))
    days = commit_days(repo)
    if layout == "plain":
        assert "playlists/followers" not in repo.head.peel(pygit2.Commit).tree
        return
    era = days[3:] if layout == "mixed" else days
    files = followers_at_head(repo)
    assert set(files) == {synth.playlist_id(n) for n in range(6)}
    assert all(list(counts) == era for counts in files.values())
    assert len({c for counts in files.values() for c in counts.values()}) > 1  # counts move
    head = repo.head.peel(pygit2.Commit)
    parent = head.parents[0].tree
    changed = [e for e in repo[head.tree["playlists/followers"].id]
               if parent["playlists/followers/" + e.name].id != e.id]
    assert len(changed) == 6  # today's day written to each, moved or not


def test_synth_resume_counts_on_in_the_followers_files(tmp_path: Path) -> None:
    synth.build(tmp_path / "a", 4, 5)
    before = followers_at_head(pygit2.Repository(str(tmp_path / "a")))
    synth.SynthArchive.resume(tmp_path / "a", plain_only=False, day=5).add_day(
        follower_churn=0.0, churn=0.0)
    repo = pygit2.Repository(str(tmp_path / "a"))
    after, today = followers_at_head(repo), commit_days(repo)[-1]
    assert set(after) == set(before)
    for pid, counts in before.items():  # nothing moved: the last count repeated
        assert after[pid] == {**counts, today: counts[max(counts)]}


def test_full_rebuild_draws_followers_charts_from_synth_files(tmp_path: Path) -> None:
    synth.build(tmp_path / "a", 3, 6, follower_churn=1.0)
    store = Store(tmp_path / "a")
    history.rebuild(store, full=True)
    tree = store.repo.head.peel(pygit2.Commit).tree
    for n in range(3):
        chart = store.repo[tree[f"playlists/charts/{synth.playlist_id(n)}-followers.svg"].id]
        assert b"<polyline" in chart.data


def test_synth_snapshot_holds_the_count_of_its_day(tmp_path: Path) -> None:
    """As fetch writes them: each JSON-era day's snapshot holds that day's count, and a
    playlist whose count alone moved gets a new snapshot of the same tracks."""
    synth.build(tmp_path / "a", 6, 8, churn=0.0, follower_churn=0.5)
    repo = pygit2.Repository(str(tmp_path / "a"))
    commits = list(repo.walk(repo.head.target, pygit2.enums.SortMode.REVERSE))
    alike = 0
    for before, commit in zip(commits, commits[1:], strict=False):
        day = synth.commit_day(commit.commit_time)
        for n in range(6):
            pid = synth.playlist_id(n)
            snapshot = json.loads(commit.tree[f"playlists/pretty/{pid}.json"].data)
            counts = parse_followers(commit.tree[f"playlists/followers/{pid}.json"].data)
            assert snapshot["num_followers"] == counts[day]
            old = before.tree[f"playlists/pretty/{pid}.json"]
            if counts[day] != counts[max(d for d in counts if d < day)]:
                assert old.id != commit.tree[f"playlists/pretty/{pid}.json"].id
                old_tracks = json.loads(old.data)["tracks"]
                alike += old_tracks == snapshot["tracks"]
    assert alike > 0
