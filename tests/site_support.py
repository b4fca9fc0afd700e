"""An archive history with hostile names, for the charts, feeds and site tests."""

from __future__ import annotations

import json
from dataclasses import dataclass

from history_support import History, at, json_files, pid, playlist, registry, track

from gitarchive.archive import layout
from gitarchive.archive.model import Link, Track

HOSTILE = '<script>alert(1)</script> "quoted" & <img src=x onerror="window.__pwned=1">'


def hostile_track(n: int) -> Track:
    """A track whose every text tries to inject markup."""
    return Track(
        url=f"https://open.spotify.com/track/TRX{n:019d}",
        name=f"</script><script>window.__pwned=1</script> {n}",
        album=Link(f'Album "{n}" & <b>bold</b>', f"https://open.spotify.com/album/ALX{n:019d}"),
        artists=(Link(f"<img src=x onerror=\"window.__pwned=1\"> '{n}'",
                      f"https://open.spotify.com/artist/ARX{n:019d}"),),
        duration_ms=200_000,
    )


@dataclass
class Built:
    history: History
    a: str  # the hostile playlist
    b: str  # a plain one


def build_history(path: str, *, bare: bool = False) -> Built:
    """Five runs over two playlists: adds, removals, a re-addition, a rename, followers."""
    h = History(path, bare=bare)
    a, b = pid(1), pid(2)
    h.commit(registry(a, b), at("2026-01-01", 8), message="add")
    days = [
        ("2026-01-01", [track(1), track(2), hostile_track(3)], [track(10)], HOSTILE, 100),
        ("2026-01-05", [track(1), hostile_track(3), track(4)], [track(10)], HOSTILE, 1500),
        ("2026-01-20", [track(1), hostile_track(3), track(4)], [track(10), track(11)],
         HOSTILE, 2500),
        ("2026-02-10", [track(1), track(2), track(4)], [track(11)], HOSTILE + " v2", 2600),
        ("2026-03-02", [track(1), track(2), track(4), track(5)], [track(11)],
         HOSTILE + " v2", 2700),
    ]
    followers: dict[str, int] = {}
    for day, a_tracks, b_tracks, name, count in days:
        followers[day] = count
        files = {
            **json_files(playlist(a, name, a_tracks, description=f"desc {HOSTILE}")),
            **json_files(playlist(b, "Plain name", b_tracks)),
            layout.followers_path(a): (json.dumps(followers, indent=2, sort_keys=True)
                                       + "\n").encode(),
        }
        h.commit(files, at(day))
    return Built(h, a, b)
