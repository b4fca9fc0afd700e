"""Rebuild the recorded API playlists in fixtures/ (run by hand: python tests/build_fixtures.py).

Two come from the golden archive files (a pretty JSON and a pretty markdown
snapshot), the others are invented for the demo: pagination past 100 entries,
non-ASCII names, markdown special characters, and entries gitarchive skips.
The output is deterministic, so rebuilding without changes gives no diff.
"""

from __future__ import annotations

import json
import random
import re
import string
import sys
from pathlib import Path

from gitarchive.archive.model import Link, Playlist, Track
from gitarchive.spotify.apijson import (
    api_playlist_from_model,
    episode_entry,
    local_file_entry,
    null_entry,
)

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
OUT = ROOT / "fixtures"
OPEN = "https://open.spotify.com"
SPOTIFY = Link("Spotify", f"{OPEN}/user/spotify")

_LINK = re.compile(r"\[((?:\\.|[^\]\\])*)\]\(([^)]*)\)")


def unescape_md(text: str) -> str:
    """Undo the archive's markdown escaping: `<br/>` is a newline, `\\x` is `x`."""
    return re.sub(r"\\(.)", r"\1", text.replace("<br/>", "\n"))


def links(cell: str) -> list[Link]:
    return [Link(unescape_md(name), url) for name, url in _LINK.findall(cell)]


def duration_ms(length: str) -> int:
    seconds = 0
    for part in length.strip().split(":"):
        seconds = seconds * 60 + int(part)
    return seconds * 1000 + 500  # the markdown rounds down to whole seconds


def playlist_from_markdown(text: str, followers: int, added_at: str) -> Playlist:
    """Read a pretty markdown snapshot back into a model Playlist."""
    lines = text.splitlines()
    title = next(line for line in lines if line.startswith("### "))
    [(name, url)] = _LINK.findall(title)
    description = next((line[2:] for line in lines if line.startswith("> ")), "")
    snapshot = re.search(r"Snapshot ID: `([^`]*)`", text)
    tracks = []
    for line in lines:
        if not re.match(r"\| \d+ \|", line):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        _, title_cell, artists_cell, album_cell, length = cells
        [track] = links(title_cell)
        [album] = links(album_cell) or [Link(unescape_md(album_cell))]
        tracks.append(
            Track(
                url=track.url,
                name=track.name,
                album=album,
                artists=tuple(links(artists_cell)),
                duration_ms=duration_ms(length),
                added_at=added_at,
            )
        )
    return Playlist(
        url=url,
        original_name=unescape_md(name),
        description=unescape_md(description),
        owner=SPOTIFY,
        tracks=tuple(tracks),
        snapshot_id=snapshot.group(1) if snapshot else "",
        num_followers=followers,
    )


def _sid(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(22))


def invented_tracks(rng: random.Random, count: int, words: list[str], day: str) -> list[Track]:
    artists = [Link(name, f"{OPEN}/artist/{_sid(rng)}") for name in words]
    tracks = []
    for i in range(count):
        artist = artists[i % len(artists)]
        album = Link(f"{artist.name} — Vol. {i % 7 + 1}", f"{OPEN}/album/{_sid(rng)}")
        tracks.append(
            Track(
                url=f"{OPEN}/track/{_sid(rng)}",
                name=f"{rng.choice(words)} {rng.choice(['Nacht', 'Song', 'Café', '夜'])} {i + 1}",
                album=album,
                artists=(artist,) if i % 5 else (artist, artists[(i + 3) % len(artists)]),
                duration_ms=rng.randrange(95_000, 420_000),
                added_at=f"{day} {10 + i % 12:02d}:{i % 60:02d}:00",
            )
        )
    return tracks


def invented_playlists() -> dict[str, dict]:
    rng = random.Random(20260227)
    user = Link("Zoë Ångström", f"{OPEN}/user/zoe.angstrom")
    big = Playlist(
        url=f"{OPEN}/playlist/5pKgT2nDemoLongMix0001",
        original_name="Nachtschicht — 深夜 Mix",
        description='Songs for *late* shifts: [no links], <b>bold</b> & "quotes"\nLine two_',
        owner=user,
        tracks=tuple(
            invented_tracks(
                rng,
                124,
                ["Sigur Rós", "Björk", "Mø", "宇多田ヒカル", "Beyoncé", "Röyksopp"],
                "2025-11-02",
            )
        ),
        snapshot_id="AAAAB3demoLongMixSnapshot1",
        num_followers=17,
    )
    big_data = api_playlist_from_model(big)
    entries = big_data["items"]["items"]
    # Entries gitarchive skips, where real playlists have them: not only at the end,
    # and one past the first page of 100.
    entries.insert(7, episode_entry("Folge 12: Über Musik", _sid(rng), "Der Musikpodcast"))
    entries.insert(40, local_file_entry("demo-take-3.mp3", "Zoë", "Home recordings", 201_000))
    entries.insert(103, null_entry())
    big_data["items"].update(limit=len(entries), total=len(entries))
    small = Playlist(
        url=f"{OPEN}/playlist/3xQmR8vDemoSmallMix002",
        original_name="Café | Büro #1",
        description="",
        owner=Link("kai", f"{OPEN}/user/kai"),
        tracks=tuple(
            invented_tracks(rng, 12, ["Kraftwerk", "Air", "Ólafur Arnalds"], "2024-02-29")
        ),
        snapshot_id="AAAAC7demoSmallMixSnapshot",
        num_followers=None,  # Spotify may omit followers: the archive must cope
    )
    return {
        big.id: big_data,
        small.id: api_playlist_from_model(small),
    }


def build() -> dict[str, dict]:
    golden_json = GOLDEN / "pretty-09D0CKBRWkBBoPn46V6YTO.json"
    golden_md = GOLDEN / "pretty-37i9dQZF1DX5LEXW9eXA0n.md"
    nineteen_seventy = Playlist.from_json(golden_json.read_text(encoding="utf-8"))
    ballads = playlist_from_markdown(
        golden_md.read_text(encoding="utf-8"), followers=309767, added_at="2022-03-27 00:00:00"
    )
    return {
        nineteen_seventy.id: api_playlist_from_model(nineteen_seventy),
        ballads.id: api_playlist_from_model(ballads),
        **invented_playlists(),
    }


def dump(data: dict) -> str:
    """Indented JSON with one playlist entry a line: small, and diffs show changed entries."""
    page = data["items"]
    entries, page["items"] = page["items"], ["@ENTRIES@"]
    text = json.dumps(data, indent=1, ensure_ascii=False)
    page["items"] = entries
    lines = ",\n".join("   " + json.dumps(e, ensure_ascii=False) for e in entries)
    return text.replace('"@ENTRIES@"', lines.lstrip()) + "\n"


def main() -> int:
    for pid, data in build().items():
        path = OUT / f"{pid}.json"
        path.write_text(dump(data), encoding="utf-8")
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
