"""Properties on random histories: incremental == full, and the fast JSON emitter is exact."""

from __future__ import annotations

import json
import tempfile
from unittest import mock

import pygit2
from history_support import (
    PIDS,
    START,
    History,
    json_files,
    pid,
    playlist,
    read_alone,
    real_changes,
    registry,
    snapshot_changes,
    sync_and_save,
    timelines_as_dict,
    track,
)
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gitarchive.archive import layout, render
from gitarchive.archive.model import Link, Playlist, Track, dump_json
from gitarchive.archive.runrecord import RunRecord
from gitarchive.archive.snapshots import ParseCache, parse_json_model, parse_json_snapshot
from gitarchive.history import publish as publish_module
from gitarchive.history import shelf, timeline_read, views
from gitarchive.history import sync as sync_module
from gitarchive.history.pending import pending_views
from gitarchive.history.publish import render_all
from gitarchive.history.rebuild import rebuild
from gitarchive.history.state import state_to_dict
from gitarchive.history.sync import sync
from gitarchive.history.views import (
    CumulativeTrack,
    CumulativeView,
    cumulative_dict,
    cumulative_json,
)

op = st.one_of(
    st.tuples(
        st.just("commit"),
        st.sampled_from(["main", "main", "side"]),
        st.integers(0, 1),
        st.sampled_from(["json", "json", "plain", "delete", "followers", "unregister",
                         "register", "readme", "empty", "rename", "link", "unlink"]),
        st.frozensets(st.integers(0, 5), max_size=4),
        st.sampled_from([86_400, 86_400, 3_600, 0, -3_600]),
    ),
    # fetch's way; True: its JSON snapshot's follower count moves too (only that, most days).
    st.tuples(st.just("fetch"), st.integers(0, 1), st.frozensets(st.integers(0, 5), max_size=4),
              st.booleans()),
    # A run that fetched one playlist and recorded failing to fetch the other.
    st.tuples(st.just("failed"), st.integers(0, 1), st.frozensets(st.integers(0, 5), max_size=4),
              st.booleans()),
    st.just(("merge",)),
    st.just(("fork",)),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(op, min_size=1, max_size=14))
# Found: a history renamed back to an ID it had before, the recorder then took the
# replay's differences from a version the history had under its other ID.
@example([("commit", "main", 0, "json", frozenset(), 86400),
          ("commit", "main", 0, "rename", frozenset(), 86400),
          ("commit", "main", 0, "delete", frozenset(), 86400),
          ("fetch", 1, frozenset([0])),
          ("commit", "main", 0, "json", frozenset(), 86400),
          ("commit", "main", 1, "rename", frozenset(), -3600)])
# Found: both sides renamed one file away, a merge conflict with only its base.
@example([("commit", "main", 0, "json", frozenset(), 86400),
          ("commit", "main", 0, "rename", frozenset(), 86400),
          ("commit", "main", 0, "delete", frozenset(), 86400),
          ("commit", "side", 0, "rename", frozenset([4]), 86400),
          ("merge",)])
# Found: a playlist observed by a commit at its failed run's second left the playlists to
# settle with its gap still open; no later run closed it in the committed view.
@example([("commit", "main", 0, "json", frozenset(), 86400)] * 5
         + [("failed", 1, frozenset([0]), False),
            ("commit", "main", 0, "json", frozenset([0]), 0),
            ("fetch", 0, frozenset([0]), False),
            ("fetch", 1, frozenset(), False)])
def test_incremental_equals_full(ops: list) -> None:
    # Tiny shelves: the whole replay's save shelves every playlist, and the daily saves
    # after it empty shelves (shelf.compact) that the incremental sync then reads from.
    with mock.patch.object(shelf, "SHELF_MIN", 2), mock.patch.object(shelf, "SHELF", 2):
        _incremental_equals_full(ops)


def _incremental_equals_full(ops: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        h = History(tmp)
        clock = START
        h.commit({**json_files(playlist(PIDS[0], "First", [track(0)])), **registry(PIDS[0])},
                 clock)
        h.repo.references.create("refs/heads/side", h.tip(), force=True)
        for item in ops:
            if item[0] == "commit":
                _, branch, which, kind, numbers, step = item
                clock += step
                if kind in ("rename", "link", "unlink"):
                    changes = real_changes(h, branch, kind, PIDS[which], PIDS[1 - which])
                else:
                    changes = snapshot_changes(kind, PIDS[which], numbers, clock)
                h.commit(changes, clock, branch=branch)
            elif item[0] in ("fetch", "failed"):
                which, numbers = item[1], item[2]
                record = None
                kind = "json-followers" if len(item) > 3 and item[3] else "json"
                if item[0] == "failed":
                    record = RunRecord(None, {PIDS[1 - which]: "HTTP 500"})
                    kind = "followers" if item[3] else "json"  # only its follower count moved
                clock += 86_400
                changes = snapshot_changes(kind, PIDS[which], numbers, clock)
                tree = h.store.write_tree(h.store.tree(), changes)
                contents = {str(pygit2.hash(data)): data for data in changes.values()
                            if data is not None}  # as fetch holds them
                views, pending = pending_views(
                    h.store, tree, (clock, 0), githistory_base=None, record=record,
                    contents=contents,
                )
                message = "fetch" if record is None else "fetch\n\n" + record.trailers()
                oid = h.store.commit({**changes, **views}, message, when=(clock, 0))
                if oid is not None:
                    pending.save(oid)
            elif item[0] == "merge":
                clock += 600
                if h.repo.descendant_of(h.tip(), h.tip("side")) or h.tip() == h.tip("side"):
                    continue
                h.merge("main", "side", clock)
            else:
                h.repo.references.create("refs/heads/side", h.tip(), force=True)
            sync_and_save(h)
        incremental = sync(h.store)
        kept = timelines_as_dict(timeline_read.update(h.store, save=False))  # as recorded
        full = sync(h.store, full=True)
        assert state_to_dict(incremental.state) == state_to_dict(full.state)
        with mock.patch.object(sync_module, "PARALLEL_MIN_BLOBS", 0):  # halves in two processes
            split = sync(h.store, full=True, timelines=True)
        assert state_to_dict(split.state) == state_to_dict(full.state)
        # The timelines the replay records are those read on their own (one process, two).
        recorded = sync(h.store, full=True, timelines=True).timelines
        assert recorded is not None and split.timelines is not None
        alone = read_alone(h.store)
        assert timelines_as_dict(recorded) == alone == timelines_as_dict(split.timelines)
        assert kept == alone
        assert split.state.view_dirty == full.state.view_dirty
        assert [str(p) for p in split.problems] == [str(p) for p in full.problems]
        with mock.patch.object(publish_module, "PARALLEL_MIN_VIEWS", 1):  # views rendered in halves
            halves = render_all(split.state, timezone=None, githistory_base="b")
        assert halves == render_all(full.state, timezone=None, githistory_base="b")
        for tz in (None, "America/Los_Angeles"):
            assert render_all(incremental.state, timezone=tz, githistory_base="b") == (
                render_all(full.state, timezone=tz, githistory_base="b")
            )
        # Incremental rendering (only playlists whose view changed, after fetches that
        # committed theirs) ends with the files of a full rendering.
        rebuild(h.store)
        expected = render_all(full.state, timezone=None, githistory_base=None)
        tree = h.store.tree()
        assert {p: h.store.read(p) for p in expected} == expected
        listed = h.store.list_dir(layout.CUMULATIVE) if tree is not None else {}
        assert {f"{layout.CUMULATIVE}/{name}" for name in listed} == set(expected)


text = st.text(max_size=12)
link = st.tuples(text, text)
date = st.sampled_from(["2020-01-01", "2024-12-31"])
track_fields = dict(
    url=text, name=text, album=link, artists=st.lists(link, max_size=3).map(tuple),
    duration_ms=st.one_of(st.none(), st.integers(0, 10**7)),
    date_added=date, date_added_asterisk=st.booleans(),
    date_removed=st.one_of(st.none(), date), first_seen=date,
    last_seen=st.one_of(st.none(), date),
    stints=st.integers(1, 9),
)
tracks = st.builds(CumulativeTrack, **track_fields, added_by=st.none())
tracks_by = st.builds(CumulativeTrack, **track_fields, added_by=st.one_of(st.none(), text))


@settings(max_examples=50, deadline=None)
@given(st.builds(CumulativeView, pid=text, url=text, name=text, description=text,
                 date_first_scraped=date, tracks=st.lists(tracks | tracks_by, max_size=4),
                 fetch_gaps=st.lists(st.tuples(date, st.one_of(st.none(), date)),
                                     max_size=2).map(tuple)))
def test_json_emitter_is_dump_json(view: CumulativeView) -> None:
    assert cumulative_json(view) == dump_json(cumulative_dict(view))


# The markdown template as it was with a jinja loop per cell: the reference for _md_rows.
REFERENCE_MD = """{{ header }}

### {{ link(view.name, view.url) }}

> {{ description | md }}

{{ view.tracks | length | plural("song") }} - {{ total_ms | total }}

![Tenure: a lane per track, a bar per stint](../charts/{{ view.pid }}-tenure.svg)
![Tracks added and removed per week](../charts/{{ view.pid }}-churn.svg)
![Followers over time](../charts/{{ view.pid }}-followers.svg)

[Atom feed of changes](../feeds/{{ view.pid }}.xml)

| Title | Artist(s) | Album | Length | Added | Last seen | Removed |
|---|---|---|---|---|---|---|
{% for t in view.tracks %}
| {{ link(t.name, t.url) }} | {% for a in t.artists %}{{ link(a[0], a[1]) }}\
{{ ", " if not loop.last }}\
{% endfor %} | {{ link(t.album[0], t.album[1]) }} | \
{{ t.duration_ms | track_length if t.duration_ms is not none else "" }} | \
{{ t.date_added }}{{ "\\\\*" if t.date_added_asterisk }} | {{ t.last_seen or "" }} | \
{{ t.date_removed or "" }} |
{% endfor %}

\\*This playlist was first scraped on {{ view.date_first_scraped }}. \
Prior content cannot be recovered.
"""


@settings(max_examples=50, deadline=None)
@given(st.builds(CumulativeView, pid=text, url=text, name=text, description=text,
                 date_first_scraped=date, tracks=st.lists(tracks, max_size=4)),
       st.one_of(st.none(), st.just("https://example.org/h")))
def test_markdown_rows_are_the_template(view: CumulativeView, base: str | None) -> None:
    template = render.environment().from_string(REFERENCE_MD.replace("\\\n", ""))
    expected = template.render(
        header=render.header("cumulative", view.pid, base), view=view,
        description=view.description.strip(),
        total_ms=sum(t.duration_ms or 0 for t in view.tracks),
    )
    assert views.cumulative_md(view, base) == expected


links = st.builds(Link, text, text)
snapshot_tracks = st.builds(
    Track, url=st.one_of(st.just(""), text.map(lambda s: f"https://x/track/{s}")),
    name=text, album=links, artists=st.lists(links, max_size=2).map(tuple),
    duration_ms=st.integers(0, 10**7),
    added_at=st.one_of(st.none(), st.sampled_from(["2020-01-01 10:00:00", "bad", ""])),
    added_by=st.one_of(st.none(), st.sampled_from(["kai", "zoe", ""]), text),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(snapshot_tracks, max_size=4), min_size=1, max_size=3), text)
def test_chunked_parse_is_the_model(versions: list, name: str) -> None:
    """Snapshots in the archive's layout, parsed with a shared cache, read as the model does."""
    cache = ParseCache()
    for numbers in versions:
        snap = Playlist(url="https://x/p", original_name=name, description=name,
                        owner=Link("o", "u"), tracks=tuple(numbers), num_followers=1)
        data = snap.to_json().encode()
        assert parse_json_snapshot("x", data, cache) == parse_json_model(data)


# ------------------------------------------- hand-written expectations beside the properties
# The properties above compare the product with itself (incremental with full, the fast
# emitters with the slow ones). These pin one case of each to values written out by hand.


def _run_on_day(h: History, day: int, changes: dict) -> None:
    """One commit at noon UTC on 2024-01-<day>, then the incremental state saved."""
    h.commit(changes, 1_704_110_400 + (day - 1) * 86_400)  # 2024-01-01 12:00 UTC
    sync_and_save(h)


def test_incremental_and_full_give_the_hand_written_rows() -> None:
    p = PIDS[0]
    mix = [track(1), track(2)]
    with tempfile.TemporaryDirectory() as tmp:
        h = History(tmp)
        _run_on_day(h, 1, {**json_files(playlist(p, "Mix", mix)), **registry(p)})
        _run_on_day(h, 2, json_files(playlist(p, "Mix", [track(2), track(3)])))
        _run_on_day(h, 3, json_files(playlist(p, "Mix", [track(1), track(2), track(3)])))
        _run_on_day(h, 4, {layout.followers_path(p): b'{"2024-01-04": 5}\n'})  # a run
        _run_on_day(h, 5, json_files(playlist(p, "Mix", [track(1), track(3)])))
        for full in (False, True):
            rebuilt = rebuild(h.store, full=full)
            assert rebuilt.full is full
            data = json.loads(h.store.read(layout.cumulative_json_path(p)) or b"")
            rows = [(t["name"], t["date_added"], t["date_added_asterisk"], t["first_seen"],
                     t["last_seen"], t["date_removed"], t["stints"]) for t in data["tracks"]]
            assert (data["name"], data["date_first_scraped"]) == ("Mix", "2024-01-01")
            assert rows == [
                # present at the first observation: asterisk; gone on day 2, back on day 3
                ("Song 1", "2024-01-01", True, "2024-01-01", None, None, 2),
                # last seen by the followers-only run of day 4, gone on day 5
                ("Song 2", "2024-01-01", True, "2024-01-01", "2024-01-04", "2024-01-05", 1),
                ("Song 3", "2024-01-02", False, "2024-01-02", None, None, 1),
            ]


ROW = CumulativeTrack(
    url="https://open.spotify.com/track/T1", name='Say "Hi" [live]',
    album=("Été", ""), artists=(("A-ha", "https://a/1"), ("B_b", "")), duration_ms=61_999,
    date_added="2024-01-01", date_added_asterisk=True, date_removed="2024-02-01",
    first_seen="2024-01-01", last_seen="2024-01-31", stints=2,
)
VIEW = CumulativeView(pid=pid(7), url="https://open.spotify.com/playlist/P7",
                      name="Mix #1", description=" Late | night ", date_first_scraped="2024-01-01",
                      tracks=[ROW])


def test_cumulative_json_of_one_view_written_out() -> None:
    assert cumulative_json(VIEW) == """{
  "date_first_scraped": "2024-01-01",
  "description": " Late | night ",
  "name": "Mix #1",
  "tracks": [
    {
      "album": {
        "name": "Été",
        "url": ""
      },
      "artists": [
        {
          "name": "A-ha",
          "url": "https://a/1"
        },
        {
          "name": "B_b",
          "url": ""
        }
      ],
      "date_added": "2024-01-01",
      "date_added_asterisk": true,
      "date_removed": "2024-02-01",
      "duration_ms": 61999,
      "first_seen": "2024-01-01",
      "last_seen": "2024-01-31",
      "name": "Say \\"Hi\\" [live]",
      "stints": 2,
      "url": "https://open.spotify.com/track/T1"
    }
  ],
  "url": "https://open.spotify.com/playlist/P7"
}
"""


def test_cumulative_markdown_of_one_view_written_out() -> None:
    p = pid(7)
    assert views.cumulative_md(VIEW, None).splitlines() == [
        f"cumulative - [pretty](/playlists/pretty/{p}.md) - [plain](/playlists/plain/{p})",
        "",
        r"### [Mix \#1](https://open.spotify.com/playlist/P7)",
        "",
        r"> Late \| night",
        "",
        "1 song - 1 min 1 sec",
        "",
        f"![Tenure: a lane per track, a bar per stint](../charts/{p}-tenure.svg)",
        f"![Tracks added and removed per week](../charts/{p}-churn.svg)",
        f"![Followers over time](../charts/{p}-followers.svg)",
        "",
        f"[Atom feed of changes](../feeds/{p}.xml)",
        "",
        "| Title | Artist(s) | Album | Length | Added | Last seen | Removed |",
        "|---|---|---|---|---|---|---|",
        r'| [Say "Hi" \[live\]](https://open.spotify.com/track/T1) '
        r"| [A\-ha](https://a/1), B\_b | Été | 1:01 | 2024-01-01\* | 2024-01-31 | 2024-02-01 |",
        "",
        r"\*This playlist was first scraped on 2024-01-01. Prior content cannot be recovered.",
    ]


SNAPSHOT_JSON = b"""{
  "description": "d",
  "num_followers": 1,
  "original_name": "Mix",
  "owner": {"name": "o", "url": ""},
  "snapshot_id": "s",
  "tracks": [
    {"added_at": "2020-01-02 03:04:05", "album": {"name": "Al", "url": "https://x/al"},
     "artists": [{"name": "Ar", "url": ""}], "duration_ms": 1000, "name": "Song",
     "url": "https://open.spotify.com/track/ABC"},
    {"added_at": null, "album": {"name": "Local", "url": ""}, "artists": [],
     "duration_ms": 2000, "name": "Tape", "url": ""}
  ],
  "unique_name": "Mix (2)",
  "url": "https://open.spotify.com/playlist/P1"
}"""


def test_parsing_one_snapshot_gives_the_hand_written_rows() -> None:
    """Both JSON parsers against rows written out by hand."""
    from gitarchive.archive.snapshots import TrackMeta

    song = TrackMeta("https://open.spotify.com/track/ABC", "Song", ("Al", "https://x/al"),
                     (("Ar", ""),), 1000)
    tape = TrackMeta("", "Tape", ("Local", ""), (), 2000)
    added = 1_577_934_245  # 2020-01-02 03:04:05 UTC
    expected = ("Mix (2)", "https://open.spotify.com/playlist/P1", "d",
                [("ABC", song, added), ("plain:tape --  -- local", tape, None)])
    for parsed in (parse_json_snapshot("P1", SNAPSHOT_JSON, ParseCache()),
                   parse_json_model(SNAPSHOT_JSON)):
        assert (parsed.name, parsed.url, parsed.description, parsed.tracks) == expected
