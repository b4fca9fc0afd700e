"""Cumulative views on small hand-checked histories: every date asserted."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import pygit2
import pytest
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

from gitarchive.archive import layout
from gitarchive.archive.model import dump_json
from gitarchive.errors import StoreError, TimezoneError
from gitarchive.history import saved as history_state
from gitarchive.history import sync as sync_module
from gitarchive.history.pending import pending_views
from gitarchive.history.rebuild import rebuild
from gitarchive.history.sync import sync

A, B = pid(1), pid(2)


def snap(p: str, name: str, *numbers: int, added: dict[int, str] | None = None):
    added = added or {}
    return playlist(p, name, [track(n, added.get(n)) for n in numbers])


def build(h: History, files, *, with_registry: bool, linear: bool = False) -> None:
    """The reference history (see module tests): removal, re-addition on a merged branch,
    non-run commits, unregistering and registering again."""
    first = {**files(snap(A, "Alpha", 1, 2, added={1: "2023-12-25 10:00:00"})),
             **files(snap(B, "Beta", 9))}
    if with_registry:
        first.update(registry(A, B))
    h.commit(first, at("2024-01-01"))
    h.commit(files(snap(A, "Alpha", 1, 2, 3)), at("2024-01-02"))
    h.commit(files(snap(A, "Alpha", 1, 3)), at("2024-01-03"))  # 2 removed
    h.commit(files(snap(B, "Beta", 9, 10)), at("2024-01-04"))  # a run that leaves A alone
    readd = files(snap(A, "Alpha renamed", 1, 3, 2))
    if linear:
        h.commit(readd, at("2024-01-05", 8))
        h.commit(files(snap(B, "Beta", 10)), at("2024-01-05", 10))
    else:
        h.repo.references.create("refs/heads/side", h.tip(), force=True)
        h.commit(readd, at("2024-01-05", 8), branch="side")  # the other machine
        h.commit(files(snap(B, "Beta", 10)), at("2024-01-05", 10))
        h.merge("main", "side", at("2024-01-06", 9))  # clean merge: not a run
    h.commit({"README.md": b"hello\n"}, at("2024-01-07"))  # not a run
    if with_registry:
        h.commit({layout.registry_path(A): None}, at("2024-01-08"))  # remove: not a run
    else:
        h.commit({layout.plain_path(A): None}, at("2024-01-08"))  # file deleted: not a run
    h.commit(files(snap(B, "Beta", 10, 11)), at("2024-01-09"))  # A is not observed
    if with_registry:
        h.commit(registry(A), at("2024-01-10"))
    h.commit(files(snap(A, "Alpha renamed", 1, 2)), at("2024-01-11"))  # 3 removed


def cumulative(store, p: str) -> dict:
    data = store.read(layout.cumulative_json_path(p))
    assert data is not None
    return json.loads(data)


def by_name(doc: dict) -> dict[str, dict]:
    return {t["name"]: t for t in doc["tracks"]}


def dates(t: dict) -> tuple:
    return (t["date_added"], t["date_added_asterisk"], t["first_seen"], t["last_seen"],
            t["date_removed"], t["stints"])


# last_seen is null while a track is present (views.py: files change only with
# their playlist's snapshots); removed tracks keep the last run that had them.
EXPECTED_A = {
    "Song 1": ("2023-12-25", True, "2024-01-01", None, None, 1),
    "Song 2": ("2024-01-01", True, "2024-01-01", None, None, 2),
    "Song 3": ("2024-01-02", False, "2024-01-02", "2024-01-05", "2024-01-11", 1),
}
EXPECTED_B = {
    "Song 9": ("2024-01-01", True, "2024-01-01", "2024-01-05", "2024-01-05", 1),
    "Song 10": ("2024-01-04", False, "2024-01-04", None, None, 1),
    "Song 11": ("2024-01-09", False, "2024-01-09", None, None, 1),
}


@pytest.mark.parametrize("linear", [False, True])
def test_json_layout_dates(tmp_path: Path, linear: bool) -> None:
    h = History(str(tmp_path / "repo"))
    build(h, json_files, with_registry=True, linear=linear)
    result = rebuild(h.store)
    assert result.commit is not None and not result.problems
    doc_a, doc_b = cumulative(h.store, A), cumulative(h.store, B)
    assert {k: dates(v) for k, v in by_name(doc_a).items()} == EXPECTED_A
    assert {k: dates(v) for k, v in by_name(doc_b).items()} == EXPECTED_B
    assert doc_a["date_first_scraped"] == "2024-01-01"
    assert doc_a["name"] == "Alpha renamed"
    assert doc_a["url"] == f"https://open.spotify.com/playlist/{A}"
    song1 = by_name(doc_a)["Song 1"]
    assert song1["url"].endswith("TR00000000000000000001")
    assert song1["album"]["name"] == "Album 1" and song1["duration_ms"] == 181_000
    assert [t["name"] for t in doc_a["tracks"]] == ["Song 1", "Song 2", "Song 3"]
    # The file is in the archive's JSON style.
    assert h.store.read(layout.cumulative_json_path(A)).decode() == dump_json(doc_a)


def test_merge_gives_the_dates_of_the_linear_history(tmp_path: Path) -> None:
    files = {}
    for linear in (False, True):
        h = History(str(tmp_path / f"repo{linear}"))
        build(h, json_files, with_registry=True, linear=linear)
        rebuild(h.store)
        files[linear] = {p: h.store.read(layout.cumulative_json_path(p)) for p in (A, B)}
    assert files[False] == files[True]


def test_plain_only_layout_dates(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    build(h, plain_files, with_registry=False)
    rebuild(h.store)
    doc_a = cumulative(h.store, A)
    expected = dict(EXPECTED_A)
    expected["Song 1"] = ("2024-01-01", *EXPECTED_A["Song 1"][1:])  # no added_at in plain
    assert {k: dates(v) for k, v in by_name(doc_a).items()} == expected
    assert {k: dates(v) for k, v in by_name(cumulative(h.store, B)).items()} == EXPECTED_B
    song = by_name(doc_a)["Song 1"]
    assert song["url"] == "" and song["duration_ms"] is None
    assert song["artists"] == [{"name": "Artist 1", "url": ""}]
    assert song["album"] == {"name": "Album 1", "url": ""}
    assert doc_a["name"] == "Alpha renamed"


def test_plain_history_continues_into_json(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    h.commit(plain_files(snap(A, "Alpha", 1, 2)), at("2021-06-01"))
    h.commit(json_files(snap(A, "Alpha", 1, 2)), at("2022-06-01"))
    rebuild(h.store)
    doc = by_name(cumulative(h.store, A))
    assert set(doc) == {"Song 1", "Song 2"}
    assert doc["Song 1"]["first_seen"] == "2021-06-01"
    assert doc["Song 1"]["url"].endswith("TR00000000000000000001")
    assert doc["Song 1"]["stints"] == 1


def test_markdown_view(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    build(h, json_files, with_registry=True)
    rebuild(h.store)
    md = h.store.read(layout.cumulative_md_path(A)).decode()
    lines = md.splitlines()
    assert lines[0].startswith("cumulative - [pretty](/playlists/pretty/")
    assert f"### [Alpha renamed](https://open.spotify.com/playlist/{A})" in lines
    assert "3 songs - 9 min 6 sec" in lines
    assert "| Title | Artist(s) | Album | Length | Added | Last seen | Removed |" in lines
    row = next(line for line in lines if "Song 3" in line)
    assert row.endswith("| 3:03 | 2024-01-02 | 2024-01-05 | 2024-01-11 |")
    row1 = next(line for line in lines if "Song 1" in line)
    assert "| 2023-12-25\\* |" in row1
    assert lines[-1] == (
        "\\*This playlist was first scraped on 2024-01-01. Prior content cannot be recovered."
    )


def test_rebuild_reaches_a_fixed_point(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    build(h, json_files, with_registry=True)
    assert rebuild(h.store).commit is not None
    again = rebuild(h.store)
    assert again.commit is None and again.changed == []
    assert rebuild(h.store, full=True).commit is None


def test_a_rebuild_leaves_the_collector_running(tmp_path: Path) -> None:
    """A rebuild, whole or incremental, and a replay alone pause garbage collection while
    they work, never after."""
    h = History(str(tmp_path / "repo"))
    build(h, json_files, with_registry=False, linear=True)
    paused = []
    real = sync_module.replay_events

    def noted(*args: Any, **kwargs: Any) -> Any:
        paused.append(not gc.isenabled())
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sync_module, "replay_events", noted)
        assert rebuild(h.store).full
        assert sync(h.store, full=True).full  # a replay alone (a question with no state)
    assert paused == [True, True] and gc.isenabled()
    h.commit(json_files(snap(A, "Alpha", 1, 3, 4)), at("2024-02-01"))
    assert not rebuild(h.store).full and gc.isenabled()
    h.commit(json_files(snap(A, "Alpha", 1, 4)), at("2024-02-02"))
    with pytest.raises(StoreError):  # a failing daily run restores it too
        rebuild(h.store, only=[pid(99)])
    assert gc.isenabled()


def test_timezone(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    h.commit(json_files(snap(A, "Alpha", 1)), at("2024-01-01", 23))
    rebuild(h.store, timezone="Asia/Tokyo")
    assert cumulative(h.store, A)["date_first_scraped"] == "2024-01-02"
    rebuild(h.store)  # back to UTC from the same (time-zone free) state
    assert cumulative(h.store, A)["date_first_scraped"] == "2024-01-01"
    with pytest.raises(TimezoneError, match="unknown time zone"):
        rebuild(h.store, timezone="Mars/Olympus")


def test_unparseable_blob_is_reported_and_skipped(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    h.commit(json_files(snap(A, "Alpha", 1)), at("2024-01-01"))
    bad = h.commit({layout.pretty_json_path(A): b"{not json"}, at("2024-01-02"))
    h.commit(json_files(snap(A, "Alpha", 1, 2)), at("2024-01-03"))
    result = rebuild(h.store)
    assert [(p.commit, p.path) for p in result.problems] == [
        (str(bad), layout.pretty_json_path(A))
    ]
    doc = by_name(cumulative(h.store, A))
    assert doc["Song 1"]["last_seen"] is None and doc["Song 1"]["date_removed"] is None
    assert sync(h.store).state.playlists[A].last_run == at("2024-01-03")
    assert doc["Song 2"]["first_seen"] == "2024-01-03"


def test_views_branch_holds_one_root_commit(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    build(h, json_files, with_registry=True)
    head = h.tip()
    result = rebuild(h.store, views_branch="views")
    assert result.commit is None and h.tip() == head  # main untouched
    views = h.repo.references["refs/heads/views"].peel(pygit2.Commit)
    assert views.parents == []
    names = sorted(e.name for e in h.repo[views.tree[layout.CUMULATIVE].id])
    assert names == sorted([f"{A}.json", f"{A}.md", f"{B}.json", f"{B}.md"])
    assert rebuild(h.store, views_branch="views").views_commit is None  # unchanged
    h.commit(json_files(snap(A, "Alpha renamed", 1, 2, 4)), at("2024-01-12"))
    again = rebuild(h.store, views_branch="views")
    assert again.views_commit is not None
    new_views = h.repo.references["refs/heads/views"].peel(pygit2.Commit)
    assert new_views.parents == [] and new_views.id != views.id
    # Also from git config.
    h.repo.config["gitarchive.viewsBranch"] = "views"
    h.commit(json_files(snap(A, "Alpha renamed", 1, 2)), at("2024-01-13"))
    assert rebuild(h.store).views_commit is not None


def test_rewritten_history_is_detected(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    h.commit(json_files(snap(A, "Alpha", 1)), at("2024-01-01"))
    h.commit(json_files(snap(A, "Alpha", 1, 2)), at("2024-01-02"))
    assert rebuild(h.store, views_branch="v").full
    assert not rebuild(h.store, views_branch="v").full  # incremental: nothing new
    # Rewrite: the second commit replaced by another one (as after a force-push).
    first = h.repo[h.tip()].parents[0].id
    h.repo.references.create("refs/heads/main", first, force=True)
    h.commit(json_files(snap(A, "Alpha", 1, 3)), at("2024-01-02"))
    result = rebuild(h.store, views_branch="v")
    assert result.full
    views = h.repo.references["refs/heads/v"].peel(pygit2.Commit)
    doc = json.loads(h.repo[views.tree[layout.cumulative_json_path(A)].id].data)
    assert {t["name"] for t in doc["tracks"]} == {"Song 1", "Song 3"}


def test_corrupt_state_means_full_replay(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    h.commit(json_files(snap(A, "Alpha", 1)), at("2024-01-01"))
    rebuild(h.store, views_branch="v")
    history_state.state_path(h.store).write_text("{garbage")
    assert rebuild(h.store, views_branch="v").full


def test_only_limits_files_and_rejects_unknown(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    build(h, json_files, with_registry=True)
    result = rebuild(h.store, only=[A])
    assert result.changed == [layout.cumulative_json_path(A), layout.cumulative_md_path(A)]
    with pytest.raises(StoreError, match="no snapshot"):
        rebuild(h.store, only=[pid(7)])


def pictures(pid: str) -> list[str]:
    """The charts and feed rewritten with a playlist's cumulative files (history/pictures.py).

    Not the followers chart: these histories have no follower counts, so it stays the same.
    """
    return [f"playlists/charts/{pid}-{kind}.svg" for kind in ("tenure", "churn")
            ] + [f"playlists/feeds/{pid}.xml", "playlists/feeds/archive.xml"]


def test_pending_views_match_a_rebuild(tmp_path: Path) -> None:
    """fetch's path: the files computed before committing equal a full rebuild after."""
    h = History(str(tmp_path / "repo"))
    build(h, json_files, with_registry=True)
    rebuild(h.store)
    changes = json_files(snap(A, "Alpha renamed", 1, 2, 5))
    tree = h.store.write_tree(h.store.tree(), changes)
    when = (at("2024-01-12"), 0)
    views, pending = pending_views(h.store, tree, when, githistory_base=None)
    # Only A's snapshot changed: B's files stay (present tracks' last_seen is null).
    assert set(views) == {layout.cumulative_json_path(A), layout.cumulative_md_path(A),
                          *pictures(A)}
    oid = h.store.commit({**changes, **views}, "fetch", when=when)
    assert pending.save(oid)
    saved = history_state.load(h.store)
    assert saved is not None and saved.head == str(oid)
    assert rebuild(h.store).commit is None
    assert rebuild(h.store, full=True).commit is None
    doc = by_name(cumulative(h.store, A))
    assert doc["Song 5"]["first_seen"] == "2024-01-12"


def test_pending_state_not_saved_for_another_commit(tmp_path: Path) -> None:
    h = History(str(tmp_path / "repo"))
    h.commit(json_files(snap(A, "Alpha", 1)), at("2024-01-01"))
    tree = h.store.write_tree(h.store.tree(), json_files(snap(A, "Alpha", 1, 2)))
    _, pending = pending_views(h.store, tree, (at("2024-01-02"), 0), githistory_base=None)
    other = h.commit(json_files(snap(A, "Alpha", 1, 3)), at("2024-01-02"))
    assert not pending.save(other)


def test_fast_json_parse_agrees_with_the_model() -> None:
    from gitarchive.archive.snapshots import parse_json_model, parse_json_snapshot

    golden = Path(__file__).resolve().parents[1] / "golden"
    data = (golden / "pretty-09D0CKBRWkBBoPn46V6YTO.json").read_bytes()
    assert parse_json_snapshot("x", data) == parse_json_model(data)
    local = playlist(A, "L", [track(1)])
    raw = json.loads(local.to_json())
    raw["tracks"][0]["url"] = ""
    raw["tracks"][0]["duration_ms"] = 5.0  # unusual: read by the model
    text = json.dumps(raw).encode()
    assert parse_json_snapshot("x", text) == parse_json_model(text)
    assert parse_json_snapshot("x", text).tracks[0][0] == "plain:song 1 -- artist 1 -- album 1"
    from gitarchive.errors import SnapshotError

    with pytest.raises(SnapshotError, match="missing field 'name'"):
        parse_json_snapshot("x", b'{"url": "u", "original_name": "n", "owner": {"name": "o"}, '
                            b'"tracks": [{}]}')


def test_a_day_of_other_playlists_leaves_a_playlists_files_untouched(tmp_path: Path) -> None:
    """Files change only with their own playlist; a removed track's last_seen still
    counts runs that did not touch the playlist (every commit is a run)."""
    h = History(str(tmp_path / "repo"))
    h.commit({**json_files(snap(A, "Alpha", 1, 2)), **json_files(snap(B, "Beta", 9)),
              **registry(A, B)}, at("2024-01-01"))
    h.commit(json_files(snap(B, "Beta", 9, 10)), at("2024-01-02"))  # A not touched
    h.commit(json_files(snap(A, "Alpha", 1)), at("2024-01-03"))  # Song 2 removed
    rebuild(h.store)
    paths = [layout.cumulative_json_path(A), layout.cumulative_md_path(A)]
    before = [h.store.tree()[p].id for p in paths]
    h.commit(json_files(snap(B, "Beta", 10)), at("2024-01-04"))
    result = rebuild(h.store)
    assert not result.full and result.playlists == 1
    assert result.changed == [layout.cumulative_json_path(B), layout.cumulative_md_path(B)]
    # fetch's path: only B is rendered and committed.
    changes = json_files(snap(B, "Beta", 10, 11))
    tree = h.store.write_tree(h.store.tree(), changes)
    when = (at("2024-01-05"), 0)
    views, pending = pending_views(h.store, tree, when, githistory_base=None)
    assert pending.plan is not None and pending.plan.wanted == [B]
    assert set(views) == {layout.cumulative_json_path(B), layout.cumulative_md_path(B),
                          *pictures(B)}
    assert pending.save(h.store.commit({**changes, **views}, "fetch", when=when))
    assert [h.store.tree()[p].id for p in paths] == before
    doc = by_name(cumulative(h.store, A))
    assert dates(doc["Song 2"]) == ("2024-01-01", True, "2024-01-01", "2024-01-02",
                                    "2024-01-03", 1)
    assert doc["Song 1"]["last_seen"] is None
    assert "| 2024-01-01\\* |  |  |" in h.store.read(layout.cumulative_md_path(A)).decode()
    # The live value is still known to queries.
    assert sync(h.store).state.playlists[A].last_run == at("2024-01-05")
    assert rebuild(h.store).commit is None
    assert rebuild(h.store, full=True).commit is None


def test_chunked_parse_falls_back_when_a_piece_is_no_json_alone() -> None:
    """The archive-layout fast path cuts at separator lines; text that only looks
    like one (inside a nested array) is read by the whole-document parse."""
    from gitarchive.archive.snapshots import parse_json_model, parse_json_snapshot

    data = (
        b'{\n  "original_name": "P",\n  "owner": {\n    "name": "o",\n    "url": ""\n  },\n'
        b'  "tracks": [\n    {\n      "added_at": null,\n'
        b'      "album": {"name": "A", "url": ""},\n      "artists": [],\n'
        b'      "duration_ms": 1,\n      "extra": [{\n    },\n    {\n'
        b'      "added_at": null}],\n      "name": "n",\n      "url": ""\n    }\n  ],\n'
        b'  "url": "u"\n}\n'
    )
    parsed = parse_json_snapshot("x", data)
    assert [t[1].name for t in parsed.tracks] == ["n"]
    assert parsed.tracks == parse_json_model(data).tracks


def test_follower_count_alone_does_not_rerender_the_view(tmp_path: Path) -> None:
    """Most days a playlist's snapshot changes only in its follower count: no view work."""
    from gitarchive.archive.model import Link, Playlist, Track
    from gitarchive.git.store import Store

    def snapshot(followers: int) -> bytes:
        track = Track("https://open.spotify.com/track/T1", "Song", Link("Album"),
                      (Link("Artist"),), 1000, "2024-01-01 00:00:00")
        return Playlist("https://open.spotify.com/playlist/PL1", "Mix", "", Link("me"),
                        (track,), num_followers=followers).to_json().encode()

    store = Store.init(tmp_path, bare=True)
    path = layout.pretty_json_path("PL1")
    day = 86_400
    store.commit({path: snapshot(1)}, "day 1", when=(1_704_067_200, 0))
    first = rebuild(store)
    assert first.playlists == 1
    store.commit({path: snapshot(2)}, "day 2: followers only", when=(1_704_067_200 + day, 0))
    second = rebuild(store)
    assert second.playlists == 0 and second.commit is None
    files = {p: store.read(p) for p in (layout.cumulative_json_path("PL1"),)}
    rebuild(store, full=True)
    assert {p: store.read(p) for p in files} == files  # the full replay agrees
