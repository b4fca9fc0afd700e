"""Charts and feeds of names beyond ASCII: the same bytes as main's code drew before the
drawing wrote UTF-8 bytes a character each (tests/golden/drawn-*, made by that code).

A text from Spotify that reached a chart or feed without being turned into its UTF-8
bytes would come out as Latin-1 (or fail): every kind of text is here, in every place.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from gitarchive.archive.snapshots import TrackMeta
from gitarchive.history import feeds, pictures
from gitarchive.history.timeline import Change, Timeline

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
NAMES = ["Café del Mar", "東京 Night — 夜", "Party 😀 & <friends>", 'Ünïcödé "quoted"',
         "A name long enough to be cut short: ñandú, señor, años", "Zero\u200bwidth", "plain",
         "Ωmega's → way", "Ça & ça ‹›", "An ASCII name long enough to be cut short too",
         *[("ASCII, cut " * 4)[:n] for n in (37, 38, 39, 40, 41)]]  # cut around the dash


def _at(day: int) -> int:
    return int((datetime(2024, 1, 1, 2, tzinfo=UTC) + timedelta(days=day)).timestamp())


def _artist(k: int, name: str) -> str:
    return f"Artist {k}" if name.isascii() else f"Ärtist {k} ✓ {name[:6]}"


def timeline(pid: str, shift: int) -> Timeline:
    """Fifteen tracks with names beyond ASCII (artists too), renamed and described."""
    tracks = {
        f"t{n}": TrackMeta(
            "" if n % 4 == 3 else f"https://open.spotify.com/track/{n}?é=1&b='2'",
            name, (f"Albüm {name}", "https://open.spotify.com/album/1"),
            () if n % 5 == 4 else tuple((_artist(k, name), "u") for k in range(n % 3 + 1)),
            1000 * n,
        )
        for n, name in enumerate(NAMES)
    }
    when = [_at(shift + d) for d in (0, 1, 9, 20, 40, 58)]
    return Timeline(pid=pid, name=f"Mix ✨ {pid} — «ünïcode» & <co>",
                    url=f"https://open.spotify.com/playlist/{pid}", tracks=tracks, changes=[
        Change(when[0], "", "b0", added=["t0", "t1", "t2", "t3"], name="Mix ✨", first=True),
        Change(when[1], "", "b1", added=["t4"], removed=["t1"], name="Mîx “again” 🎧"),
        Change(when[2], "", "b2", added=["t5", "t1"], description="<p>névé</p> & — more"),
        Change(when[3], "", "b3", removed=["t0", "t5"], added=["t6", "t7"]),
        Change(when[4], "", "b4", added=["t8", "t0", *(f"t{n}" for n in range(11, 16))]),
        Change(when[5], "", "b5", removed=["t3"], added=["t9", "t10"]),  # t10: no metadata
    ])


def drawn() -> dict[str, bytes]:
    """Every chart and feed of two such playlists, by golden file name."""
    a, b = timeline("a", 0), timeline("b", 3)
    gaps = [(_at(5), _at(7), False), (_at(50), _at(58), True)]
    files = {}
    for t, zone in ((a, UTC), (b, ZoneInfo("America/New_York"))):
        counts = {f"2024-01-{d:02}": 1000 + d * 37 for d in range(1, 30, 3)}
        for path, data in pictures.render_charts(t, counts, zone, gaps).items():
            files[Path(path).name] = data
        files[f"{t.pid}.xml"] = feeds.playlist_feed(t, "https://example.org/ä/")
    changes = [(t, c) for t in (a, b) for c in t.changes]
    files["archive.xml"] = feeds.archive_feed(changes, "https://example.org/ä/")
    return files


def test_charts_and_feeds_beyond_ascii_are_the_bytes_drawn_before() -> None:
    for name, data in drawn().items():
        assert data == (GOLDEN / f"drawn-{name}").read_bytes(), name
