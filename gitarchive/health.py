"""Fetch health for ``gitarchive status``: which registered playlists are stale or never fetched.

"Last fetched" is the playlist's last observation in the replay of history (the
query index's ``last_run``): the last run that counts for it. Until runs record
which playlists they fetched (issue 10, section 3), every run counts for every
registered playlist, as the cumulative views count them; once they do, the same
column means the last run that fetched it, with nothing to change here. The
failure columns (failing since, last error) need those records and are not shown yet.
A run that changed nothing commits nothing, so until runs leave a record every
time, an archive whose playlists and follower counts stand still for days looks
stale here although its fetches succeed.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitarchive import registry
from gitarchive.query_index import PlaylistRow, open_index
from gitarchive.store import Store

DAY = 86_400
DEFAULT_STALE_DAYS = 3


@dataclass(frozen=True)
class PlaylistHealth:
    """One registered playlist: when it was last fetched, and whether that is too long ago."""

    pid: str
    name: str
    last_fetched: int | None  # epoch seconds; None: never fetched
    stale: bool

    @property
    def never_fetched(self) -> bool:
        return self.last_fetched is None


@dataclass(frozen=True)
class HealthReport:
    now: int
    stale_days: int
    last_run: int | None  # the archive's latest run, any playlist
    playlists: list[PlaylistHealth]

    @property
    def problems(self) -> list[PlaylistHealth]:
        """What cron should hear about: stale or never fetched."""
        return [p for p in self.playlists if p.stale or p.never_fetched]


def report(store: Store, now: int, stale_days: int = DEFAULT_STALE_DAYS) -> HealthReport:
    """The health of every registered playlist as of ``now`` (epoch seconds)."""
    entries, _ = registry.load(store)
    rows: dict[str, PlaylistRow] = {}
    if store.head() is not None:
        with open_index(store) as index:
            rows = index.playlists()
    names = {pid: row.name for pid, row in rows.items()}
    playlists = []
    for pid in sorted(entries, key=lambda p: ((names.get(p) or p).lower(), p)):
        row = rows.get(pid)
        last = row.last_run if row is not None else None
        playlists.append(PlaylistHealth(
            pid=pid,
            name=entries[pid].alias or names.get(pid) or pid,
            last_fetched=last,
            stale=last is not None and now - last >= stale_days * DAY,
        ))
    runs = [row.last_run for row in rows.values() if row.last_run is not None]
    return HealthReport(now, stale_days, max(runs, default=None), playlists)
