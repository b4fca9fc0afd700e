"""Fetch health: run records in commits, honest dates through a failed stretch, status.

Real archives, real HTTP to the stand-in, one fetch per simulated day (the committer
date says which); status is asked "as of" chosen moments around the failure window.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pygit2
import pytest
from cli_support import LONG, OLD_1970, SMALL, new_archive, run
from history_support import at

from gitarchive import exitcodes
from gitarchive.archive import layout, runrecord
from gitarchive.archive.runrecord import RunRecord
from gitarchive.git.store import Store
from gitarchive.history import saved as history_saved
from gitarchive.ops import health
from gitarchive.spotify.fixtures import load_fixture_playlists
from gitarchive.spotify.standin import StandIn

# OLD_1970 (cli_support) has a follower count: changes every day here; SMALL fails
# 2026-04-02 .. 2026-04-11
HOUR = 3600




def fetch_on(monkeypatch: pytest.MonkeyPatch, repo: Path, day: str, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("GIT_COMMITTER_DATE", f"{day}T06:00:00Z")
    return run("fetch", "--repo", str(repo), *args)


def api_data(pid: str) -> dict[str, Any]:
    return copy.deepcopy(load_fixture_playlists()[pid])


def with_followers(data: dict[str, Any], count: int) -> dict[str, Any]:
    data["followers"] = {"href": None, "total": count}
    return data


def track_id(entry: dict[str, Any]) -> str:
    return str(entry["item"]["id"])


def cumulative(repo: Path, pid: str) -> dict[str, Any]:
    return json.loads((repo / layout.cumulative_json_path(pid)).read_text())


def by_id(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["url"].rsplit("/", 1)[-1]: t for t in view["tracks"]}


def head_message(repo: Path) -> str:
    r = pygit2.Repository(str(repo))
    return r[r.head.target].message


def status_of(repo: Path, pid: str, now: int, stale_days: float = 3) -> health.PlaylistHealth:
    found = {h.pid: h for h in health.status(Store(repo), now=now, stale_days=stale_days)}
    return found[pid]


# ------------------------------------------------------------------ the record


def test_record_round_trips_through_trailers_and_stays_one_line() -> None:
    record = RunRecord(
        None, {"B" * 22: "not found (404):\n  gone\tfor good", "A" * 22: "x"}, {"C" * 22: 80}
    )
    text = record.trailers()
    assert text.splitlines() == [
        "Gitarchive-Fetched: *",
        f"Gitarchive-Failed: {'A' * 22} x",
        f"Gitarchive-Failed: {'B' * 22} not found (404): gone for good",
        f"Gitarchive-Emptied: {'C' * 22} 80",
    ]
    parsed = runrecord.parse("Update 1 playlist: +0 -0 tracks\n\n- x\n\n" + text + "\n")
    assert parsed == RunRecord(None, {"A" * 22: "x", "B" * 22: "not found (404): gone for good"},
                               {"C" * 22: 80})
    listed = RunRecord(frozenset({"D" * 22, "E" * 22}))
    assert runrecord.parse(listed.trailers()) == listed
    assert runrecord.parse(RunRecord(frozenset()).trailers()) == RunRecord(frozenset())
    assert runrecord.parse("Update 3 playlists: +1 -0 tracks\n") is None


def test_which_runs_observe_a_playlist() -> None:
    registry = frozenset({"P", "Q", "R"})
    assert runrecord.observes("P", None, registry)  # no record: registered means observed
    assert not runrecord.observes("X", None, registry)
    assert runrecord.observes("X", None, None)  # no registry/ at all: every playlist
    failed = RunRecord(None, {"Q": "500"})
    assert [runrecord.observes(p, failed, registry) for p in "PQR"] == [True, False, True]
    only = RunRecord(frozenset({"R"}))  # --only R / a shard
    assert [runrecord.observes(p, only, registry) for p in "PQR"] == [False, False, True]


def test_a_commit_says_what_was_fetched_and_what_failed(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_archive(tmp_path, OLD_1970, SMALL, LONG)
    assert fetch_on(monkeypatch, repo, "2026-04-01")[0] == exitcodes.OK
    assert runrecord.parse(head_message(repo)) == RunRecord()
    api.remove_playlist(SMALL)
    api.set_playlist(OLD_1970, with_followers(api_data(OLD_1970), 999))
    code, _ = fetch_on(monkeypatch, repo, "2026-04-02")
    assert code == exitcodes.PARTIAL
    record = runrecord.parse(head_message(repo))
    assert record is not None and record.fetched is None and list(record.failed) == [SMALL]
    assert "404" in record.failed[SMALL] and "\n" not in record.failed[SMALL]
    # --only lists what it fetched: the others were not observed by this run.
    api.set_playlist(OLD_1970, with_followers(api_data(OLD_1970), 1000))
    assert fetch_on(monkeypatch, repo, "2026-04-03", "--only", OLD_1970)[0] == exitcodes.OK
    assert runrecord.parse(head_message(repo)) == RunRecord(frozenset({OLD_1970}))


# ------------------------------------------------------- a 10-day failure window


def test_ten_day_failure_window_moves_no_date(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SMALL fails from 04-02 to 04-11 (ten daily runs); meanwhile its first track was
    removed and a new one added. Only fetches that reached it count as observations."""
    repo = new_archive(tmp_path, OLD_1970, SMALL)
    small = api_data(SMALL)
    entries = small["items"]["items"]
    gone, kept = track_id(entries[0]), track_id(entries[1])
    assert fetch_on(monkeypatch, repo, "2026-04-01")[0] == exitcodes.OK
    api.remove_playlist(SMALL)
    days = [f"2026-04-{d:02}" for d in range(2, 12)]
    for n, day in enumerate(days):
        api.set_playlist(OLD_1970, with_followers(api_data(OLD_1970), 1000 + n))
        code, out = fetch_on(monkeypatch, repo, day)
        assert code == exitcodes.PARTIAL, out
        # While it fails, its view keeps the dates of the last run that reached it.
        view = by_id(cumulative(repo, SMALL))
        assert view[gone]["last_seen"] is None and view[gone]["date_removed"] is None
    view = cumulative(repo, SMALL)
    assert view["fetch_gaps"] == [{"from": "2026-04-02", "to": None}]
    tenure = (repo / f"playlists/charts/{SMALL}-tenure.svg").read_text()
    assert "<title>not fetched since 2026-04-02</title>" in tenure
    # Each failing run's commit is what fetch assumed: its replay state was kept (no re-walk).
    saved_state = history_saved.load(Store(repo))
    assert saved_state is not None and saved_state.head == str(Store(repo).head().id)

    # Status as of moments around the window.
    first_ok, first_fail = at("2026-04-01", 6), at("2026-04-02", 6)
    item = status_of(repo, SMALL, now=first_fail + HOUR)
    assert (item.last_ok, item.failing_since, item.stale) == (first_ok, first_fail, False)
    assert "404" in (item.last_error or "") and item.last_error_at == at("2026-04-11", 6)
    assert not status_of(repo, SMALL, now=first_ok + 3 * 86_400).stale  # exactly 3 days
    assert status_of(repo, SMALL, now=first_ok + 3 * 86_400 + 1).stale
    assert not status_of(repo, SMALL, now=first_ok + 3 * 86_400 + 1, stale_days=10).stale
    assert status_of(repo, OLD_1970, now=at("2026-04-11", 7)).last_ok == at("2026-04-11", 6)

    # It comes back on 04-12 without its first track and with a new one.
    entries.append(copy.deepcopy(api_data(LONG)["items"]["items"][0]))
    added = track_id(entries[-1])
    del entries[0]
    api.set_playlist(SMALL, small)
    api.set_playlist(OLD_1970, with_followers(api_data(OLD_1970), 2000))
    code, out = fetch_on(monkeypatch, repo, "2026-04-12")
    assert code == exitcodes.OK, out
    view = cumulative(repo, SMALL)
    tracks = by_id(view)
    assert tracks[gone]["last_seen"] == "2026-04-01"  # the last run that fetched it
    assert tracks[gone]["date_removed"] == "2026-04-12"  # the first that fetched it without
    assert tracks[kept]["first_seen"] == "2026-04-01" and tracks[kept]["last_seen"] is None
    assert tracks[added]["first_seen"] == "2026-04-12"
    assert view["fetch_gaps"] == [{"from": "2026-04-02", "to": "2026-04-11"}]
    assert "not fetched 2026-04-02 → 2026-04-11" in (
        repo / layout.cumulative_md_path(SMALL)
    ).read_text()
    item = status_of(repo, SMALL, now=at("2026-04-12", 7))
    assert (item.last_ok, item.failing_since, item.stale) == (at("2026-04-12", 6), None, False)
    # The other playlist was observed every day: its dates are untouched by SMALL's gap.
    assert cumulative(repo, OLD_1970).get("fetch_gaps", []) == []
    # The tenure chart shows the gap as one band, titled with its dates; none for the other.
    tenure = (repo / f"playlists/charts/{SMALL}-tenure.svg").read_text()
    assert tenure.count('class="gap"') == 1
    assert "<title>not fetched 2026-04-02 → 2026-04-11</title>" in tenure
    assert 'class="gap"' not in (repo / f"playlists/charts/{OLD_1970}-tenure.svg").read_text()

    # A full rebuild from history gives the same files.
    before = {p: (repo / p).read_bytes() for p in
              (layout.cumulative_json_path(SMALL), layout.cumulative_md_path(SMALL),
               f"playlists/charts/{SMALL}-tenure.svg")}
    assert run("rebuild", "--full", "--repo", str(repo))[0] == 0
    assert {p: (repo / p).read_bytes() for p in before} == before


@pytest.mark.parametrize("second", ["2026-04-01", "1970-01-01"])
def test_a_failure_after_a_success_is_the_latest_word(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, second: str
) -> None:
    """A success then a failure with one commit time, or committed at 1970 (a board whose
    clock was not set yet: dated as the run before it, as the history dates it): status
    still says it is failing."""
    repo = new_archive(tmp_path, OLD_1970, SMALL)
    assert fetch_on(monkeypatch, repo, "2026-04-01")[0] == exitcodes.OK
    api.remove_playlist(SMALL)
    api.set_playlist(OLD_1970, with_followers(api_data(OLD_1970), 999))  # a commit is made
    assert fetch_on(monkeypatch, repo, second)[0] == exitcodes.PARTIAL
    item = status_of(repo, SMALL, now=at("2026-04-01", 7))
    assert item.failing_since == at("2026-04-01", 6) and "404" in (item.last_error or "")


def test_a_failure_with_no_other_change_is_remembered_outside_history(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_archive(tmp_path, SMALL, LONG)
    assert fetch_on(monkeypatch, repo, "2026-04-01")[0] == exitcodes.OK
    commits_before = head_message(repo)
    api.remove_playlist(LONG)
    assert fetch_on(monkeypatch, repo, "2026-04-02")[0] == exitcodes.PARTIAL
    assert head_message(repo) == commits_before  # nothing changed: still no commit
    lines = health.log_path(Store(repo)).read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["failed"].keys() == {LONG}
    now = at("2026-04-02", 7)
    small, long = status_of(repo, SMALL, now), status_of(repo, LONG, now)
    assert small.last_ok == at("2026-04-02", 6)  # the unchanged run still reached it
    assert (long.last_ok, long.failing_since) == (at("2026-04-01", 6), at("2026-04-02", 6))
    # Everything failing makes no commit either, and is remembered the same way.
    api.remove_playlist(SMALL)
    assert fetch_on(monkeypatch, repo, "2026-04-03")[0] == exitcodes.NOTHING_FETCHED
    assert status_of(repo, SMALL, at("2026-04-03", 7)).failing_since == at("2026-04-03", 6)
    # A torn line (a run killed while writing) is skipped; the rest still counts.
    with health.log_path(Store(repo)).open("a") as handle:
        handle.write('{"time": 17')
    assert status_of(repo, LONG, at("2026-04-03", 7)).failing_since == at("2026-04-02", 6)


def test_status_command_lines_json_and_exit_code(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_archive(tmp_path, SMALL, LONG)
    code, out = run("status", "--repo", str(repo))
    assert code == exitcodes.STALE
    assert out.count("NEVER FETCHED") == 2
    assert out.splitlines()[-1] == ("2 playlists: 2 stale (no successful fetch in the last 3 "
                                    "days; 2 of them never fetched), 0 failing, 0 empty")
    monkeypatch.delenv("GIT_COMMITTER_DATE", raising=False)  # today: fresh fetches
    assert run("fetch", "--repo", str(repo))[0] == exitcodes.OK
    code, out = run("status", "--repo", str(repo))
    assert code == exitcodes.OK, out
    assert "0 stale" in out and "STALE" not in out
    code, out = run("status", "--repo", str(repo), "--json")
    doc = json.loads(out)
    assert code == exitcodes.OK
    assert [p["id"] for p in doc["playlists"]] == [SMALL, LONG]
    assert all(p["last_fetched"] and not p["stale"] for p in doc["playlists"])
    # Fetched long ago: stale, and the exit code says so.
    repo2 = new_archive(tmp_path / "old", SMALL)
    assert fetch_on(monkeypatch, repo2, "2020-01-01")[0] == exitcodes.OK
    code, out = run("status", "--repo", str(repo2), "--stale-days", "1")
    assert code == exitcodes.STALE and "STALE" in out and "last fetched 2020-01-01 06:00" in out


def test_an_emptied_playlist_is_archived_and_flagged(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_archive(tmp_path, SMALL)
    assert fetch_on(monkeypatch, repo, "2026-04-01")[0] == exitcodes.OK
    empty = api_data(SMALL)
    empty["items"]["items"] = []
    empty["items"]["total"] = 0
    empty["name"] = "Small \x1b[2J"  # named in the warning: shown, not obeyed
    api.set_playlist(SMALL, empty)
    code, out = fetch_on(monkeypatch, repo, "2026-04-02")
    assert code == exitcodes.OK
    assert "1 came back empty" in out and "EMPTY, where the last snapshot had 12 tracks" in out
    assert "(Small \\x1b[2J): Spotify served it EMPTY" in out and "\x1b" not in out
    assert json.loads((repo / layout.pretty_json_path(SMALL)).read_text())["tracks"] == []
    assert runrecord.parse(head_message(repo)) == RunRecord(None, {}, {SMALL: 12})
    item = status_of(repo, SMALL, at("2026-04-02", 7))
    assert (item.emptied_at, item.emptied_from, item.stale) == (at("2026-04-02", 6), 12, False)
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-04-02T07:00:00Z")
    code, out = run("status", "--repo", str(repo), "--stale-days", "100000")
    assert code == exitcodes.OK and "EMPTY since 2026-04-02 06:00 (had 12 tracks)" in out
    # Filled again: the flag goes.
    api.set_playlist(SMALL, api_data(SMALL))
    assert fetch_on(monkeypatch, repo, "2026-04-03")[0] == exitcodes.OK
    assert status_of(repo, SMALL, at("2026-04-03", 7)).emptied_at is None
