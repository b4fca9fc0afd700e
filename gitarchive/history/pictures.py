"""Charts and feeds written with the cumulative views: same commit, or the views branch.

``rebuild`` and ``fetch`` render the cumulative files of the playlists whose view
changed; for the same playlists this adds ``playlists/charts/<id>-*.svg`` and
``playlists/feeds/<id>.xml`` (and the archive's ``playlists/feeds/archive.xml``),
which the cumulative markdown links to. The pictures and feeds hold no "now", so,
like the cumulative files, they change only when the playlist does, with one
exception: a follower count that changes while the snapshot does not redraws that
playlist's followers chart alone (``followers_written``), as a full rebuild would.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, tzinfo
from typing import TypeVar

import pygit2

from gitarchive import collector
from gitarchive.archive import layout
from gitarchive.git.packwriter import Content, content_id
from gitarchive.git.store import Store, TreeReader, blob_data, process_repository, tree_at
from gitarchive.git.trust import unverified_reads
from gitarchive.history import charts, feeds, followers_chart, timeline_read
from gitarchive.history.events import KIND_FOLLOWERS, Event
from gitarchive.history.parallel import in_halves, two_cores
from gitarchive.history.state import HistoryState
from gitarchive.history.timeline import Timeline, Timelines
from gitarchive.history.timeline_record import DrawFn
from gitarchive.history.views import get_timezone

C = TypeVar("C", bound=Content)  # drawn already: bytes, or blobs written (packwriter.Stored)
Gaps = Sequence[Sequence[int]]  # (first failed run, last failed run, still failing): state.py


def chart_paths(pid: str) -> dict[str, str]:
    """kind -> path in the archive (``playlists/charts/<id>-<kind>.svg``)."""
    return {kind: f"playlists/charts/{pid}-{kind}.svg" for kind in ("tenure", "followers",
                                                                    "churn")}


def fetch_gaps(state: HistoryState, pids: Iterable[str]) -> dict[str, Gaps]:
    """The failed-fetch stretches of ``pids`` that have any (the replay's, health runs)."""
    found = {pid: state.playlists[pid].gaps for pid in pids if pid in state.playlists}
    return {pid: gaps for pid, gaps in found.items() if gaps}


def render_charts(
    timeline: Timeline, followers: Mapping[str, int], zone: tzinfo = UTC, gaps: Gaps = ()
) -> dict[str, bytes]:
    """The three charts of one playlist: archive path -> SVG bytes."""
    paths = chart_paths(timeline.pid)
    return {
        paths["tenure"]: charts.tenure_svg(timeline, zone, gaps),
        paths["followers"]: followers_chart.followers_svg(followers, zone),
        paths["churn"]: charts.churn_svg(timeline, zone),
    }


def followers_of(reader: TreeReader, pid: str) -> dict[str, int]:
    """The follower counts of a playlist in a tree (day -> count)."""
    return followers_chart.parse_followers(reader.read(layout.followers_path(pid)))


def followers_written(store: Store, events: Iterable[Event], state: HistoryState,
                      drawn: Iterable[str], *, before: pygit2.Tree | None, after: pygit2.Tree,
                      only: Iterable[str] | None = None, glance: bool = True) -> list[str]:
    """The playlists (of ``only``, if given) whose followers chart alone may differ from
    the one drawn as of ``before``, as a full rebuild would draw it: ``events`` wrote
    their followers file (a count can move while the snapshot does not), their charts
    are not ``drawn`` anyway, and the file in ``after`` does more than repeat the last
    count (followers_chart.repeats_the_count: most playlists, most days). ``glance`` False:
    the caller knows which only repeat it and put them in ``drawn``.

    With ``glance``, each file read is kept in ``state.followers`` when it is the
    layout's own: seen so the night before, tonight's earlier text is that file (same
    blob id) and is not scanned again, only the line added (``_seen``)."""
    old, new = TreeReader(store.repo, before), TreeReader(store.repo, after)
    found = _followers_files_written(events, old, new)
    found.difference_update(drawn)
    if only is not None:
        found.intersection_update(only)

    def moved(pid: str) -> bool:
        path = layout.followers_path(pid)
        was = old.blob_id(path)
        now = new.blob_id(path)
        if was == now:
            return False
        if not glance:
            return True
        if now is None:  # the file went: nothing left to check tomorrow's against
            state.followers.pop(pid, None)
            return True
        return not _seen(state.followers, pid, was, now, new.read(path))

    return [pid for pid in sorted(found) if pid in state.playlists and moved(pid)]


def followers_seen(store: Store, state: HistoryState, tree: pygit2.Tree) -> None:
    """Keep in ``state.followers`` which of ``tree``'s followers files are the layout's
    own (a whole replay's: its pictures were drawn from them), so that the next daily
    run checks each against the line it adds alone (``followers_written``)."""
    reader = TreeReader(store.repo, tree)
    seen: dict[str, bytes] = {}
    with unverified_reads():  # ~1,000 files, each hashed again by libgit2 else (trust.py)
        for name, oid in reader.listing(layout.FOLLOWERS).items():
            if name.endswith(".json") and name[:-5] in state.playlists \
                    and followers_chart.layouts_own(blob_data(store.repo, oid)):
                seen[name[:-5]] = oid.raw
    state.followers = seen


def _seen(seen: dict[str, bytes], pid: str, was: pygit2.Oid | None, now: pygit2.Oid,
          data: bytes | None) -> bool:
    """Whether ``data`` (blob ``now``) is the file ``was`` with one day added at its last
    count (followers_chart.repeats_the_count), with ``seen`` (pid -> raw blob id of a file
    known to be the layout's own) brought up to date: ``now`` kept when it is one, else
    the entry dropped. The earlier text is scanned whole (``layouts_own``) unless it is
    the file seen before, by its blob id."""
    found = followers_chart.day_added(data)
    if found is not None:
        earlier, repeats = found
        raw = None if was is None else was.raw
        same = content_id(earlier).raw == raw
        if (same and seen.get(pid) == raw) or followers_chart.layouts_own(earlier):
            seen[pid] = now.raw
            return same and repeats
    seen.pop(pid, None)
    return False


def _followers_files_written(events: Iterable[Event], old: TreeReader, new: TreeReader
                             ) -> set[str]:
    """The playlists whose followers file ``events`` wrote. Events that left theirs out (a
    whole-history walk's, events.EventReader) give every file in either tree: those the
    events did not write are the same in both, which ``followers_written`` then sees."""
    found: set[str] = set()
    for event in events:
        if not event.followers:
            return {name[:-5] for reader in (old, new) for name in reader.listing(
                layout.FOLLOWERS) if name.endswith(".json") and len(name) > 5}
        found.update(w.pid for w in event.writes if w.kind == KIND_FOLLOWERS)
    return found


def files(
    store: Store,
    pids: Iterable[str],
    *,
    tree: pygit2.Tree | None,
    compare_with: pygit2.Tree | None,
    timezone: str | None,
    gaps: Mapping[str, Gaps] | None = None,
    timelines: Timelines | None = None,
    predrawn: Mapping[str, Mapping[str, C]] | None = None,
    followers: Iterable[str] = (),
) -> dict[str, bytes | C | None]:
    """Charts and feeds of ``pids``: path -> content, only those differing from ``compare_with``.

    ``tree`` holds the follower counts (the snapshot tree being committed, or HEAD's);
    ``compare_with`` None: every file; ``gaps``:
    each playlist's failed fetches (from the replay state), shown on its tenure chart;
    ``timelines``: as of ``tree`` already (recorded by the replay), else read;
    ``predrawn``: pid -> its files, drawn already (by the halves of a split replay);
    ``followers``: playlists whose followers chart alone is drawn (``followers_written``).
    """
    asked = wanted = list(pids)
    followers = list(followers)
    if not wanted and not followers:
        return {}
    if timelines is None:
        timelines = timeline_read.update(store)
    zone = get_timezone(timezone)
    out: dict[str, bytes | C] = {}
    ready: Mapping[str, Mapping[str, C]] = predrawn or {}
    for pid in wanted:
        if pid in ready:
            out.update(ready[pid])
    wanted = [pid for pid in wanted if pid not in ready]
    timelines.preload(wanted)
    draw = _Drawer(store.repo.path, str(tree.id) if tree is not None else None, timelines.get,
                   zone, gaps or {})
    # From PARALLEL_MIN_PICTURES, half in a forked process, which has the timelines by the fork.
    halved = len(wanted) >= PARALLEL_MIN_PICTURES and two_cores()
    for _, drawn in in_halves(wanted, draw, str) if halved else draw(wanted):
        out.update(drawn)
    if followers:  # those with a timeline, as the charts drawn with the views
        reader = _tree_reader(os.getpid(), store.repo.path, draw.tree)
        for pid in followers:
            if pid in timelines.pids:
                out[chart_paths(pid)["followers"]] = followers_chart.followers_svg(
                    followers_of(reader, pid), zone)
    if asked:  # not when only followers charts are drawn: the archive's feed is the same
        out[feeds.ARCHIVE_FEED] = feeds.archive_feed(timelines.recent_changes())
    if compare_with is None:
        return dict(out)
    return {path: out[path] for path in differing(store, compare_with, out)}


PARALLEL_MIN_PICTURES = 200  # this many playlists' pictures are drawn on both cores


class _Drawer:
    """Draws playlists' charts and feeds; usable in a forked child (opens its own repository)."""

    def __init__(self, git_dir: str, tree: str | None, lookup: Callable[[str], Timeline | None],
                 zone: tzinfo, gaps: Mapping[str, Gaps]) -> None:
        self.git_dir, self.tree = git_dir, tree
        self.lookup, self.zone, self.gaps = lookup, zone, gaps

    def __call__(self, pids: Iterable[str]) -> Iterator[tuple[str, dict[str, bytes]]]:
        """(pid, its files) for each of ``pids`` that has a timeline."""
        reader = _tree_reader(os.getpid(), self.git_dir, self.tree)
        for pid in pids:
            found = self.lookup(pid)
            if found is None:
                continue
            drawn = render_charts(found, followers_of(reader, pid), self.zone,
                                  self.gaps.get(pid, ()))
            drawn[feeds.feed_path(pid)] = feeds.playlist_feed(found)
            yield pid, drawn


@functools.lru_cache(maxsize=4)
def _tree_reader(process: int, git_dir: str, tree: str | None) -> TreeReader:
    """One reader per process and tree (a forked half draws its pictures piece by piece)."""
    repo = process_repository(git_dir)
    return TreeReader(repo, tree_at(repo, tree) if tree else None)


def drawer(git_dir: str, timezone: str | None) -> DrawFn:
    """Draws playlists' pictures from their timelines (for each half of a split replay)."""
    zone = get_timezone(timezone)

    def draw(lookup: Callable[[str], Timeline | None], pids: list[str], state: HistoryState,
             tree: str) -> dict[str, dict[str, bytes]]:
        with collector.paused():  # many short-lived objects, no cycle (as the views)
            return dict(_Drawer(git_dir, tree, lookup, zone, fetch_gaps(state, pids))(pids))

    return draw


def differing(store: Store, tree: pygit2.Tree | None, files: Mapping[str, Content | None]
              ) -> list[str]:
    """The paths of ``files`` whose content ``tree`` does not already hold, sorted."""
    old = TreeReader(store.repo, tree)
    return sorted(path for path, content in files.items()
                  if content is None or old.blob_id(path) != content_id(content))
