"""Exporting the cumulative data of every playlist for spreadsheets and SQL tools.

The rows are the cumulative views' (views.cumulative_view over the replay state of
history/sync.py), so an export always agrees with ``playlists/cumulative/*.json``; only
the shapes differ: one JSON document, one CSV row per playlist x track, or a SQLite
database with playlists, tracks, track_artists and appearances tables.
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitarchive.archive import registry
from gitarchive.archive.model import dump_json, track_key
from gitarchive.git.store import Store
from gitarchive.history import views
from gitarchive.history.sync import sync
from gitarchive.history.views import CumulativeTrack, CumulativeView
from gitarchive.progress import ProgressFn, no_progress

FORMAT = "gitarchive-export/1"

CSV_COLUMNS = (
    "playlist_id", "playlist_name", "track_id", "track_name", "artists", "album",
    "duration_ms", "date_added", "date_added_asterisk", "first_seen", "last_seen",
    "date_removed", "stints", "present", "track_url", "added_by",
)

SQL_SCHEMA = """
CREATE TABLE playlists (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, url TEXT NOT NULL, description TEXT NOT NULL,
    registered INTEGER NOT NULL, alias TEXT, date_first_scraped TEXT NOT NULL,
    tracks_now INTEGER NOT NULL, tracks_ever INTEGER NOT NULL
);
CREATE TABLE tracks (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, url TEXT NOT NULL, album TEXT NOT NULL,
    album_url TEXT NOT NULL, artists TEXT NOT NULL, duration_ms INTEGER
);
CREATE TABLE track_artists (
    track_id TEXT NOT NULL REFERENCES tracks(id), position INTEGER NOT NULL,
    name TEXT NOT NULL, url TEXT NOT NULL, PRIMARY KEY (track_id, position)
);
CREATE TABLE appearances (
    playlist_id TEXT NOT NULL REFERENCES playlists(id),
    track_id TEXT NOT NULL REFERENCES tracks(id),
    date_added TEXT NOT NULL, date_added_asterisk INTEGER NOT NULL,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, date_removed TEXT,
    stints INTEGER NOT NULL, present INTEGER NOT NULL, added_by TEXT,
    PRIMARY KEY (playlist_id, track_id)
);
CREATE INDEX appearances_track ON appearances (track_id);
CREATE INDEX appearances_present ON appearances (playlist_id, present);
CREATE INDEX tracks_name ON tracks (name COLLATE NOCASE);
CREATE INDEX track_artists_name ON track_artists (name COLLATE NOCASE);
"""


@dataclass(frozen=True)
class ExportPlaylist:
    """One playlist's cumulative view plus what the registry says about it."""

    view: CumulativeView
    registered: bool
    alias: str | None


def track_id(track: CumulativeTrack) -> str:
    """The Spotify track ID, or the replay's identity of a track without one."""
    return track_key(track.url, track.name, (name for name, _ in track.artists), track.album[0])


def collect(store: Store, timezone: str | None = None, *,
            progress: ProgressFn = no_progress) -> list[ExportPlaylist]:
    """The cumulative data of every observed playlist, dates in ``timezone`` (UTC default)."""
    fmt = views.DateFormatter(views.get_timezone(timezone))
    state = sync(store).state
    entries, _ = registry.load(store)
    found = []
    for pid in progress("Reading the views", sorted(state.playlists)):
        view = views.cumulative_view(state.playlists[pid], fmt, live=True)
        if view is not None:
            entry = entries.get(pid)
            found.append(ExportPlaylist(view, entry is not None, entry.alias if entry else None))
    return found


# ---------------------------------------------------------------------- JSON


def to_json(playlists: list[ExportPlaylist], head: str | None, timezone: str | None) -> str:
    """One document: every playlist's cumulative JSON with its id and registry status."""
    document: dict[str, Any] = {
        "format": FORMAT,
        "head": head,
        "timezone": timezone or "UTC",
        "playlists": [
            {"id": p.view.pid, "registered": p.registered, "alias": p.alias,
             **views.cumulative_dict(p.view)}
            for p in playlists
        ],
    }
    return dump_json(document)


# ----------------------------------------------------------------------- CSV


def csv_rows(playlists: list[ExportPlaylist]) -> Iterator[tuple[Any, ...]]:
    """One row per playlist x track, columns as CSV_COLUMNS."""
    for p in playlists:
        for t in p.view.tracks:
            yield (
                p.view.pid, p.view.name, track_id(t), t.name,
                ", ".join(name for name, _ in t.artists), t.album[0], t.duration_ms,
                t.date_added, int(t.date_added_asterisk), t.first_seen, t.last_seen,
                t.date_removed or "", t.stints, int(t.date_removed is None), t.url,
                t.added_by or "",
            )


def to_csv(playlists: list[ExportPlaylist]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(playlists))
    return out.getvalue()


# -------------------------------------------------------------------- SQLite


def to_sqlite(playlists: list[ExportPlaylist], output: Path, *,
              progress: ProgressFn = no_progress) -> None:
    """Write a new database at ``output`` (replaced atomically: a reader never sees half)."""
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with sqlite3.connect(tmp) as db:
            db.executescript(SQL_SCHEMA)
            _fill(db, progress("Writing the database", playlists))
        db.close()
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fill(db: sqlite3.Connection, playlists: Iterable[ExportPlaylist]) -> None:
    tracks: dict[str, CumulativeTrack] = {}
    for p in playlists:
        view = p.view
        present = sum(1 for t in view.tracks if t.date_removed is None)
        db.execute(
            "INSERT INTO playlists VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (view.pid, view.name, view.url, view.description, int(p.registered), p.alias,
             view.date_first_scraped, present, len(view.tracks)),
        )
        for t in view.tracks:
            tid = track_id(t)
            tracks[tid] = t  # the last playlist's metadata wins: they agree but for edits
            db.execute(
                "INSERT OR REPLACE INTO appearances VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (view.pid, tid, t.date_added, int(t.date_added_asterisk), t.first_seen,
                 t.last_seen, t.date_removed, t.stints, int(t.date_removed is None),
                 t.added_by),
            )
    for tid, t in tracks.items():
        db.execute(
            "INSERT INTO tracks VALUES (?, ?, ?, ?, ?, ?, ?)",
            (tid, t.name, t.url, t.album[0], t.album[1],
             ", ".join(name for name, _ in t.artists), t.duration_ms),
        )
        db.executemany(
            "INSERT INTO track_artists VALUES (?, ?, ?, ?)",
            [(tid, i, name, url) for i, (name, url) in enumerate(t.artists)],
        )


def write_text(path: Path, text: str) -> None:
    """Write a CSV or JSON export (UTF-8) to ``path`` (its folder must exist)."""
    path.write_text(text, encoding="utf-8")
