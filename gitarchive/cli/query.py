"""Commands that ask the archive: show, diff, log, search, export."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gitarchive import collector
from gitarchive.archive import settings
from gitarchive.cli.common import note_cut, open_store, repo_option
from gitarchive.heal import healing_index
from gitarchive.questions import output as query_output
from gitarchive.questions.index import QueryIndex, index_path
from gitarchive.visible import one_line, shown

if TYPE_CHECKING:  # imported where used: a search answered from a current index loads no
    from gitarchive.git.store import Store  # pygit2, no history code, no jinja2
    from gitarchive.history.views import DateFormatter

LINK_FORMATS = ("uris", "urls")
# The git config the questions read, remembered with the index (questions/current.py).
QUESTION_CONFIG = (settings.TIMEZONE_KEY,)


def timezone_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--timezone TZ`` for the commands that show dates (these and ``publish``)."""
    return click.option(
        "--timezone",
        default=None,
        help="IANA time zone for dates (default: git config gitarchive.timezone, else UTC).",
    )(func)


def _index_file(repo_path: str) -> Path:
    """Where the query index of the archive at ``repo_path`` lives (for healing_index)."""
    return index_path(open_store(repo_path))


QUESTION_BAR_DELAY = 0.5  # the first question's replay is ~20 long steps (min_items was 100)


def open_archive(repo_path: str, timezone: str | None) -> tuple[Store, QueryIndex, DateFormatter]:
    """The archive, its query index brought up to HEAD, and the dates' formatter.

    The index is left with a record (questions/current.py) that lets the next
    question see it is still current without pygit2 (``_current_index``).
    """
    from gitarchive.history.views import DateFormatter, get_timezone
    from gitarchive.progress import terminal_bar
    from gitarchive.questions import current
    from gitarchive.questions.indexing import open_index

    store = open_store(repo_path)
    zone = get_timezone(settings.timezone(store, timezone))
    if store.head() is None:
        raise click.ClickException("this archive has no commits yet; run 'gitarchive fetch'")
    note_cut(store)
    index = open_index(store, progress=terminal_bar(delay=QUESTION_BAR_DELAY))
    current.remember(store, index, QUESTION_CONFIG)
    return store, index, DateFormatter(zone)


def _current_index(repo_path: str, timezone: str | None) -> tuple[QueryIndex, tzinfo] | None:
    """The index and the dates' zone when the index is plainly current (no git code
    loaded); None: ask through ``open_archive``, which is always right."""
    from gitarchive.questions import current

    found = current.open_current(Path(repo_path))
    if found is None:
        return None
    index, config = found
    zone = query_output.known_zone(timezone or config.get(settings.TIMEZONE_KEY))
    if zone is None:  # open_archive says what is wrong with the name
        index.close()
        return None
    return index, zone


def _echo_data(text: str) -> None:
    """A data format (CSV, JSON, markdown, plain, links) on stdout: on a terminal with
    what it would obey shown (``visible.shown``); else every byte as ``--output`` or the
    archive's file holds it: UTF-8 whatever the locale, and no escape sequence stripped
    (click strips them from text for a pipe or a file: a name would lose characters)."""
    if sys.stdout.isatty():
        click.echo(shown(text), nl=False)
    else:
        click.echo(text.encode("utf-8"), nl=False)


def _width() -> int:
    if not sys.stdout.isatty():
        return 0
    import shutil

    return shutil.get_terminal_size((120, 24)).columns


@click.command()
@click.argument("playlist")
@click.option("--at", "at", metavar="DATE|REV",
              help="A day (YYYY-MM-DD: the last snapshot by the end of it) or a git revision.")
@click.option("--format", "fmt", type=click.Choice((*query_output.SHOW_FORMATS, *LINK_FORMATS)),
              default="table", show_default=True,
              help="Output format (uris, urls: the track links, one a line).")
@timezone_option
@repo_option
@healing_index(_index_file)
def show(playlist: str, at: str | None, fmt: str, timezone: str | None, repo_path: str) -> None:
    """Show PLAYLIST as it was archived at a date or revision (default: latest).

    PLAYLIST is an ID, URL, URI, or a playlist's exact name or alias (any case).
    """
    from gitarchive.questions import query

    store, index, date = open_archive(repo_path, timezone)
    with index:
        pid = query.find_playlist(store, index, playlist, date.zone)
        point = query.parse_point(store, at, date.zone)
        snapshot = query.snapshot_at(store, index, pid, point)
        as_of = query.as_of(store, point)
    if fmt in LINK_FORMATS:  # plain-only history is matched to JSON snapshots (publish.py)
        from gitarchive.questions.publish_plan import link_lines

        text, missing = link_lines(store, snapshot, fmt)
        for line in missing:
            click.echo(f"no Spotify ID in the archive: {one_line(line)}", err=True)
        _echo_data(text)
        return
    shown = query_output.show(snapshot, fmt, date, _width(), as_of)
    if fmt == "table":
        click.echo(shown, nl=False)
    else:
        _echo_data(shown)


@click.command()
@click.argument("playlist")
@click.option("--from", "start", metavar="DATE|REV",
              help="Compare from this day or revision (default: before the last change).")
@click.option("--to", "end", metavar="DATE|REV",
              help="Compare up to this day or revision (default: the latest snapshot).")
@timezone_option
@repo_option
@healing_index(_index_file)
def diff(
    playlist: str, start: str | None, end: str | None, timezone: str | None, repo_path: str
) -> None:
    """Tracks added to and removed from PLAYLIST between two dates or revisions.

    Each track shows the date it was added or removed. Without --from, the last
    change of tracks is shown.
    """
    from gitarchive.questions import query

    store, index, date = open_archive(repo_path, timezone)
    with index:
        pid = query.find_playlist(store, index, playlist, date.zone)
        to_point = query.parse_point(store, end, date.zone)
        from_point = query.parse_point(store, start, date.zone) if start else None
        result = query.diff(store, index, pid, from_point, to_point)
    click.echo(query_output.diff_text(result, date, _width()), nl=False)


@click.command()
@click.argument("playlist")
@timezone_option
@repo_option
@healing_index(_index_file)
def log(playlist: str, timezone: str | None, repo_path: str) -> None:
    """One line per change of PLAYLIST: date, +added −removed, new name or description."""
    from gitarchive.questions import query
    from gitarchive.questions.changes import changes as changes_of

    store, index, date = open_archive(repo_path, timezone)
    with index:
        pid = query.find_playlist(store, index, playlist, date.zone)
        changes = changes_of(store, index, pid)
    for change in changes:
        click.echo(query_output.log_line(change, date))


@click.command()
@click.argument("text")
@click.option("--playlist", "playlists", multiple=True,
              help="Only this playlist (ID, URL, URI, name or alias); repeatable.")
@timezone_option
@repo_option
@healing_index(_index_file)
def search(text: str, playlists: tuple[str, ...], timezone: str | None, repo_path: str) -> None:
    """Every track whose title, artist or album contains TEXT, in all of history.

    Case and accents are ignored ("beyonce" finds "Beyoncé"). Shows the playlist,
    the track, when it was first and last seen, and whether it is still there.
    """
    from gitarchive.questions.search import search as find_tracks

    found = None if playlists else _current_index(repo_path, timezone)
    store = None
    if found is None:
        store, index, date = open_archive(repo_path, timezone)
        found = index, date.zone
    index, zone = found
    with index, collector.paused():
        hits = find_tracks(index, text, _playlist_ids(store, index, playlists, zone))
        shown = query_output.search_text(hits, query_output.days(zone), _width()) if hits else ""
    if not hits:
        click.echo(f"No track matches '{text}'.", err=True)
        sys.exit(1)
    click.echo(shown, nl=False)


def _playlist_ids(
    store: Store | None, index: QueryIndex, refs: tuple[str, ...], zone: tzinfo
) -> list[str] | None:
    """The playlists ``--playlist`` names (None: every playlist)."""
    if not refs:
        return None
    assert store is not None  # with --playlist, search asks through open_archive
    from gitarchive.questions import query

    return [query.find_playlist(store, index, ref, zone) for ref in refs]


@click.command(name="export")
@click.option("--format", "fmt", type=click.Choice(("csv", "json", "sqlite")), required=True,
              help="csv: one row per playlist x track; json: one document; sqlite: a database.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (required for sqlite; csv and json default to stdout).")
@timezone_option
@repo_option
@healing_index(_index_file)
def export_(fmt: str, output: Path | None, timezone: str | None, repo_path: str) -> None:
    """Export the cumulative data of every playlist (dates added, seen, removed).

    The sqlite database has tables playlists, tracks, track_artists and
    appearances (one row per playlist x track) with indexes for common joins.
    """
    if fmt == "sqlite" and output is None:
        raise click.UsageError("--format sqlite needs --output FILE")
    if fmt == "sqlite" and output is not None and output.exists() and not output.is_file():
        # the database is written beside it and renamed over it: never over a device
        raise click.UsageError(f"--output {output} exists and is not a regular file")
    if output is not None and not output.absolute().parent.is_dir():
        # as cp, sqlite3 and most tools: a mistyped folder is not made, silently
        raise click.UsageError(f"--output {output}: there is no folder "
                               f"{output.absolute().parent}; nothing was exported")
    store, index, _ = open_archive(repo_path, timezone)
    index.close()  # brings the saved history state up to HEAD, so collect reads no history
    tz = settings.timezone(store, timezone)
    from gitarchive.progress import terminal_bar
    from gitarchive.questions import export as exporting  # only this command needs it

    progress = terminal_bar(delay=QUESTION_BAR_DELAY)  # seconds on a long history
    playlists = exporting.collect(store, tz, progress=progress)
    if fmt == "sqlite":
        assert output is not None
        with _writing(output):
            exporting.to_sqlite(playlists, output, progress=progress)
        click.echo(f"Wrote {len(playlists)} playlists to {output}", err=True)
        return
    text = (
        exporting.to_csv(playlists) if fmt == "csv"
        else exporting.to_json(playlists, index.head, tz)
    )
    if output is None:
        _echo_data(text)
    else:
        with _writing(output):
            exporting.write_text(output, text)
        click.echo(f"Wrote {len(playlists)} playlists to {output}", err=True)


@contextlib.contextmanager
def _writing(output: Path) -> Iterator[None]:
    """An export that cannot be written (full disk, no permission) is a clear error."""
    try:
        yield
    except OSError as exc:
        raise click.ClickException(
            f"cannot write {output}: {exc.strerror or exc}; nothing was exported"
        ) from exc


COMMANDS: list[click.Command] = [show, diff, log, search, export_]
