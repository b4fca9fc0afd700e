"""Timelines, charts, feeds and the static site, on real repositories."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pygit2
import pytest
from click.testing import CliRunner
from history_support import at, json_files, playlist, track
from site_support import HOSTILE, build_history

from gitarchive import charts, feeds, site, timeline
from gitarchive.cli import main

ATOM = "{http://www.w3.org/2005/Atom}"
SVG = "{http://www.w3.org/2000/svg}"


def test_timeline_changes_and_stints(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    timelines = timeline.update(built.history.store)
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
    first = timeline.update(store)
    assert first.full and first.touched == {built.a, built.b}
    again = timeline.update(store)
    assert not again.full and again.touched == set()
    built.history.commit(json_files(playlist(built.b, "Plain name", [track(11), track(12)])),
                         at("2026-03-05"))
    step = timeline.update(store)
    assert not step.full and step.touched == {built.b}
    incremental = {t.pid: t.to_dict() for t in step}
    timeline.forget(store)
    full = timeline.update(store)
    assert full.full
    assert {t.pid: t.to_dict() for t in full} == incremental
    assert [(r.pid, r.index) for r in full.recent] == [(r.pid, r.index) for r in step.recent]


def test_timeline_split_over_two_processes_is_the_same(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    alone = {t.pid: t.to_dict() for t in timeline.update(store, save=False)}
    monkeypatch.setattr(timeline, "PARALLEL_MIN", 1)
    calls: list[int] = []
    real = timeline._apply_split
    monkeypatch.setattr(timeline, "_apply_split", lambda s, w: calls.append(1) or real(s, w))
    timeline.forget(store)
    split = timeline.update(store)
    assert calls == [1]
    assert {t.pid: t.to_dict() for t in split} == alone


def test_timeline_replays_after_rewritten_history(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    timeline.update(store)
    repo = store.repo
    head = repo.head.peel(pygit2.Commit)
    repo.references.create("refs/heads/main", head.parents[0].id, force=True)
    rewound = timeline.update(store)
    assert rewound.full
    assert len(rewound.get(built.a).changes) == 3  # type: ignore[union-attr]


def _xml(data: bytes | str) -> ET.Element:
    return ET.fromstring(data.encode() if isinstance(data, str) else data)


def test_charts_are_valid_svg_with_escaped_names(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    a = timeline.update(store).get(built.a)
    assert a is not None
    counts = json.loads(store.read(f"playlists/followers/{built.a}.json") or b"{}")
    files = charts.render_charts(a, counts)
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
    assert "2,700 on 2026-03-02" in followers and "2k" in followers
    assert charts.weekly_churn(a)[1][1:] == (1, 1)  # the week of 2026-01-05: +1 −1
    assert charts.render_charts(a, counts) == files  # a pure function: same bytes


def test_tenure_summarises_beyond_the_lane_limit(tmp_path: Path, monkeypatch:
                                                 pytest.MonkeyPatch) -> None:
    built = build_history(str(tmp_path / "repo"))
    a = timeline.update(built.history.store).get(built.a)
    assert a is not None
    monkeypatch.setattr(charts, "MAX_LANES", 3)
    svg = charts.tenure_svg(a)
    root = _xml(svg)
    assert "3 older tracks not shown" in "".join(root.itertext())
    assert re.findall(r"still there", svg)  # present tracks are kept, removed ones summarised


def test_thousands_labels() -> None:
    assert [charts.thousands(v) for v in (0, 450, 500, 1500, 12_500, 250_000)] == [
        "0", "0.45k", "0.5k", "1.5k", "12.5k", "250k"]


def test_feeds_are_valid_atom_with_stable_ids(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    timelines = timeline.update(store)
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
    again = timeline.update(store).get(built.a)
    assert [e.findtext(f"{ATOM}id") for e in _xml(feeds.playlist_feed(again)).findall(  # type: ignore[arg-type]
        f"{ATOM}entry")] == ids
    archive = _xml(feeds.archive_feed(timelines.recent_changes()))
    assert archive.findtext(f"{ATOM}id") == "urn:gitarchive:archive"
    assert len(archive.findall(f"{ATOM}entry")) == 4 + 3


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text of script elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def _parse(path: Path) -> _Tags:
    parser = _Tags()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_site_escapes_everything_from_spotify(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    out = tmp_path / "site"
    result = site.build(built.history.store, out)
    assert sorted(result.rendered) == sorted([built.a, built.b])
    for page in (out / "index.html", out / "p" / f"{built.a}.html"):
        parsed = _parse(page)
        tags = {tag for tag, _ in parsed.tags}
        assert "img" not in tags or all(a.get("src", "").startswith("../charts/")
                                         for t, a in parsed.tags if t == "img")
        assert "b" not in tags
        for tag, attrs in parsed.tags:
            assert not any(name.startswith("on") for name in attrs), (tag, attrs)
            if tag == "script":
                assert attrs.get("src") or attrs.get("type") == "application/json", attrs
        text = page.read_text(encoding="utf-8")
        assert "window.__pwned=1</script>" not in text
    page = out / "p" / f"{built.a}.html"
    parsed = _parse(page)
    data = json.loads(parsed.scripts[-1])
    names = {row[0] for row in data["tracks"]}
    assert "</script><script>window.__pwned=1</script> 3" in names  # intact as data
    assert HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&#34;") + " v2" in page.read_text(encoding="utf-8")


def test_site_is_incremental_and_cleans_up(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    out = tmp_path / "site"
    site.build(store, out)
    assert site.build(store, out).rendered == []
    built.history.commit(json_files(playlist(built.b, "Plain name", [track(11), track(12)])),
                         at("2026-03-05"))
    assert site.build(store, out).rendered == [built.b]
    assert "2026-03-05" in (out / "index.html").read_text(encoding="utf-8")
    (out / "p" / f"{built.a}.html").unlink()
    assert site.build(store, out).rendered == [built.a]  # a missing page is rendered again
    assert site.build(store, out, base_url="https://x.example").rendered != []  # new settings


def test_site_branch_is_one_root_commit(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    result = site.build(store, None, branch="gh-pages")
    commit = store.repo.references["refs/heads/gh-pages"].peel(pygit2.Commit)
    assert result.commit == commit.id and commit.parents == []
    assert {"index.html", ".nojekyll", "assets", "p", "feeds"} == {
        e.name for e in commit.tree}
    assert site.build(store, None, branch="gh-pages").commit is None  # unchanged


def test_cli_site_and_its_errors(tmp_path: Path) -> None:
    built = build_history(str(tmp_path / "repo"))
    repo = str(tmp_path / "repo")
    runner = CliRunner()
    out = tmp_path / "out"
    ok = runner.invoke(main, ["site", str(out), "--repo", repo])
    assert ok.exit_code == 0, ok.output
    assert "Rendered 2 of 2" in ok.output and (out / "index.html").as_uri() in ok.output
    quiet = runner.invoke(main, ["site", str(out), "--repo", repo, "-q"])
    assert quiet.exit_code == 0 and quiet.output == ""
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.txt").write_text("keep me")
    cases = {
        (str(tmp_path / "busy"),): "is not empty and holds no gitarchive site",
        (): "give an OUTPUT directory, --branch NAME, or both",
        (str(tmp_path / "x"), "--branch", "bad..name"): "not a valid branch name",
        (str(tmp_path / "y"), "--branch", "main"): "archive's own branch",
        (str(tmp_path / "z"), "--timezone", "Mars/Base"): "unknown time zone",
    }
    for args, message in cases.items():
        result = runner.invoke(main, ["site", *args, "--repo", repo])
        assert result.exit_code in (1, 2), (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert (tmp_path / "busy" / "mine.txt").read_text() == "keep me"
    assert built.a


def test_rebuild_writes_charts_and_feeds_with_the_views(tmp_path: Path) -> None:
    from gitarchive import history, layout

    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    result = history.rebuild(store)
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
    assert history.rebuild(store).commit is None  # a fixed point
    built.history.commit(json_files(playlist(built.b, "Plain name", [track(11), track(12)])),
                         at("2026-03-05"))
    again = history.rebuild(store)
    assert again.pictures == sorted([
        f"playlists/charts/{built.b}-churn.svg", f"playlists/charts/{built.b}-tenure.svg",
        f"playlists/feeds/{built.b}.xml", "playlists/feeds/archive.xml"])


def test_views_branch_holds_the_charts(tmp_path: Path) -> None:
    from gitarchive import history

    built = build_history(str(tmp_path / "repo"))
    store = built.history.store
    result = history.rebuild(store, views_branch="views")
    assert result.commit is None and result.pictures
    views = store.repo.references["refs/heads/views"].peel(pygit2.Commit).tree
    assert {e.name for e in views["playlists"]} == {"charts", "cumulative", "feeds"}
    assert "charts" not in {e.name for e in store.tree()["playlists"]}  # type: ignore[index]
    assert history.rebuild(store, views_branch="views").views_commit is None


def test_empty_archive_and_empty_playlist(tmp_path: Path) -> None:
    from history_support import History, pid

    from gitarchive.store import Store

    Store.init(tmp_path / "empty")
    result = CliRunner().invoke(main, ["site", str(tmp_path / "o"), "--repo",
                                       str(tmp_path / "empty")])
    assert result.exit_code == 1 and "no commits yet" in result.output
    h = History(str(tmp_path / "repo"), bare=False)
    h.commit(json_files(playlist(pid(7), "Nothing here", [])), at("2026-01-01"))
    out = tmp_path / "site"
    assert site.build(h.store, out).rendered == [pid(7)]
    page = (out / "p" / f"{pid(7)}.html").read_text(encoding="utf-8")
    assert "No tracks archived" in page and "No follower counts archived" in page
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):
        _xml(svg)
