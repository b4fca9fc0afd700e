"""``gitarchive site``: a self-contained static website of the archive.

An index of the playlists and a page per playlist (charts inline as SVG, the list
as of any archived day, every track ever with its dates, feeds, "copy track
links"), plus the Atom feeds as files. It works from ``file://`` (no request for data:
each page carries its own as an inert JSON ``<script>`` block, the script and style
are files beside it) and from GitHub Pages; a few lines of vanilla JavaScript sort,
filter and pick dates, and without them the page is plain tables.

Everything taken from Spotify is escaped: jinja2 autoescapes the templates, rows
are built with ``html.escape``, the page data is JSON with ``<``, ``>`` and ``&``
written as ``\\u`` escapes (so no name can close its ``<script>`` block), and the
script builds rows with ``textContent`` only.

Incremental: a manifest in the output directory records what each playlist's
files were made from (its snapshot, changes and follower file); only playlists
whose record differs are rendered again. The index, the archive feed and the
assets are always written.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from html import escape
from pathlib import Path
from typing import Any

import jinja2
import pygit2
from markupsafe import Markup

from gitarchive.archive import layout, settings
from gitarchive.archive.render import format_length
from gitarchive.atomicfile import write_atomic
from gitarchive.errors import SiteError, StoreError
from gitarchive.git.store import Store, TreeReader
from gitarchive.history import feeds, followers_chart, pictures
from gitarchive.history.publish import publish_views
from gitarchive.history.timeline import Timeline, Timelines
from gitarchive.history.timeline_read import update
from gitarchive.history.views import get_timezone
from gitarchive.progress import ProgressFn, no_progress

SITE_VERSION = 1  # bumped when the pages change: every page is rendered again
MANIFEST = ".gitarchive-site.json"
ASSETS = {"assets/site.css": "site.css.j2", "assets/site.js": "site.js.j2"}

@dataclass
class SiteResult:
    """What ``build`` did."""

    output: Path | None
    playlists: int = 0
    rendered: list[str] = field(default_factory=list)  # playlists whose files were rendered
    files: int = 0  # files written
    branch: str | None = None
    commit: pygit2.Oid | None = None


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("gitarchive.questions", "templates"),
        autoescape=jinja2.select_autoescape(["html.j2"], default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def data_json(data: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>`` possible)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# ---------------------------------------------------------------- the data


@dataclass(frozen=True)
class Row:
    """One playlist of the index."""

    pid: str
    name: str
    now: int
    ever: int
    last_change: str
    followers: int | None
    sparkline: Markup


@functools.lru_cache(maxsize=1 << 14)  # a few distinct run times
def _day(when: int | None, zone: tzinfo) -> str:
    return datetime.fromtimestamp(when, zone).strftime("%Y-%m-%d") if when is not None else ""


def _followers(store: Store, oid: pygit2.Oid | None) -> dict[str, int]:
    return followers_chart.parse_followers(store.blob(oid) if oid is not None else None)


@functools.lru_cache(maxsize=1 << 16)
def _artists(artists: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(a[0] for a in artists)


@functools.lru_cache(maxsize=1 << 16)
def _text(text: str) -> str:
    return escape(text)


@functools.lru_cache(maxsize=1 << 17)  # artists and albums repeat across playlists
def _link(text: str, url: str) -> str:
    """``<a>`` to Spotify (escaped), or the escaped text when there is no URL."""
    return f'<a href="{escape(url)}">{escape(text)}</a>' if url else escape(text)


def _current_rows(timeline: Timeline, stints: Mapping[str, list[tuple[int, int | None]]],
                  zone: tzinfo) -> Markup:
    rows = []
    for n, key in enumerate(timeline.order, 1):
        meta = timeline.tracks[key]
        spans = stints.get(key) or [(0, None)]
        length = format_length(meta.duration_ms) if meta.duration_ms is not None else ""
        rows.append(
            f"<tr><td class=num>{n}</td><td>{_link(meta.name, meta.url)}</td>"
            f"<td>{_text(_artists(meta.artists))}</td><td class=album>"
            f"{_link(meta.album[0], meta.album[1])}</td><td class=num>{length}</td>"
            f"<td class=date>{_day(spans[-1][0], zone)}</td></tr>"
        )
    return Markup("\n".join(rows))


def _ever(timeline: Timeline, stints: Mapping[str, list[tuple[int, int | None]]],
          zone: tzinfo) -> tuple[Markup, list[list[Any]]]:
    """The every-track-ever table rows and the page data the date picker reads."""
    rows, data = [], []
    ordered = sorted(stints.items(), key=lambda kv: (kv[1][0][0], timeline.tracks[kv[0]].name
                                                     .lower(), kv[0]))
    for key, spans in ordered:
        meta = timeline.tracks[key]
        first = _day(spans[0][0], zone)
        end = spans[-1][1]
        removed = _day(end, zone) if end is not None else ""
        rows.append(
            f"<tr><td>{_link(meta.name, meta.url)}</td><td>{_text(_artists(meta.artists))}"
            f"</td><td class=album>{_link(meta.album[0], meta.album[1])}</td>"
            f"<td class=date>{first}</td><td class=date>{removed}</td>"
            f"<td class=num>{len(spans)}</td></tr>"
        )
        data.append([meta.name, _artists(meta.artists), meta.album[0], meta.url,
                     meta.album[1], meta.duration_ms,
                     [[_day(a, zone), _day(b, zone) if b is not None else None]
                      for a, b in spans]])
    return Markup("\n".join(rows)), data


# ----------------------------------------------------------------- render


@dataclass
class _Context:
    env: jinja2.Environment
    zone: tzinfo
    base_url: str | None


def _playlist_files(ctx: _Context, timeline: Timeline, followers: dict[str, int]
                    ) -> dict[str, bytes]:
    """The page, charts and feed of one playlist: site path -> content."""
    pid = timeline.pid
    stints = timeline.stints()
    ever_rows, data = _ever(timeline, stints, ctx.zone)
    days = sorted({d for row in data for span in row[6] for d in span if d})
    drawn = pictures.render_charts(timeline, followers, ctx.zone)  # inline: no file per chart
    paths = pictures.chart_paths(pid)
    latest = max(followers.items())[1] if followers else None
    page = ctx.env.get_template("site-playlist.html.j2").render(
        t=timeline,
        description=timeline.description.strip(),
        now=len(timeline.order),
        ever=len(stints),
        first_day=_day(timeline.changes[0].time, ctx.zone) if timeline.changes else "",
        last_day=_day(timeline.last_change, ctx.zone),
        followers=latest,
        current_rows=_current_rows(timeline, stints, ctx.zone),
        ever_rows=ever_rows,
        data=data_json({"tracks": data, "days": days}),
        charts={kind: Markup(svg.decode("utf-8")) for kind, svg in zip(
            ("tenure", "churn", "followers"),
            (drawn[paths["tenure"]], drawn[paths["churn"]], drawn[paths["followers"]]),
            strict=True)},
        version=SITE_VERSION,
    )
    files = {f"p/{pid}.html": page.encode("utf-8")}
    files[f"feeds/{pid}.xml"] = feeds.playlist_feed(timeline, ctx.base_url)
    return files


def _index_files(ctx: _Context, rows: list[Row], timelines: Timelines) -> dict[str, bytes]:
    page = ctx.env.get_template("site-index.html.j2").render(rows=rows, version=SITE_VERSION)
    files = {"index.html": page.encode("utf-8"),
             "feeds/archive.xml": feeds.archive_feed(timelines.recent_changes(), ctx.base_url)}
    for path, template in ASSETS.items():
        files[path] = ctx.env.get_template(template).render().encode("utf-8")
    return files


def _record(timeline: Timeline, followers_oid: pygit2.Oid | None, key: str) -> str:
    """What a playlist's files are made from; they are rendered again when it changes."""
    last = timeline.changes[-1] if timeline.changes else None
    parts = (key, timeline.json_blob, timeline.plain_blob, len(timeline.changes),
             last.time if last else None, last.blob if last else None, timeline.name,
             timeline.description, timeline.url, str(followers_oid))
    return hashlib.sha1(repr(parts).encode()).hexdigest()


# ------------------------------------------------------------------ output


def _load_manifest(output: Path) -> dict[str, Any] | None:
    """The manifest of a site written before; SiteError for a directory that is not one."""
    if output.exists() and not output.is_dir():
        raise SiteError(f"{output} is a file; give the site a directory")
    try:
        data = json.loads((output / MANIFEST).read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("pages"), dict):
            return data
    except (OSError, ValueError):
        pass
    if output.exists() and any(output.iterdir()):
        raise SiteError(
            f"{output} is not empty and holds no gitarchive site; give a new or empty directory"
        )
    return None


def _write_all(output: Path, files: dict[str, bytes]) -> None:
    """Write the files (directly: the manifest, written last, says which are current)."""
    made: set[Path] = set()
    for name, content in files.items():
        path = output / name
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_bytes(content)


def site_files(pid: str) -> list[str]:
    """The files of one playlist in the site (its charts are inline in its page)."""
    return [f"p/{pid}.html", f"feeds/{pid}.xml"]


def build(
    store: Store,
    output: Path | None,
    *,
    base_url: str | None = None,
    branch: str | None = None,
    timezone: str | None = None,
    progress: ProgressFn = no_progress,
) -> SiteResult:
    """Write the site to ``output`` and/or publish it as one root commit on ``branch``."""
    if output is None and branch is None:
        raise SiteError("give an output directory, --branch NAME, or both")
    zone = get_timezone(settings.timezone(store, timezone))
    if branch is not None:
        branch = _branch_name(store, branch)
    manifest = _load_manifest(output) if output is not None else None
    head = store.head()
    if head is None:
        raise SiteError("this archive has no commits yet; run 'gitarchive fetch' first")
    timelines = update(store)
    followers_oids = TreeReader(store.repo, head.tree).listing(layout.FOLLOWERS)
    ctx = _Context(_environment(), zone, base_url.rstrip("/") if base_url else None)
    key = repr((SITE_VERSION, base_url, getattr(zone, "key", str(zone))))
    old_pages: dict[str, str] = dict(manifest["pages"]) if manifest else {}
    every = list(timelines)
    pages: dict[str, str] = {}
    wanted: list[Timeline] = []
    rows: list[Row] = []
    for timeline in every:
        oid = followers_oids.get(f"{timeline.pid}.json")
        pages[timeline.pid] = _record(timeline, oid, key)
        missing = output is not None and not (output / f"p/{timeline.pid}.html").exists()
        if branch is not None or pages[timeline.pid] != old_pages.get(timeline.pid) or missing:
            wanted.append(timeline)
    result = SiteResult(output, playlists=len(every), branch=branch)
    files: dict[str, bytes] = {}
    every_followers = {t.pid: _followers(store, followers_oids.get(f"{t.pid}.json"))
                       for t in every}
    for timeline in progress("Rendering the site", wanted):
        files.update(_playlist_files(ctx, timeline, every_followers[timeline.pid]))
        result.rendered.append(timeline.pid)
    for timeline in every:
        counts = every_followers[timeline.pid]
        rows.append(Row(
            pid=timeline.pid, name=timeline.name or timeline.pid, now=len(timeline.order),
            ever=len({k for c in timeline.changes for k in c.added}),
            last_change=_day(timeline.last_change, zone),
            followers=max(counts.items())[1] if counts else None,
            sparkline=Markup(followers_chart.sparkline_svg(counts)),
        ))
    rows.sort(key=lambda r: (r.name.lower(), r.pid))
    files.update(_index_files(ctx, rows, timelines))
    result.files = len(files)
    if output is not None:
        _write_all(output, files)
        for pid in set(old_pages) - set(pages):  # playlists no longer in the archive
            for path in site_files(pid):
                (output / path).unlink(missing_ok=True)
        manifest_text = json.dumps({"format": SITE_VERSION, "pages": pages}, indent=1,
                                   sort_keys=True)
        write_atomic(output / MANIFEST, manifest_text.encode())
    if branch is not None:
        result.commit = publish_views(store, branch, {**files, ".nojekyll": b""}, head,
                                      what="Static site", by="Written by 'gitarchive site'")
    return result


def _branch_name(store: Store, name: str) -> str:
    name = name.strip().removeprefix("refs/heads/")
    if not name or not pygit2.reference_is_valid_name(f"refs/heads/{name}"):
        raise SiteError(f"'{name}' is not a valid branch name for the site")
    try:
        own = store.branch_ref
    except StoreError:
        own = None
    if own == f"refs/heads/{name}":
        raise SiteError(f"the site branch cannot be the archive's own branch '{name}'")
    return name
