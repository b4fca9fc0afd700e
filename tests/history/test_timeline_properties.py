"""Property: timelines an incremental sync records as it replays are those read alone.

An incremental rebuild goes on with the saved timelines while the replay reads the
new commits (history/timeline_record.py: a saved timeline's last version is taken as
the replay's when both name the same tracks); on random daily histories with every
kind of write real archives hold, what it saves is what a whole-history read gives.
"""

from __future__ import annotations

import dataclasses
import tempfile

from history_support import (
    PIDS,
    START,
    History,
    json_files,
    playlist,
    read_alone,
    real_changes,
    registry,
    snapshot_changes,
    sync_and_save,
    timelines_as_dict,
    track,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from gitarchive.archive import layout
from gitarchive.archive.model import Track
from gitarchive.history import timeline_read

KINDS = ["json", "json", "plain", "plain", "retitle", "renamed", "dup", "junk", "delete",
         "followers", "empty", "rename", "link", "unlink", "readme"]

day = st.tuples(st.integers(0, 1), st.sampled_from(KINDS),
                st.frozensets(st.integers(0, 5), max_size=4),
                st.booleans())  # sync (and save) after this day, or let days pile up


def _retitled(n: int) -> Track:
    """Track ``n`` under another title: the same ID, another chunk (and plain line)."""
    return dataclasses.replace(track(n), name=f"Song {n} (Remastered)")


def _changes(h: History, kind: str, which: int, numbers: frozenset[int], clock: int
             ) -> dict[str, bytes | None]:
    p, other = PIDS[which], PIDS[1 - which]
    tracks = [track(n) for n in sorted(numbers)]
    if kind == "retitle":
        return json_files(playlist(p, "List", [_retitled(n) for n in sorted(numbers)]))
    if kind == "renamed":  # the playlist's own name changes
        return json_files(playlist(p, "Renamed list", tracks))
    if kind == "dup":  # a track named twice (the same text, then under another title)
        again = tracks[:1] + [_retitled(n) for n in sorted(numbers)[1:2]]
        return json_files(playlist(p, "List", tracks + again))
    if kind == "junk":  # an unreadable version: the previous one goes on
        return {layout.pretty_json_path(p): b'{"trunc', layout.plain_path(p): b"\xff\xfe"}
    if kind in ("rename", "link", "unlink"):
        return real_changes(h, "main", kind, p, other)
    return snapshot_changes(kind, p, numbers, clock)


@settings(max_examples=60, deadline=None)
@given(st.lists(day, min_size=1, max_size=16))
def test_timelines_kept_by_incremental_syncs_are_read_alone(days: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        h = History(tmp)
        clock = START
        h.commit({**json_files(playlist(PIDS[0], "First", [track(0), track(1)])),
                  **registry(*PIDS)}, clock)
        sync_and_save(h)
        for which, kind, numbers, now in days:
            clock += 86_400
            h.commit(_changes(h, kind, which, numbers, clock), clock)
            if now:
                sync_and_save(h)
        sync_and_save(h)
        kept = timelines_as_dict(timeline_read.update(h.store, save=False))
        assert kept == read_alone(h.store)
