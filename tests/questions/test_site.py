"""The static site on real repositories: escaping, incremental runs, its branch, the command."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pygit2
from click.testing import CliRunner
from history_support import History, at, json_files, pid, playlist, track
from site_support import HOSTILE, build_history

from gitarchive.cli import main
from gitarchive.git.store import Store
from gitarchive.questions import site


def _xml(data: bytes | str) -> ET.Element:
    return ET.fromstring(data.encode() if isinstance(data, str) else data)


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text of script elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script:
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


def test_empty_archive_and_empty_playlist(tmp_path: Path) -> None:
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
