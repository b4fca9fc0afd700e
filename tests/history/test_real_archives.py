"""Histories like real spotify-playlist-archive clones: each quirk, every date asserted.

Placeholders (empty files), renames, re-issued IDs joined with ``link``, mixed UTC
offsets, plain years then JSON, files outside the layout, unreadable versions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from history_support import (
    History,
    at,
    json_files,
    pid,
    plain_files,
    playlist,
    registry,
    track,
)

from gitarchive.archive import layout, links
from gitarchive.archive.model import Link, Track
from gitarchive.cli import main
from gitarchive.history.rebuild import rebuild
from gitarchive.history.sync import sync

A, B, C = pid(1), pid(2), pid(3)
TYLER = 77


def song(n: int) -> Track:
    """Track ``n``; track TYLER has one artist whose name holds ", " (plain lines split it)."""
    if n != TYLER:
        return track(n)
    return Track(
        url=f"https://open.spotify.com/track/{'TY' + '0' * 20}",
        name="EARFQUAKE",
        album=Link("IGOR", "https://open.spotify.com/album/IG00000000000000000000"),
        artists=(Link("Tyler, The Creator", "https://open.spotify.com/artist/TC000000000000000"),),
        duration_ms=190_306,
    )


def snap(p: str, name: str, *numbers: int):
    return playlist(p, name, [song(n) for n in numbers])


def cumulative(h: History, p: str) -> dict | None:
    data = h.store.read(layout.cumulative_json_path(p))
    return json.loads(data) if data is not None else None


def dates(h: History, p: str) -> dict[str, tuple]:
    doc = cumulative(h, p)
    assert doc is not None, f"no cumulative view of {p}"
    return {t["name"]: (t["date_added"], t["date_added_asterisk"], t["first_seen"],
                        t["last_seen"], t["date_removed"], t["stints"]) for t in doc["tracks"]}


def cli(h: History, *args: str):
    result = CliRunner().invoke(main, [*args, "--repo", h.store.repo.path])
    assert "Traceback" not in result.output
    return result


def moved(files: dict[str, bytes | None], old: str, new: str) -> dict[str, bytes | None]:
    """The same files under another playlist ID's paths."""
    return {path.replace(old, new): content for path, content in files.items()}


# --------------------------------------------------------------- placeholders


def placeholder_history(h: History) -> None:
    h.commit({**plain_files(snap(A, "Alpha", 1, 2)), layout.plain_path(B): b""},
             at("2021-03-01"))
    h.commit(plain_files(snap(B, "Beta", 5, 6)), at("2021-03-02"))
    h.commit(plain_files(snap(A, "Alpha", 1, 2, 3)), at("2021-03-03"))
    h.commit({layout.plain_path(C): b""}, at("2021-03-04"))  # a placeholder alone: no run
    h.commit(plain_files(snap(A, "Alpha", 1, 3)), at("2021-03-05"))


def test_placeholders_are_no_snapshot_and_no_run(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    placeholder_history(h)
    result = rebuild(h.store)
    assert result.problems == []
    assert dates(h, B) == {
        "Song 5": ("2021-03-02", True, "2021-03-02", None, None, 1),
        "Song 6": ("2021-03-02", True, "2021-03-02", None, None, 1),
    }
    assert cumulative(h, B)["date_first_scraped"] == "2021-03-02"
    assert dates(h, A) == {
        "Song 1": ("2021-03-01", True, "2021-03-01", None, None, 1),
        "Song 2": ("2021-03-01", True, "2021-03-01", "2021-03-03", "2021-03-05", 1),
        "Song 3": ("2021-03-03", False, "2021-03-03", None, None, 1),
    }
    assert cumulative(h, C) is None  # never a snapshot


def test_placeholders_in_the_cli(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    placeholder_history(h)
    rebuilt = cli(h, "rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "warning" not in rebuilt.output and "name line" not in rebuilt.output
    log = cli(h, "log", B)
    assert log.exit_code == 0, log.output
    assert log.output.splitlines()[0].startswith("2021-03-02")
    assert "2021-03-01" not in log.output
    early = cli(h, "show", B, "--at", "2021-03-01")
    assert early.exit_code == 1 and "no snapshot" in early.output
    assert "Song 5" in cli(h, "show", B, "--format", "plain").output


# -------------------------------------------------------------------- renames


@pytest.mark.parametrize("files", [plain_files, json_files])
def test_rename_continues_the_history(tmp_path: Path, files) -> None:
    h = History(str(tmp_path / "repo"))
    wrong = "PL0000000000000000001l"  # the mistyped file name
    first = files(snap(A, "Alpha", 1, 2))
    h.commit(moved(first, A, wrong), at("2021-05-01"))
    h.commit({**{path: None for path in moved(first, A, wrong)}, **first}, at("2021-05-02"))
    h.commit(files(snap(A, "Alpha", 1, 3)), at("2021-05-03"))
    result = rebuild(h.store)
    assert result.problems == []
    assert dates(h, A) == {
        "Song 1": ("2021-05-01", True, "2021-05-01", None, None, 1),
        "Song 2": ("2021-05-01", True, "2021-05-01", "2021-05-02", "2021-05-03", 1),
        "Song 3": ("2021-05-03", False, "2021-05-03", None, None, 1),
    }
    assert cumulative(h, A)["date_first_scraped"] == "2021-05-01"
    assert cumulative(h, wrong) is None


# ------------------------------------------------------------- replaced IDs


def reissued_history(h: History) -> None:
    h.commit({**json_files(snap(A, "Mix", 1, 2)), **registry(A)}, at("2023-02-01"))
    h.commit(json_files(snap(A, "Mix", 1, 2, 3)), at("2023-02-02"))
    gone = {path: None for path in json_files(snap(A, "Mix"))}
    h.commit({**gone, layout.registry_path(A): None, **json_files(snap(B, "Mix", 2, 3, 4)),
              **registry(B)}, at("2023-02-03"))
    h.commit(json_files(snap(B, "Mix", 2, 3, 4, 5)), at("2023-02-04"))


UNLINKED_B = {
    "Song 2": ("2023-02-03", True, "2023-02-03", None, None, 1),
    "Song 3": ("2023-02-03", True, "2023-02-03", None, None, 1),
    "Song 4": ("2023-02-03", True, "2023-02-03", None, None, 1),
    "Song 5": ("2023-02-04", False, "2023-02-04", None, None, 1),
}


def test_reissued_id_is_a_new_playlist_until_linked(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    reissued_history(h)
    rebuild(h.store)
    assert dates(h, B) == UNLINKED_B
    assert cumulative(h, B)["date_first_scraped"] == "2023-02-03"


def test_link_joins_the_histories_and_unlink_undoes_it(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    reissued_history(h)
    suggested = cli(h, "rebuild")
    assert suggested.exit_code == 0, suggested.output
    assert f"gitarchive link {A} {B}" in suggested.output
    assert h.store.read(links.LINKS_PATH) is None  # suggested, never applied
    assert dates(h, B) == UNLINKED_B

    linked = cli(h, "link", A, B)
    assert linked.exit_code == 0, linked.output
    assert h.store.read(links.LINKS_PATH) == f"{A} {B}\n".encode()
    again = cli(h, "rebuild")
    assert again.exit_code == 0 and "gitarchive link" not in again.output
    assert dates(h, B) == {
        "Song 1": ("2023-02-01", True, "2023-02-01", "2023-02-02", "2023-02-03", 1),
        "Song 2": ("2023-02-01", True, "2023-02-01", None, None, 1),
        "Song 3": ("2023-02-02", False, "2023-02-02", None, None, 1),
        "Song 4": ("2023-02-03", False, "2023-02-03", None, None, 1),
        "Song 5": ("2023-02-04", False, "2023-02-04", None, None, 1),
    }
    assert cumulative(h, B)["date_first_scraped"] == "2023-02-01"
    assert cumulative(h, B)["url"].endswith(B)
    assert sync(h.store).state.playlists[B].first_run == at("2023-02-01")

    assert cli(h, "unlink", B).exit_code == 0
    assert h.store.read(links.LINKS_PATH) is None
    assert cli(h, "rebuild").exit_code == 0
    assert dates(h, B) == UNLINKED_B


def test_link_commands_refuse_what_makes_no_sense(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    reissued_history(h)
    same = cli(h, "link", A, A)
    assert same.exit_code == 1 and "cannot continue itself" in same.output
    bad = cli(h, "link", A, "nope")
    assert bad.exit_code == 1 and "not a Spotify playlist" in bad.output
    assert cli(h, "unlink", B).exit_code == 1
    assert cli(h, "link", f"spotify:playlist:{A}", B).exit_code == 0
    twice = cli(h, "link", A, B)
    assert twice.exit_code == 0 and "Already linked" in twice.output
    back = cli(h, "link", B, A)
    assert back.exit_code == 1 and "loop" in back.output
    other = cli(h, "link", C, B)
    assert other.exit_code == 1 and f"gitarchive unlink {B}" in other.output
    assert links.load(h.store) == {B: A}
    h.store.commit({links.LINKS_PATH: b"garbage\n"}, "hand edit")
    broken = cli(h, "unlink", B)
    assert broken.exit_code == 1 and "line 1" in broken.output


# ------------------------------------------------------------ mixed offsets


def test_mixed_utc_offsets_give_utc_days(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    h.commit(plain_files(snap(A, "Alpha", 1)), at("2022-01-10", 2) + 1800, offset=-240)
    h.commit(plain_files(snap(A, "Alpha", 1, 2)), at("2022-01-11", 6), offset=-420)
    h.commit(plain_files(snap(A, "Alpha", 2, 3)), at("2022-01-12", 0) + 1800, offset=0)
    h.commit(plain_files(snap(A, "Alpha", 3)), at("2022-01-12", 23) + 1800, offset=60)
    rebuild(h.store)
    assert dates(h, A) == {
        "Song 1": ("2022-01-10", True, "2022-01-10", "2022-01-11", "2022-01-12", 1),
        "Song 2": ("2022-01-11", False, "2022-01-11", "2022-01-12", "2022-01-12", 1),
        "Song 3": ("2022-01-12", False, "2022-01-12", None, None, 1),
    }
    rebuild(h.store, timezone="America/New_York")
    assert dates(h, A) == {
        "Song 1": ("2022-01-09", True, "2022-01-09", "2022-01-11", "2022-01-11", 1),
        "Song 2": ("2022-01-11", False, "2022-01-11", "2022-01-11", "2022-01-12", 1),
        "Song 3": ("2022-01-11", False, "2022-01-11", None, None, 1),
    }


# ------------------------------------------------------- plain years, then JSON


def test_json_metadata_wins_over_plain_lines(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    h.commit(plain_files(snap(A, "Alpha", 1, TYLER)), at("2021-12-30"))
    h.commit(plain_files(snap(A, "Alpha", 1, TYLER, 2)), at("2021-12-31"))
    h.commit({**json_files(snap(A, "Alpha", 1, TYLER, 2)), **registry(A)}, at("2022-01-01"))
    h.commit(json_files(snap(A, "Alpha", TYLER, 2)), at("2022-01-02"))
    result = rebuild(h.store)
    assert result.problems == []
    assert dates(h, A) == {
        "Song 1": ("2021-12-30", True, "2021-12-30", "2022-01-01", "2022-01-02", 1),
        "EARFQUAKE": ("2021-12-30", True, "2021-12-30", None, None, 1),
        "Song 2": ("2021-12-31", False, "2021-12-31", None, None, 1),
    }
    tracks = {t["name"]: t for t in cumulative(h, A)["tracks"]}
    tyler = tracks["EARFQUAKE"]
    assert tyler["artists"] == [{"name": "Tyler, The Creator",
                                 "url": "https://open.spotify.com/artist/TC000000000000000"}]
    assert tyler["duration_ms"] == 190_306 and tyler["url"].endswith("TY" + "0" * 20)
    assert tyler["album"]["url"].endswith("IG00000000000000000000")
    assert tracks["Song 1"]["duration_ms"] == 181_000  # removed, but the JSON had held it


def test_plain_only_track_keeps_its_plain_line(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    h.commit(plain_files(snap(A, "Alpha", TYLER, 1)), at("2021-12-30"))
    h.commit(plain_files(snap(A, "Alpha", 1)), at("2021-12-31"))
    h.commit(json_files(snap(A, "Alpha", 1)), at("2022-01-01"))
    rebuild(h.store)
    tyler = {t["name"]: t for t in cumulative(h, A)["tracks"]}["EARFQUAKE"]
    assert tyler["date_removed"] == "2021-12-31" and tyler["duration_ms"] is None
    assert [a["name"] for a in tyler["artists"]] == ["Tyler", "The Creator"]  # all there is


# ------------------------------------------------------- files outside the layout


def test_early_files_outside_the_layout_are_ignored(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    h.commit({"playlist_ids.txt": f"{A}\n".encode(), f"playlists/{A}.txt": b"\xffold",
              f"playlists/raw/{A}.json": b"{not json", **plain_files(snap(A, "Alpha", 1))},
             at("2020-06-01"))
    h.commit({f"playlists/raw/{A}.json": b"[]", **plain_files(snap(A, "Alpha", 1, 2))},
             at("2020-06-02"))
    h.commit({f"playlists/{B}.txt": b"x", "playlist_ids.txt": b""}, at("2020-06-03"))  # no run
    h.commit(plain_files(snap(A, "Alpha", 2)), at("2020-06-04"))
    result = rebuild(h.store)
    assert result.problems == []
    assert sorted(sync(h.store).state.playlists) == [A]
    assert dates(h, A) == {
        "Song 1": ("2020-06-01", True, "2020-06-01", "2020-06-02", "2020-06-04", 1),
        "Song 2": ("2020-06-02", False, "2020-06-02", None, None, 1),
    }


# ----------------------------------------------------------- unreadable blobs


def unreadable_history(h: History) -> None:
    h.commit({**json_files(snap(A, "Alpha", 1, 2)), **plain_files(snap(B, "Beta", 5))},
             at("2022-04-01"))
    h.commit({layout.pretty_json_path(A): b'{"url": "https://open.spotify.com/play',
              layout.plain_path(B): b"\xff\xfe\x00junk"}, at("2022-04-02"))
    h.commit({**json_files(snap(A, "Alpha", 1, 3)), layout.plain_path(B): b"one line only"},
             at("2022-04-03"))
    h.commit(plain_files(snap(B, "Beta", 5, 6)), at("2022-04-04"))


def test_unreadable_versions_are_skipped(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    unreadable_history(h)
    result = rebuild(h.store)
    assert len(result.problems) == 3
    assert dates(h, A) == {
        "Song 1": ("2022-04-01", True, "2022-04-01", None, None, 1),
        "Song 2": ("2022-04-01", True, "2022-04-01", "2022-04-02", "2022-04-03", 1),
        "Song 3": ("2022-04-03", False, "2022-04-03", None, None, 1),
    }
    assert dates(h, B) == {
        "Song 5": ("2022-04-01", True, "2022-04-01", None, None, 1),
        "Song 6": ("2022-04-04", False, "2022-04-04", None, None, 1),
    }


def test_unreadable_versions_summarised_once_and_questions_go_on(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    unreadable_history(h)
    quiet = cli(h, "rebuild")
    assert quiet.exit_code == 0, quiet.output
    warnings = [line for line in quiet.output.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "3 unreadable snapshot versions" in warnings[0]
    assert "--verbose" in warnings[0]
    verbose = cli(h, "rebuild", "--full", "--verbose")
    assert verbose.exit_code == 0, verbose.output
    listed = [line for line in verbose.output.splitlines() if "(skipped)" in line]
    assert len(listed) == 3
    for p in (A, B):
        log = cli(h, "log", p)
        assert log.exit_code == 0, log.output
        assert "2022-04-01" in log.output
    log_a = cli(h, "log", A).output
    assert "+1" in log_a.splitlines()[-1] and "2022-04-03" in log_a  # 3 in, 2 out, vs 04-01
    found = cli(h, "search", "Song 6")
    assert found.exit_code == 0 and "Beta" in found.output


def test_rebuild_leaves_the_question_index_ready(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """After a whole replay the first question needs no second replay (nor the saved state)."""
    from gitarchive.history import sync as sync_module

    h = History(str(tmp_path / "repo"))
    placeholder_history(h)
    assert cli(h, "rebuild").exit_code == 0

    def no_replay(*args: object, **kwargs: object) -> None:
        raise AssertionError("a question replayed history after a rebuild")

    monkeypatch.setattr(sync_module, "sync", no_replay)
    found = cli(h, "search", "song 5")
    assert found.exit_code == 0, found.output
    assert "Beta" in found.output and "2021-03-02" in found.output
