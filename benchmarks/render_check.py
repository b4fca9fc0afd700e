"""Hash and time the rendering half of a full rebuild: cumulative views, charts, feeds.

    .venv/bin/python -m benchmarks.render_check ARCHIVE [--cache DIR] [--save HASHES]
        [--compare HASHES] [--repeat 3 (0: no timing)] [--no-hash] [--no-spice]

ARCHIVE is a work clone of a synthetic archive (benchmarks/synth.py; a replay and the
timelines are computed on it once and cached in ``--cache`` as a pickle, so reruns
measure rendering only). Every file is rendered in this one process (no fork) for a
few settings (UTC and a zone with daylight saving, with and without a githistory base
and final newline) and hashed: ``--save`` keeps the hashes, ``--compare`` fails on any
byte that differs (rendering must stay byte-identical when it is made faster). The
synthetic names hold nothing to escape, so a third of the tracks and a quarter of the
playlists get markup, quotes, markdown specials and line breaks (``_spice``; compare
hashes made with the same ``--no-spice`` setting). Timing reports the median CPU and
wall seconds of ``--repeat`` runs of each part in UTC, on the same data.

Side by side with main's code: extract main's ``gitarchive/`` somewhere and run this
same module with that directory first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from gitarchive.git.store import Store
from gitarchive.history import feeds, pictures, publish, sync, timeline_read
from gitarchive.history.views import DateFormatter, get_timezone

SETTINGS = [  # (timezone, githistory base, final newline)
    ("UTC", None, True),
    ("America/New_York", "https://github.com/o/r", False),
]


def _load(archive: Path, cache: Path) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    """(pid -> PlaylistHistory, pid -> Timeline, recent changes), cached as a pickle."""
    cached = cache / (archive.name + ".pkl")
    if cached.exists():
        with cached.open("rb") as f:
            data: tuple[dict[str, Any], dict[str, Any], list[Any]] = pickle.load(f)
            return data
    store = Store(archive)
    state = sync.sync(store, full=True).state
    playlists = {pid: state.playlists[pid] for pid in sorted(state.playlists)}
    timelines = timeline_read.update(store, save=False)
    by_pid = {t.pid: t for t in timelines}
    recent = [(t.pid, t.changes.index(c)) for t, c in timelines.recent_changes()]
    cache.mkdir(parents=True, exist_ok=True)
    with cached.open("wb") as f:
        pickle.dump((playlists, by_pid, recent), f, protocol=pickle.HIGHEST_PROTOCOL)
    return playlists, by_pid, recent


def _spice(playlists: dict[str, Any], timelines: dict[str, Any]) -> None:
    """Give every few tracks and playlists text to escape (the synthetic names have none).

    Markup, quotes, markdown specials, line breaks, long names and tracks without a
    url: deterministic (by a CRC of the track key), so every run spices the same ones.
    """
    def spiced(key: str, meta: Any) -> Any:
        n = zlib.crc32(key.encode())
        if n % 3:
            return meta
        return meta._replace(
            name=meta.name + (' <b>"&\'</b> | [x](y) *a* _b_ . c' if n % 2 else " \r\nx" * 9),
            url="" if n % 11 == 0 else meta.url,
            album=(meta.album[0] + " <i>#1 ~ `2`", meta.album[1]),
            artists=tuple((a[0] + " & Co., <Ltd>", a[1]) for a in meta.artists),
        )

    for pid, playlist in playlists.items():
        for key, track in playlist.tracks.items():
            track.meta = spiced(key, track.meta)
        if zlib.crc32(pid.encode()) % 4 == 0:
            playlist.name += " <&> 'quoted' \"name\""
            playlist.description += " <script>x</script> & more\n  "
    for pid, timeline in timelines.items():
        timeline.tracks = {key: spiced(key, meta) for key, meta in timeline.tracks.items()}
        if zlib.crc32(pid.encode()) % 4 == 0:
            timeline.name += " <&> 'quoted' \"name\""
            for change in timeline.changes[::5]:
                change.name = (change.name or "") + " & <renamed>"
                change.description = "<p>new</p> & 'more'"


def render_views(playlists: dict[str, Any], tz: str, base: str | None, newline: bool
                 ) -> dict[str, bytes]:
    state: Any = SimpleNamespace(playlists=playlists)
    fmt = DateFormatter(get_timezone(tz))
    return dict(publish._render_in_order(state, list(playlists), fmt, base, newline))


def render_charts(playlists: dict[str, Any], timelines: dict[str, Any], tz: str
                  ) -> dict[str, bytes]:
    zone = get_timezone(tz)
    out: dict[str, bytes] = {}
    for pid, timeline in timelines.items():
        gaps = playlists[pid].gaps if pid in playlists else ()
        followers = {  # made up: a count on the day of each of its first changes
            time.strftime("%Y-%m-%d", time.gmtime(change.time)): 90 + n * (n % 7) * len(pid)
            for n, change in enumerate(timeline.changes[:40])
        }
        out.update(pictures.render_charts(timeline, followers, zone, gaps))
    return out


def render_feeds(timelines: dict[str, Any], recent: list[Any], base: str | None
                 ) -> dict[str, bytes]:
    out = {feeds.feed_path(pid): _bytes(feeds.playlist_feed(t, base))
           for pid, t in timelines.items()}
    changes = [(timelines[pid], timelines[pid].changes[i]) for pid, i in recent]
    out[feeds.ARCHIVE_FEED] = _bytes(feeds.archive_feed(changes, base))
    return out


def _bytes(feed: str | bytes) -> bytes:
    """A feed's bytes: the code before round draw14 gave its text (run side by side)."""
    return feed if isinstance(feed, bytes) else feed.encode("utf-8")


def _cold() -> None:
    """Empty the renderers' memo caches: a rebuild renders each file once, cold."""
    for name, module in list(sys.modules.items()):
        if not name.startswith("gitarchive."):
            continue
        for value in vars(module).values():
            clear = getattr(value, "cache_clear", None)
            if callable(clear):
                clear()


def _median(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median CPU seconds (steadier than wall time on a shared machine) and wall seconds."""
    cpu, wall = [], []
    for _ in range(repeat):
        _cold()
        t, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
    return statistics.median(cpu), statistics.median(wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/render_check"))
    parser.add_argument("--save", type=Path)
    parser.add_argument("--compare", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-hash", action="store_true")
    parser.add_argument("--no-spice", action="store_true",
                        help="keep the synthetic names as they are (nothing to escape)")
    args = parser.parse_args(argv)
    playlists, timelines, recent = _load(args.archive, args.cache)
    if not args.no_spice:
        _spice(playlists, timelines)
    status = 0
    if not args.no_hash:
        hashes: dict[str, str] = {}
        for tz, base, newline in SETTINGS:
            files = {**render_views(playlists, tz, base, newline),
                     **render_charts(playlists, timelines, tz),
                     **render_feeds(timelines, recent, base)}
            for path, content in files.items():
                hashes[f"{tz}|{base}|{newline}|{path}"] = hashlib.sha1(content).hexdigest()
        total = hashlib.sha1(json.dumps(hashes, sort_keys=True).encode()).hexdigest()
        print(f"{len(hashes)} files, digest {total}")
        if args.save:
            args.save.write_text(json.dumps(hashes, sort_keys=True, indent=0))
        if args.compare:
            want = json.loads(args.compare.read_text())
            bad = sorted(k for k in want.keys() | hashes.keys() if want.get(k) != hashes.get(k))
            print(f"{len(bad)} differ" + "".join(f"\n  {k}" for k in bad[:10]))
            status = 1 if bad else 0
    for label, fn in () if args.repeat < 1 else (
        ("views", lambda: render_views(playlists, "UTC", None, True)),
        ("charts", lambda: render_charts(playlists, timelines, "UTC")),
        ("feeds", lambda: render_feeds(timelines, recent, None)),
    ):
        cpu, wall = _median(fn, args.repeat)
        print(f"{label}: {cpu:.3f} s CPU, {wall:.3f} s wall (medians of {args.repeat})")
    return status


if __name__ == "__main__":
    sys.exit(main())
