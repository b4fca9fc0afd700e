"""Rendering archive files from model objects with jinja2 templates.

The markdown must match spotify-playlist-archive's byte for byte (see
tests/test_render.py against ../shared/golden/), so the escaping and number
formats live here as small named filters, and the layout in templates/.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from itertools import chain
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from gitarchive.archive import layout
from gitarchive.archive.model import Playlist, Track

if TYPE_CHECKING:  # loaded by the first template: the questions' tables need no jinja2
    import jinja2

# Characters spotify-playlist-archive escapes with a backslash (". ", dot + space, too).
_MD_SPECIALS = "\\#()[]-*_`|~"
_MD_SPECIALS_BUT_BACKSLASH = _MD_SPECIALS.replace("\\", "")
# Not in the old archiver's rules: raw HTML ("<script>", "</td>", "<!--") is shown as text
# (a "<" that could open a tag, as CommonMark reads one; "<3" stays), and a bare carriage
# return is a line break like a newline.
_MD_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
# Every character str.splitlines() breaks a line at: none may reach a line-based file.
_BREAK_CHARS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_LINE_BREAKS = str.maketrans(dict.fromkeys(_BREAK_CHARS, " "))
_LINE_BREAK = re.compile(f"[{_BREAK_CHARS}]")
# What a markdown link target may not hold raw (it would end the link or the line).
_URL_SPECIALS = " ()<>\n\r\t"
_URL_ESCAPES = [(c, f"%{ord(c):02X}") for c in _URL_SPECIALS]
# Text escape_md leaves as it is (but for ". "), a url _URL_ESCAPES leaves as it is: most.
_MD_SPECIAL = re.compile(f"[{re.escape(_MD_SPECIALS)}<\r\n]").search
_URL_SPECIAL = re.compile(f"[{re.escape(_URL_SPECIALS)}]").search


def one_line(text: str) -> str:
    """Text for one line of a line-based file (plain files, commit messages): breaks -> spaces."""
    if text.isascii():  # translate is C-fast on ASCII only: 100x slower on real names
        return text.translate(_LINE_BREAKS)
    return _LINE_BREAK.sub(" ", text)


def inline_code(text: str) -> str:
    """Markdown inline code on one line; doubled backticks when the text holds one."""
    text = one_line(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


@functools.lru_cache(maxsize=1 << 16)
def escape_md(text: str) -> str:
    """Make text safe inside a markdown table cell or link text.

    Backslashes are doubled first, then each other special character gets one (so the
    backslashes added are never escaped again); cached because artist and album names
    repeat.
    """
    return _escape_text(text)


def _escape_text(text: str) -> str:
    if "<" in text:
        text = _MD_TAG_START.sub("&lt;", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Each special gets a backslash, backslashes first so that none added is doubled: one
    # replace per character is C's fast search, where translate to two characters goes
    # character by character (and slower still for text beyond ASCII: 6x on real names).
    text = text.replace("\n", "<br/>").replace("\\", "\\\\")
    for special in _MD_SPECIALS_BUT_BACKSLASH:
        if special in text:
            text = text.replace(special, "\\" + special)
    return text.replace(". ", "\\. ")


def md_link(text: str, url: str) -> str:
    """``[text](url)`` with text escaped; plain escaped text when there is no url."""
    if _MD_SPECIAL(text) is None and ". " not in text and _URL_SPECIAL(url) is None:
        # Nothing to escape (a full rebuild renders ~70k mostly unique names).
        return f"[{text}]({url})" if url.startswith(("https://", "http://")) else text
    return _md_link(text, url)


@functools.lru_cache(maxsize=1 << 17)  # artists and albums repeat across tracks and days
def _md_link(text: str, url: str) -> str:
    escaped = escape_md(text)
    if not url.startswith(("https://", "http://")):
        return escaped  # no link to javascript: or a relative path from an odd answer
    return f"[{escaped}]({_link_target(url)})"


def _link_target(url: str) -> str:
    """A url as a markdown link target: its specials as ``%XX``, one replace per special it
    holds (most hold none). Not ``str.translate``: to more than one character, it goes a
    character at a time and raises and clears a KeyError for each one it leaves (~1M per
    full rebuild's views, 5 % of their instructions)."""
    for special, escaped in _URL_ESCAPES:
        if special in url:
            url = url.replace(special, escaped)
    return url


# ``M:SS`` of each whole second under an hour, by lookup: 100,000 lengths a fetch, 70,000
# rows a rebuild's views (~0.3 ms to make at import).
_SHORT_LENGTHS = [f"{m}:{s:02}" for m in range(60) for s in range(60)]


def format_length(duration_ms: int) -> str:
    """A track length: ``M:SS``, or ``H:MM:SS`` from an hour up (truncated to the second)."""
    seconds = duration_ms // 1000
    if 0 <= seconds < 3600:
        return _SHORT_LENGTHS[seconds]
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def format_total(duration_ms: int) -> str:
    """A playlist's total length in words, as coarse as the old archiver showed it."""
    seconds = duration_ms // 1000
    if seconds < 60:
        return f"{seconds} sec"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} sec"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} hr {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} day {hours} hr {minutes} min"


def plural(count: int | None, word: str) -> str:
    """``1 song`` / ``1,234 songs``; ``??? likes`` when the count is unknown."""
    if count is None:
        return f"??? {word}s"
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


@functools.cache
def environment() -> jinja2.Environment:
    """The one jinja2 environment; templates live in gitarchive/archive/templates/."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gitarchive.archive", "templates"),
        autoescape=False,  # markdown and text, escaped by our own filters
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # templates are package files: no stat of each one per render
    )
    env.filters.update(
        md=escape_md,
        track_length=format_length,
        total=format_total,
        plural=plural,
        link=md_link,  # a filter, not a global: jinja calls filters directly, globals slowly
        code=inline_code,
    )
    env.globals.update(link=md_link, layout=layout)
    return env


def load_templates() -> None:
    """Compile the snapshot files' templates now (~10 ms with the environment): done
    before a renderer forks, neither process compiles them again."""
    for name in ("pretty.md.j2", "plain.j2"):
        environment().get_template(name)


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def githistory_url(base: str | None, pid: str) -> str | None:
    """The githistory.xyz page of a playlist's plain file, from the archive's base url."""
    return f"{base}/{layout.plain_path(pid)}" if base else None


def header(kind: str, pid: str, githistory_base: str | None) -> str:
    """``pretty - [cumulative](...) - [plain](...) - [githistory](...)``; ``kind`` is unlinked."""
    links = {
        "pretty": f"/{layout.pretty_md_path(pid)}",
        "cumulative": f"/{layout.cumulative_md_path(pid)}",
        "plain": f"/{layout.plain_path(pid)}",
    }
    parts = [kind] + [f"[{name}]({url})" for name, url in links.items() if name != kind]
    history = githistory_url(githistory_base, pid)
    if history:
        parts.append(f"[githistory]({history})")
    return " - ".join(parts)


def pretty_md(playlist: Playlist, githistory_base: str | None = None,
              rows_text: str | None = None, total_ms: int | None = None) -> str:
    """The human view of one snapshot (playlists/pretty/<id>.md).

    The template lays out the page; the table rows are built here, because jinja's
    per-attribute lookups made 100,000 rows (a 1,000-playlist run) cost seconds.
    ``rows_text``: the rows as ``pretty_rows_text(playlist.tracks)`` gives them,
    if already at hand (a fetch takes them from the last run's file when the tracks
    are the same): the template writes each row and a newline, so one "row" holding
    them all joined gives the same page. ``total_ms``: ``total_length(playlist.tracks)``,
    if already at hand (then the tracks are not looked at: see ops/snapfiles.py).
    """
    rows = _one_row(pretty_rows_text(playlist.tracks) if rows_text is None else rows_text)
    return render(
        "pretty.md.j2",
        header=header("pretty", playlist.id, githistory_base),
        playlist=playlist,
        description=playlist.description.strip(),
        total_ms=total_length(playlist.tracks) if total_ms is None else total_ms,
        rows=rows,
    )


def total_length(tracks: tuple[Track, ...] | list[Track]) -> int:
    """The tracks' total length in milliseconds (the pretty page's header shows it)."""
    return sum(t.duration_ms for t in tracks)


def _one_row(text: str) -> list[str]:
    """Lines each followed by a newline (as the templates write a loop of them) as one
    template line (the template adds the last newline)."""
    return [text.removesuffix("\n")] if text else []


_SEP = "\x00"  # between texts escaped together; a text holding one is escaped on its own


def _escape_all(texts: list[str]) -> list[str]:
    """``escape_md`` of every text, in one pass over them all joined (same result).

    Every rule of escape_md is local to a character or a pair of them that a NUL
    cannot be part of, so escaping the joined text escapes each text as alone.
    """
    joined = _SEP.join(texts)
    if joined.count(_SEP) != len(texts) - 1:
        return [escape_md(t) for t in texts]
    return _escape_text(joined).split(_SEP)


def md_links(texts: list[str], urls: list[str]) -> list[str]:
    """``md_link`` of each (text, url) pair, escaped in one pass each (same result):
    two regex searches per name and url made ~8 % of a full rebuild's markdown views."""
    escaped = _escape_all(texts)
    joined = _SEP.join(urls)
    if joined.count(_SEP) != len(urls) - 1:
        return [md_link(t, u) for t, u in zip(texts, urls, strict=True)]
    joined = _link_target(joined)
    targets = joined.split(_SEP)
    web = ("https://", "http://")  # the escapes leave these prefixes alone
    # Every url a web one (the usual case): counted in the joined text, no test per url.
    if (joined.startswith(web) + joined.count(_SEP + "https://")
            + joined.count(_SEP + "http://")) == len(targets):
        return [f"[{e}]({u})" for e, u in zip(escaped, targets, strict=True)]
    return [f"[{e}]({u})" if u.startswith(web) else e
            for e, u in zip(escaped, targets, strict=True)]


_NAME, _URL = attrgetter("name"), attrgetter("url")
_ALBUM_NAME, _ALBUM_URL = attrgetter("album.name"), attrgetter("album.url")
_ARTISTS, _DURATION = attrgetter("artists"), attrgetter("duration_ms")


def _lengths(tracks: tuple[Track, ...] | list[Track]) -> list[str]:
    """``format_length`` of each track's length (by lookup, for the lengths under an hour)."""
    durations = list(map(_DURATION, tracks))
    if (set(map(type, durations)) != {int} or min(durations) < 0
            or max(durations) >= 3_600_000):
        return list(map(format_length, durations))
    table = _SHORT_LENGTHS  # format_length's own lookup, without a call per track
    return [table[d // 1000] for d in durations]


def pretty_rows_text(tracks: tuple[Track, ...] | list[Track]) -> str:
    """``pretty_row`` of every track (numbered from 1), each followed by a newline, with
    all escaping done in bulk and each field read in C (``attrgetter``).

    A 1,000-playlist run renders 100,000 rows: escaping and linking them text by text
    in Python was most of fetch's rendering time.
    """
    if not tracks:
        return ""
    count = len(tracks)
    artists = list(map(_ARTISTS, tracks))
    each = list(chain.from_iterable(artists))
    links = md_links([*map(_NAME, tracks), *map(_ALBUM_NAME, tracks), *map(_NAME, each)],
                     [*map(_URL, tracks), *map(_ALBUM_URL, tracks), *map(_URL, each)])
    if len(each) == count and all(map(len, artists)):  # one artist each: the link itself
        cells = links[2 * count:]
    else:
        cells = []
        i = 2 * count
        for some in artists:
            end = i + len(some)
            cells.append(", ".join(links[i:end]))
            i = end
    return "".join([f"| {number} | {title} | {cell} | {album} | {length} |\n"
                    for number, title, cell, album, length
                    in zip(range(1, count + 1), links[:count], cells, links[count:2 * count],
                           _lengths(tracks), strict=True)])


def pretty_row(number: int, track: Track) -> str:
    """``| No. | Title | Artist(s) | Album | Length |`` for one track."""
    artists = ", ".join([md_link(a.name, a.url) for a in track.artists])
    return (
        f"| {number} | {md_link(track.name, track.url)} | {artists} "
        f"| {md_link(track.album.name, track.album.url)} | {format_length(track.duration_ms)} |"
    )


def plain(playlist: Playlist) -> str:
    """Name, description, blank line, sorted track lines: a reorder is not a change."""
    # Track.plain_line, inlined (100,000 a run), one artist's name taken without a join
    lines = [f"{t.name} -- "
             f"{one[0].name if len(one := t.artists) == 1 else ', '.join([a.name for a in one])}"
             f" -- {t.album.name}" for t in playlist.tracks]
    joined = _SEP.join(lines)
    if joined.count(_SEP) == len(lines) - 1:  # no line holds a NUL: one pass for them all
        lines = one_line(joined).split(_SEP) if lines else []
    else:
        lines = [one_line(line) for line in lines]
    lines.sort()
    lines.sort(key=str.lower)  # stable: by (lower-cased, then as is)
    return render(
        "plain.j2",
        name=one_line(playlist.name),
        description=" ".join(playlist.description.split()),
        lines=["\n".join(lines)] if lines else [],  # one template line: the same text
    )


def pretty_json(playlist: Playlist, tracks_text: str | None = None) -> str:
    """The JSON snapshot (``tracks_text``: see ``Playlist.to_json``)."""
    return playlist.to_json(tracks_text)


def index_md(entries: Iterable[tuple[str, str, int]]) -> str:
    """The archive's index (playlists/index.md): (id, name, track count) per playlist."""
    rows = sorted(entries, key=lambda e: (e[1].lower(), e[0]))
    return render("index.md.j2", rows=rows)
