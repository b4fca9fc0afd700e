"""Timelines, and the charts and feeds drawn from them, on real repositories."""

from __future__ import annotations

import gc
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from typing import Any

import pygit2
import pytest
from history_support import History, at, json_files, playlist, registry, track
from history_support import pid as playlist_id
from site_support import build_history

from gitarchive.archive import layout
from gitarchive.archive.model import Link
from gitarchive.history import (
    charts,
    feeds,
    followers_chart,
    pictures,
    publish,
    sync,
    timeline,
    timeline_read,
)
from gitarchive.history.rebuild import rebuild
from gitarchive.history.views import DateFormatter

ATOM = "{http://www.w3.org/2005/Atom}"
SVG = "{http://www.w3.org/2000/svg}"


def test_timeline_changes_and_stints(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    timelines = timeline_read.update(built.history.store)
    a = timelines.get(built.a)
    assert a is not None
    summary = [(c.time, len(c.added), len(c.removed), c.name is not None, c.first)
               for c in a.changes]
    assert summary == [
        (at("2026-01-01"), 3, 0, True, True),
        (at("2026-01-05"), 1, 1, False, False),
        (at("2026-02-10"), 1, 1, True, False),  # track 2 back, the hostile one gone, renamed
        (at("2026-03-02"), 1, 0, False, False),
    ]
    stints = a.stints()
    key2 = "TR00000000000000000002"
    assert stints[key2] == [(at("2026-01-01"), at("2026-01-05")), (at("2026-02-10"), None)]
    assert len(stints) == 5 and len(a.order) == 4
    assert [c.time for c in timelines.get(built.b).changes] == [  # type: ignore[union-attr]
        at("2026-01-01"), at("2026-01-20"), at("2026-02-10")]


def test_timeline_incremental_equals_full_and_touches_only_changed(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    first = timeline_read.update(store)
    assert first.full and first.touched == {built.a, built.b}
    again = timeline_read.update(store)
    assert not again.full and again.touched == set()
    built.history.commit(json_files(playlist(built.b, "Plain name", [track(11), track(12)])),
                         at("2026-03-05"))
    step = timeline_read.update(store)
    assert not step.full and step.touched == {built.b}
    incremental = {t.pid: t.to_dict() for t in step}
    timeline.forget(store)
    full = timeline_read.update(store)
    assert full.full
    assert {t.pid: t.to_dict() for t in full} == incremental
    assert [(r.pid, r.index) for r in full.recent] == [(r.pid, r.index) for r in step.recent]


def test_timeline_split_over_two_processes_is_the_same(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    alone = {t.pid: t.to_dict() for t in timeline_read.update(store, save=False)}
    monkeypatch.setattr(timeline_read, "PARALLEL_MIN", 1)
    calls: list[int] = []
    real = timeline_read.Forked

    def counted(work: Any) -> Any:
        calls.append(1)
        return real(work)

    monkeypatch.setattr(timeline_read, "Forked", counted)
    timeline.forget(store)
    split = timeline_read.update(store)
    assert calls == [1]
    assert {t.pid: t.to_dict() for t in split} == alone


def test_timeline_replays_after_rewritten_history(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    timeline_read.update(store)
    repo = store.repo
    head = repo.head.peel(pygit2.Commit)
    repo.references.create("refs/heads/main", head.parents[0].id, force=True)
    rewound = timeline_read.update(store)
    assert rewound.full
    assert len(rewound.get(built.a).changes) == 3  # type: ignore[union-attr]


def _xml(data: bytes | str) -> ET.Element:
    return ET.fromstring(data.encode() if isinstance(data, str) else data)


def test_charts_are_valid_svg_with_escaped_names(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    a = timeline_read.update(store).get(built.a)
    assert a is not None
    counts = json.loads(store.read(f"playlists/followers/{built.a}.json") or b"{}")
    files = pictures.render_charts(a, counts)
    assert sorted(files) == sorted(f"playlists/charts/{built.a}-{k}.svg"
                                   for k in ("churn", "followers", "tenure"))
    for content in files.values():
        root = _xml(content)
        assert root.tag == f"{SVG}svg"
        assert not list(root.iter(f"{SVG}script"))
        assert b"<script>" not in content and b"<img" not in content
    tenure = _xml(files[f"playlists/charts/{built.a}-tenure.svg"])
    bars = [r for r in tenure.iter(f"{SVG}rect") if r.get("rx") == "2"]
    assert len(bars) == 6  # five tracks, one of them twice
    labels = "".join(tenure.itertext())
    assert "</script><script>window.__pwned=1</script> 3" in labels  # shown as text
    followers = "".join(_xml(files[f"playlists/charts/{built.a}-followers.svg"]).itertext())
    assert "2,700 since 2026-03-02" in followers and "2k" in followers
    assert charts.weekly_churn(a)[1][1:] == (1, 1)  # the week of 2026-01-05: +1 −1
    assert pictures.render_charts(a, counts) == files  # a pure function: same bytes


def test_tenure_summarises_beyond_the_lane_limit(tmp_path: Path, monkeypatch:
                                                 pytest.MonkeyPatch) -> None:
    built = build_history(str(tmp_path / "repo"))
    a = timeline_read.update(built.history.store).get(built.a)
    assert a is not None
    monkeypatch.setattr(charts, "MAX_LANES", 3)
    svg = charts.tenure_svg(a).decode("utf-8")
    root = _xml(svg)
    assert "3 older tracks not shown" in "".join(root.itertext())
    assert re.findall(r"still there", svg)  # present tracks are kept, removed ones summarised


def test_thousands_labels() -> None:
    assert [followers_chart.thousands(v) for v in (0, 450, 500, 1500, 12_500, 250_000)] == [
        "0", "0.45k", "0.5k", "1.5k", "12.5k", "250k"]


def test_feeds_are_valid_atom_with_stable_ids(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    timelines = timeline_read.update(store)
    a = timelines.get(built.a)
    assert a is not None
    text = feeds.playlist_feed(a, "https://example.org/archive/")
    root = _xml(text)
    assert root.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{required}") is not None, required
    assert root.find(f"{ATOM}link[@rel='self']").get("href") == (  # type: ignore[union-attr]
        f"https://example.org/archive/feeds/{built.a}.xml")
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 4
    for entry in entries:
        for required in ("id", "title", "updated", "content"):
            assert entry.find(f"{ATOM}{required}") is not None, required
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert titles == ["+1 −0", "+1 −1 (renamed)", "+1 −1", "first snapshot: 3 tracks"]
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(set(ids)) == 4 and all(i.startswith(f"urn:gitarchive:change:{built.a}:")
                                      for i in ids)  # type: ignore[union-attr]
    content = entries[1].findtext(f"{ATOM}content") or ""
    assert "&lt;script&gt;" in content and "<script>" not in content  # escaped inside html
    # The same ids after a full re-read of the history, and from the site's copy.
    timeline.forget(store)
    again = timeline_read.update(store).get(built.a)
    assert [e.findtext(f"{ATOM}id") for e in _xml(feeds.playlist_feed(again)).findall(  # type: ignore[arg-type]
        f"{ATOM}entry")] == ids
    archive = _xml(feeds.archive_feed(timelines.recent_changes()))
    assert archive.findtext(f"{ATOM}id") == "urn:gitarchive:archive"
    assert len(archive.findall(f"{ATOM}entry")) == 4 + 3


def test_control_characters_in_names_leave_charts_and_feeds_valid_xml(tmp_path: Path) -> None:
    """An escape sequence or a bell in a name made every chart and feed of its playlist
    (and the archive's feed) a document XML parsers refuse: a feed reader dropped it."""
    h = History(str(tmp_path / "repo"))
    p = playlist_id(1)
    evil = "Mix \x1b[31mred\x07 \x00 \ufffe"
    odd = replace(track(2), name="Song \x1b]0;title\x07", album=Link("Alb\x0bum", ""))
    h.commit(registry(p), at("2026-01-01", 8), message="add")
    h.commit(json_files(playlist(p, evil, [track(1), odd], description="d\x1b[5m")),
             at("2026-01-02"))
    h.commit(json_files(playlist(p, evil + " 2", [track(1)])), at("2026-01-09"))
    got = timeline_read.update(h.store).get(p)
    assert got is not None
    documents = [*pictures.render_charts(got, {"2026-01-02": 3}).values(),
                 feeds.playlist_feed(got), feeds.archive_feed([(got, c) for c in got.changes])]
    for document in documents:
        text = "".join(_xml(document).itertext())  # parses
        assert "\x1b" not in text and "\x07" not in text
    assert "Mix \ufffd[31mred\ufffd" in "".join(_xml(feeds.playlist_feed(got)).itertext())


def test_rebuild_writes_charts_and_feeds_with_the_views(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    result = rebuild(store)
    tree = store.tree()
    assert tree is not None
    for pid in (built.a, built.b):
        md = (store.read(layout.cumulative_md_path(pid)) or b"").decode()
        links = re.findall(r"\]\(\.\./((?:charts|feeds)/[^)]+)\)", md)
        assert len(links) == 4
        for link in links:  # relative to playlists/cumulative/: each file is in the commit
            assert f"playlists/{link}" in result.pictures
            content = store.read(f"playlists/{link}")
            assert content is not None and _xml(content) is not None
    assert "playlists/feeds/archive.xml" in result.pictures
    assert rebuild(store).commit is None  # a fixed point
    built.history.commit(json_files(playlist(built.b, "Plain name", [track(11), track(12)])),
                         at("2026-03-05"))
    again = rebuild(store)
    assert again.pictures == sorted([
        f"playlists/charts/{built.b}-churn.svg", f"playlists/charts/{built.b}-tenure.svg",
        f"playlists/feeds/{built.b}.xml", "playlists/feeds/archive.xml"])


def _followers_file(counts: dict[str, int]) -> bytes:
    return (json.dumps(counts, indent=2, sort_keys=True) + "\n").encode()


@pytest.mark.parametrize("branch", [None, "views"])
def test_a_daily_rebuild_redraws_a_followers_chart_whose_count_moved_alone(
    tmp_path: Path, branch: str | None
) -> None:
    """Runs that write only a followers file: a repeated count leaves the chart as it is,
    a new one redraws that chart alone; either way a full rebuild would draw the same."""
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    rebuild(store, views_branch=branch)
    path = f"playlists/charts/{built.a}-followers.svg"

    def chart() -> bytes:
        tree = store.branch_tree(branch) if branch else store.tree()
        return tree[path].data  # type: ignore[index]  # the test's own tree: it is there

    counts = json.loads(store.read(layout.followers_path(built.a)) or b"{}")
    before = chart()
    counts["2026-03-03"] = 2700  # the same count again: nothing to draw
    built.history.commit({layout.followers_path(built.a): _followers_file(counts)},
                         at("2026-03-03"))
    same = rebuild(store, views_branch=branch)
    assert same.pictures == [] and chart() == before
    counts["2026-03-04"] = 2900  # the count moved, the snapshot did not
    built.history.commit({layout.followers_path(built.a): _followers_file(counts)},
                         at("2026-03-04"))
    moved = rebuild(store, views_branch=branch)
    assert moved.pictures == [path] and moved.changed == []
    assert b"2,900 since 2026-03-04" in chart()
    full = rebuild(store, full=True, views_branch=branch)
    assert full.pictures == [] and full.commit is None and full.views_commit is None


def test_views_branch_holds_the_charts(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    result = rebuild(store, views_branch="views")
    assert result.commit is None and result.pictures
    views = store.repo.references["refs/heads/views"].peel(pygit2.Commit).tree
    assert {e.name for e in views["playlists"]} == {"charts", "cumulative", "feeds"}
    assert "charts" not in {e.name for e in store.tree()["playlists"]}  # type: ignore[index]
    assert rebuild(store, views_branch="views").views_commit is None


def test_halves_draw_and_render_with_the_collector_off(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """What each half of a split replay draws and renders makes no cycle: no collection."""
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    state = sync.sync(store, full=True).state
    timelines = timeline_read.update(store)
    pids = sorted(state.playlists)
    seen: list[bool] = []

    def watched(real: Any) -> Any:
        return lambda *args: (seen.append(gc.isenabled()), real(*args))[1]

    monkeypatch.setattr(charts, "tenure_svg", watched(charts.tenure_svg))
    monkeypatch.setattr(publish, "render_files", watched(publish.render_files))
    tree = store.tree()
    assert tree is not None
    drawn = pictures.drawer(store.repo.path, None)(timelines.get, pids, state, str(tree.id))
    rendered = publish.renderer(DateFormatter(UTC), None, True)(state, pids)
    assert sorted(drawn) == sorted(rendered) == pids
    assert len(seen) == 2 * len(pids) and not any(seen)
    assert gc.isenabled()
