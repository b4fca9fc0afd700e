"""A failed stretch's gap, as the files fetch commits show it, closes when it is over.

fetch renders the cumulative views of its coming commit incrementally
(history/pending.py): only playlists whose view changed. A gap is closed by the first
run *after* its last failed one; a run at that same second observes the playlist
without closing it. Found by the property test incremental == full: such a playlist
was dropped from the ones still to settle, so no later run ever reloaded it, and its
committed view said "not fetched since" for ever while a full rebuild said the
stretch was over.
"""

from __future__ import annotations

import json
import tempfile

import pygit2
from history_support import History, json_files, pid, playlist, registry, track

from gitarchive.archive import layout
from gitarchive.archive.runrecord import RunRecord
from gitarchive.history.pending import pending_views
from gitarchive.history.publish import render_all
from gitarchive.history.rebuild import rebuild
from gitarchive.history.sync import sync

DAY = 86_400
START = 1_700_000_000
ONE, TWO = pid(1), pid(2)


def fetch_commit(h: History, changes: dict[str, bytes | None], when: int,
                 record: RunRecord | None = None) -> None:
    """A commit as fetch makes it: its snapshots and the views pending_views renders."""
    tree = h.store.write_tree(h.store.tree(), changes)
    contents = {str(pygit2.hash(data)): data for data in changes.values() if data is not None}
    views, pending = pending_views(h.store, tree, (when, 0), githistory_base=None,
                                   record=record, contents=contents)
    message = "fetch" if record is None else "fetch\n\n" + record.trailers()
    oid = h.store.commit({**changes, **views}, message, when=(when, 0))
    assert oid is not None
    pending.save(oid)


def gaps_in_view(h: History, p: str) -> list[dict[str, object]]:
    data = h.store.read(layout.cumulative_json_path(p))
    assert data is not None
    gaps: list[dict[str, object]] = json.loads(data)["fetch_gaps"]
    return gaps


def test_a_gap_observed_at_its_failed_runs_second_closes_at_the_next_run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        h = History(tmp)
        h.commit({**json_files(playlist(ONE, "One", [track(0)])), **registry(ONE, TWO),
                  **json_files(playlist(TWO, "Two", [track(1)]))}, START)
        sync(h.store)
        failed = START + DAY
        # fetch fails to read ONE (TWO changes); another tool commits ONE the same second.
        fetch_commit(h, json_files(playlist(TWO, "Two", [track(1), track(2)])), failed,
                     RunRecord(None, {ONE: "HTTP 500"}))
        assert gaps_in_view(h, ONE) == [{"from": "2023-11-15", "to": None}]
        h.commit(json_files(playlist(ONE, "One", [track(0), track(3)])), failed)
        rebuild(h.store)  # the daily rebuild after that commit: the gap is still open
        assert gaps_in_view(h, ONE) == [{"from": "2023-11-15", "to": None}]
        # The next day's fetch reads both; only TWO changes, so ONE's view is not asked for.
        fetch_commit(h, json_files(playlist(TWO, "Two", [track(2)])), failed + DAY)
        assert gaps_in_view(h, ONE) == [{"from": "2023-11-15", "to": "2023-11-15"}]
        expected = render_all(sync(h.store, full=True).state, timezone=None,
                              githistory_base=None)
        assert {p: h.store.read(p) for p in expected} == expected
