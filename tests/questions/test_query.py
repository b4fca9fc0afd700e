"""show, diff, log, search, export on a small real archive built commit by commit."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gitarchive.archive import layout, render
from gitarchive.archive.model import Link, Playlist, Track
from gitarchive.cli import main
from gitarchive.errors import PlaylistNotFound
from gitarchive.git.store import Store
from gitarchive.questions.index import fold, index_path
from gitarchive.questions.resolve import Known, resolve_playlist

ROAD = "1" * 22
CHILL = "2" * 22
CHILL2 = "3" * 22
OLD = "4" * 22


def at(day: str, hour: int = 12, minute: int = 0) -> int:
    return int(datetime.fromisoformat(f"{day}T{hour:02}:{minute:02}:00+00:00").timestamp())


def track(n: int, name: str | None = None, artist: str | None = None) -> Track:
    return Track(
        url=f"https://open.spotify.com/track/T{n:021d}",
        name=name or f"Song {n}",
        album=Link(f"Album {n}", ""),
        artists=(Link(artist or f"Artist {n}", ""),),
        duration_ms=200_000 + n,
    )


HALO = track(1, "Halo", "Beyoncé")


def snapshot(pid: str, name: str, tracks: Iterable[Track], description: str = "") -> Playlist:
    return Playlist(
        url=f"https://open.spotify.com/playlist/{pid}",
        original_name=name,
        description=description,
        owner=Link("Owner"),
        tracks=tuple(tracks),
        num_followers=3,
    )


def files(*playlists: Playlist) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for p in playlists:
        out[layout.pretty_json_path(p.id)] = p.to_json().encode()
        out[layout.plain_path(p.id)] = render.plain(p).encode()
    return out


def registered(**aliases: str) -> dict[str, bytes | None]:
    return {layout.registry_path(pid): (f"{a}\n".encode() if a else b"")
            for pid, a in aliases.items()}


@pytest.fixture
def archive(tmp_path: Path) -> Store:
    return build_archive(tmp_path / "archive")


def build_archive(path: Path) -> Store:
    """Road Trip changes three times; two playlists are both named Chill; Old Mix left."""
    store = Store.init(path, bare=True)
    reg = registered(**{ROAD: "roadie", CHILL: "", CHILL2: "", OLD: ""})
    store.commit(
        {**reg, **files(
            snapshot(ROAD, "Road Trip", [HALO, track(2), track(3)]),
            snapshot(CHILL, "Chill", [track(2), track(6)]),
            snapshot(CHILL2, "chill", [track(7)]),
            snapshot(OLD, "Old Mix", [track(8, "Déjà Vu", "Olivia")]),
        )},
        "run 1", when=(at("2024-01-10"), 0),
    )
    store.commit({layout.registry_path(OLD): None}, "Unregister", when=(at("2024-01-12"), 0))
    store.commit(
        files(snapshot(ROAD, "Road Trip", [HALO, track(2), track(4)]),
              snapshot(CHILL, "Chill", [track(6)])),
        "run 2", when=(at("2024-01-20"), 0),
    )
    store.commit(
        files(snapshot(ROAD, "Road Trip 2024", [HALO, track(2), track(4), track(5)],
                       description="Summer drive")),
        "run 3", when=(at("2024-02-01"), 0),
    )
    return store


def run(store: Store, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--repo", str(store.git_dir)])


def ok(store: Store, *args: str) -> str:
    result = run(store, *args)
    assert result.exit_code == 0, result.output
    return result.output


def fails(store: Store, *args: str) -> str:
    result = run(store, *args)
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.output


def names(output: str) -> list[str]:
    return [t["name"] for t in json.loads(output)["tracks"]]


# ------------------------------------------------------------------- show


def test_show_at_a_date_between_snapshots_gives_the_earlier(archive: Store) -> None:
    assert names(ok(archive, "show", ROAD, "--at", "2024-01-15", "--format", "json")) == [
        "Halo", "Song 2", "Song 3"
    ]


def test_show_at_counts_the_whole_day(archive: Store) -> None:
    assert "Song 4" in names(ok(archive, "show", ROAD, "--at", "2024-01-20", "--format", "json"))
    assert "Song 4" not in names(
        ok(archive, "show", ROAD, "--at", "2024-01-19", "--format", "json")
    )


def test_show_day_ends_in_the_chosen_timezone(archive: Store) -> None:
    archive.commit(files(snapshot(CHILL, "Chill", [track(9)])), "late",
                   when=(at("2024-02-03", 23, 30), 0))
    utc = names(ok(archive, "show", CHILL, "--at", "2024-02-03", "--format", "json"))
    berlin = names(ok(archive, "show", CHILL, "--at", "2024-02-03", "--format", "json",
                      "--timezone", "Europe/Berlin"))
    assert (utc, berlin) == (["Song 9"], ["Song 6"])  # 23:30 UTC is the 4th in Berlin


def test_show_latest_by_default_in_every_format(archive: Store) -> None:
    latest = snapshot(ROAD, "Road Trip 2024", [HALO, track(2), track(4), track(5)],
                      description="Summer drive")
    assert ok(archive, "show", ROAD, "--format", "json") == latest.to_json()
    assert ok(archive, "show", ROAD, "--format", "md") == render.pretty_md(latest)
    assert ok(archive, "show", ROAD, "--format", "plain") == render.plain(latest)
    rows = list(csv.DictReader(io.StringIO(ok(archive, "show", ROAD, "--format", "csv"))))
    assert [(r["position"], r["name"], r["artists"]) for r in rows][:2] == [
        ("1", "Halo", "Beyoncé"), ("2", "Song 2", "Artist 2")
    ]
    table = ok(archive, "show", ROAD)
    assert "Road Trip 2024" in table and "4 songs" in table and "Beyoncé" in table


def test_show_latest_gives_the_hand_written_files(archive: Store) -> None:
    """The same show, against files written out by hand (not by the product's renderer)."""
    url = "https://open.spotify.com/track/T0000000000000000000"
    assert ok(archive, "show", ROAD, "--format", "plain") == (
        "Road Trip 2024\nSummer drive\n\n"
        "Halo -- Beyoncé -- Album 1\nSong 2 -- Artist 2 -- Album 2\n"
        "Song 4 -- Artist 4 -- Album 4\nSong 5 -- Artist 5 -- Album 5\n"
    )
    md = ok(archive, "show", ROAD, "--format", "md").splitlines()
    assert md[2:] == [
        f"### [Road Trip 2024](https://open.spotify.com/playlist/{ROAD})",
        "",
        "> Summer drive",
        "",
        "Owner - 3 likes - 4 songs - 13 min 20 sec",  # 4 x 200,00n ms
        "",
        "| No. | Title | Artist(s) | Album | Length |",
        "|---|---|---|---|---|",
        f"| 1 | [Halo]({url}01) | Beyoncé | Album 1 | 3:20 |",
        f"| 2 | [Song 2]({url}02) | Artist 2 | Album 2 | 3:20 |",
        f"| 3 | [Song 4]({url}04) | Artist 4 | Album 4 | 3:20 |",
        f"| 4 | [Song 5]({url}05) | Artist 5 | Album 5 | 3:20 |",
        "",
        "Snapshot ID: ``",
    ]
    data = json.loads(ok(archive, "show", ROAD, "--format", "json"))
    assert (data["original_name"], data["description"], data["num_followers"]) == (
        "Road Trip 2024", "Summer drive", 3)
    assert [(t["name"], [a["name"] for a in t["artists"]], t["album"]["name"], t["duration_ms"],
             t["url"]) for t in data["tracks"]] == [
        ("Halo", ["Beyoncé"], "Album 1", 200_001, f"{url}01"),
        ("Song 2", ["Artist 2"], "Album 2", 200_002, f"{url}02"),
        ("Song 4", ["Artist 4"], "Album 4", 200_004, f"{url}04"),
        ("Song 5", ["Artist 5"], "Album 5", 200_005, f"{url}05"),
    ]


def test_show_at_a_revision(archive: Store) -> None:
    assert names(ok(archive, "show", ROAD, "--at", "HEAD~1", "--format", "json")) == [
        "Halo", "Song 2", "Song 4"
    ]


@pytest.mark.parametrize(
    ("at_", "message"),
    [
        ("2024-01-09", "no snapshot on or before 2024-01-09; the first is from 2024-01-10"),
        ("2024-13-01", "not a valid date"),
        ("nosuchbranch", "neither a date (YYYY-MM-DD) nor a revision"),
    ],
)
def test_show_bad_points_are_clear_errors(archive: Store, at_: str, message: str) -> None:
    assert message in fails(archive, "show", ROAD, "--at", at_)


# -------------------------------------------------------------- playlists


@pytest.mark.parametrize(
    "ref",
    [ROAD, f"https://open.spotify.com/playlist/{ROAD}?si=x", f"spotify:playlist:{ROAD}",
     "road trip 2024", "ROADIE"],
)
def test_playlist_by_id_url_uri_name_or_alias(archive: Store, ref: str) -> None:
    assert "Road Trip 2024" in ok(archive, "show", ref, "--format", "plain")


def test_unregistered_playlist_with_history_is_found_by_name(archive: Store) -> None:
    assert "Déjà Vu" in ok(archive, "show", "old mix", "--format", "plain")


def test_ambiguous_name_lists_the_candidates(archive: Store) -> None:
    out = fails(archive, "show", "Chill")
    assert "names 2 playlists" in out and CHILL in out and CHILL2 in out


def test_unknown_playlist(archive: Store) -> None:
    assert "no playlist is named 'Nope'" in fails(archive, "log", "Nope")
    assert "not a Spotify playlist" not in fails(archive, "log", "9" * 22)


def test_resolve_prefers_nothing_and_folds_accents() -> None:
    known = [Known(ROAD, ("Café",)), Known(CHILL, ("Other",))]
    assert resolve_playlist("CAFE", known) == ROAD
    with pytest.raises(PlaylistNotFound):
        resolve_playlist("Caf", known)


# -------------------------------------------------------------- diff, log


def test_diff_defaults_to_the_last_change(archive: Store) -> None:
    out = ok(archive, "diff", ROAD)
    assert "+1 −0" in out and "Song 5" in out and "2024-02-01" in out
    assert "Song 4" not in out


def test_diff_between_dates_with_the_dates_of_each_change(archive: Store) -> None:
    out = ok(archive, "diff", "roadie", "--from", "2024-01-10", "--to", "2024-02-01")
    assert "+2 −1" in out
    lines = out.splitlines()
    assert any("2024-01-20" in line and "Song 4" in line for line in lines)
    assert any("2024-02-01" in line and "Song 5" in line for line in lines)
    assert any(line.startswith("−") and "2024-01-20" in line and "Song 3" in line
               for line in lines)


def test_diff_from_after_to_is_an_error(archive: Store) -> None:
    assert "is after" in fails(archive, "diff", ROAD, "--from", "2024-02-01", "--to", "2024-01-15")


def test_log_has_one_line_per_change(archive: Store) -> None:
    lines = ok(archive, "log", ROAD).splitlines()
    assert lines == [
        "2024-01-10  +3 −0  first snapshot  name: 'Road Trip'",
        "2024-01-20  +1 −1",
        "2024-02-01  +1 −0  name: 'Road Trip 2024'  description: 'Summer drive'",
    ]


# ----------------------------------------------------------------- search


def test_fold_ignores_case_and_accents() -> None:
    assert fold("BEYONCÉ") == fold("beyonce") == "beyonce"
    assert fold("Ørjan Ǆ") == "ørjan dz"  # Ø has no decomposition: kept, lower-cased


def test_search_is_accent_insensitive(archive: Store) -> None:
    out = ok(archive, "search", "beyonce")
    assert "Beyoncé" in out and "Road Trip 2024" in out and "2024-01-10" in out
    assert "yes" in out


def test_search_covers_removed_tracks_and_old_playlists(archive: Store) -> None:
    out = ok(archive, "search", "song 3")
    assert "no (removed 2024-01-20)" in out
    assert "Old Mix" in ok(archive, "search", "deja vu")


def test_search_text_that_is_not_utf8_is_said_so_and_the_index_is_kept(archive: Store) -> None:
    """'Café' typed in a Latin-1 terminal under a C locale reaches Python as 'Caf\\udce9'."""
    ok(archive, "search", "song 3")
    index = index_path(archive)
    before = index.stat().st_mtime_ns, index.stat().st_ino
    assert "is not UTF-8 ('Caf\\xe9')" in fails(archive, "search", "Caf\udce9")
    assert (index.stat().st_mtime_ns, index.stat().st_ino) == before  # not "damaged", rebuilt


def test_search_limited_to_one_playlist(archive: Store) -> None:
    out = ok(archive, "search", "song 2", "--playlist", "Road Trip 2024")
    assert "Road Trip 2024" in out and "Chill" not in out
    assert "Chill" in ok(archive, "search", "song 2")


def test_search_without_hits_exits_nonzero(archive: Store) -> None:
    assert "No track matches" in fails(archive, "search", "zzz")


def test_index_catches_up_with_new_commits(archive: Store) -> None:
    ok(archive, "search", "song")
    archive.commit(files(snapshot(ROAD, "Road Trip 2024", [HALO, track(10, "Formation")])),
                   "run 4", when=(at("2024-02-05"), 0))
    assert "Formation" in ok(archive, "search", "formation")
    incremental = ok(archive, "search", "song")
    index_path(archive).unlink()
    assert ok(archive, "search", "song") == incremental


# ----------------------------------------------------------------- export


def test_export_sqlite_can_be_queried(archive: Store, tmp_path: Path) -> None:
    db_path = tmp_path / "out" / "archive.sqlite"
    db_path.parent.mkdir()  # export makes no folder (test_export_refuses_a_missing_folder...)
    ok(archive, "export", "--format", "sqlite", "--output", str(db_path))
    db = sqlite3.connect(db_path)
    assert db.execute("SELECT count(*) FROM playlists").fetchone() == (4,)
    rows = db.execute(
        "SELECT t.name, a.first_seen, a.date_removed, a.present FROM appearances a"
        " JOIN tracks t ON t.id = a.track_id WHERE a.playlist_id = ? ORDER BY t.name",
        (ROAD,),
    ).fetchall()
    assert rows == [
        ("Halo", "2024-01-10", None, 1),
        ("Song 2", "2024-01-10", None, 1),
        ("Song 3", "2024-01-10", "2024-01-20", 0),
        ("Song 4", "2024-01-20", None, 1),
        ("Song 5", "2024-02-01", None, 1),
    ]
    by_artist = db.execute(
        "SELECT p.name FROM track_artists ta JOIN appearances a ON a.track_id = ta.track_id"
        " JOIN playlists p ON p.id = a.playlist_id WHERE ta.name = 'Beyoncé'"
    ).fetchall()
    assert by_artist == [("Road Trip 2024",)]
    registered_ = dict(db.execute("SELECT id, registered FROM playlists"))
    assert registered_[OLD] == 0 and registered_[ROAD] == 1


def test_export_csv_and_json(archive: Store) -> None:
    rows = list(csv.DictReader(io.StringIO(ok(archive, "export", "--format", "csv"))))
    assert len(rows) == 5 + 2 + 1 + 1
    song3 = next(r for r in rows if r["track_name"] == "Song 3")
    assert (song3["playlist_name"], song3["date_removed"], song3["present"]) == (
        "Road Trip 2024", "2024-01-20", "0"
    )
    document = json.loads(ok(archive, "export", "--format", "json"))
    assert {p["id"] for p in document["playlists"]} == {ROAD, CHILL, CHILL2, OLD}
    road = next(p for p in document["playlists"] if p["id"] == ROAD)
    assert road["alias"] == "roadie" and len(road["tracks"]) == 5


def test_export_sqlite_needs_an_output(archive: Store) -> None:
    result = run(archive, "export", "--format", "sqlite")
    assert result.exit_code == 2 and "--output" in result.output


def test_empty_archive_is_a_clear_error(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "empty", bare=True)
    assert "no commits yet" in fails(store, "search", "x")


def test_plain_only_history_is_shown_and_logged(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "plain", bare=True)
    old = snapshot(ROAD, "Vinyl", [track(1), track(2)])
    store.commit({layout.plain_path(ROAD): render.plain(old).encode()}, "2021",
                 when=(at("2021-05-01"), 0))
    new = snapshot(ROAD, "Vinyl", [track(2)])
    store.commit({layout.plain_path(ROAD): render.plain(new).encode()}, "2021",
                 when=(at("2021-05-02"), 0))
    assert ok(store, "show", "vinyl", "--at", "2021-05-01", "--format", "plain") == (
        render.plain(old)
    )
    assert ok(store, "show", "vinyl", "--at", "2021-05-01", "--format", "plain") == (
        "Vinyl\n\n\nSong 1 -- Artist 1 -- Album 1\nSong 2 -- Artist 2 -- Album 2\n"
    )  # written out: name, empty description, blank line, one line per track
    assert ok(store, "log", ROAD).splitlines()[1] == "2021-05-02  +0 −1"


@pytest.mark.parametrize("command", ["show", "diff", "log", "search", "export"])
def test_every_option_has_help(command: str) -> None:
    found = main.get_command(None, command)  # type: ignore[arg-type]
    assert found is not None and found.help
    assert all(getattr(p, "help", None) for p in found.params if p.param_type_name == "option")


def test_a_deleted_snapshot_says_when_and_which_day_to_ask(archive: Store) -> None:
    """It said "was not archived on latest (its snapshot had been deleted)"."""
    archive.commit({layout.pretty_json_path(CHILL): None, layout.plain_path(CHILL): None},
                   "delete", when=(at("2024-02-05"), 0))
    assert fails(archive, "show", CHILL) == (
        f"Error: {CHILL} is no longer archived: its snapshot was deleted on 2024-02-05; "
        "ask for a day before that\n")
    assert f"{CHILL} was not archived on 2024-02-06: its snapshot was deleted on " in fails(
        archive, "diff", CHILL, "--from", "2024-01-10", "--to", "2024-02-06")
    assert "Song 6" in ok(archive, "show", CHILL, "--at", "2024-01-20")


def test_an_id_in_the_wrong_case_is_pointed_to_the_right_one() -> None:
    known = [Known("3xQmR8vDemoSmallMix002", ("Café",))]
    with pytest.raises(PlaylistNotFound) as found:
        resolve_playlist("spotify:playlist:3XQMR8VDEMOSMALLMIX002", known)
    assert str(found.value) == (
        "playlist 3XQMR8VDEMOSMALLMIX002 has no snapshot and is not registered here; "
        "IDs are case-sensitive: did you mean 3xQmR8vDemoSmallMix002?")


def test_a_search_for_accents_alone_is_refused_not_every_track(archive: Store) -> None:
    """A lone combining accent folds to nothing, which every name contains."""
    assert fails(archive, "search", "\u0301") == (
        "Error: '\u0301' is only marks a search ignores (accents): give some letters\n")
    assert "Halo" in ok(archive, "search", "beyonce\u0301")
