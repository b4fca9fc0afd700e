"""One archiver run: registry -> Spotify client -> model -> render -> one git commit.

A playlist that fails keeps its registry entry and its earlier files exactly as
they were; the others go on. Nothing is committed when nothing changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

import pygit2

from gitarchive import collector, exitcodes
from gitarchive.archive import layout, registry, render, runrecord, settings
from gitarchive.archive.index import (
    PreviousSnapshot,
    archive_names,
    index_file,
    previous_snapshot,
    shown_name,
)
from gitarchive.archive.model import Playlist, Track
from gitarchive.errors import CredentialsError, NothingToFetch, SpotifyError
from gitarchive.git.identity import commit_time
from gitarchive.git.store import Store, TreeReader, tree_at
from gitarchive.ops import health, lastrun, rendered, requesthalf, snapfiles
from gitarchive.ops.shard import Shard
from gitarchive.progress import ProgressFn, no_progress
from gitarchive.spotify.parse import FetchResult


class PlaylistSource(Protocol):
    """What a run needs of the Spotify client (a stand-in in tests and the demo)."""

    def get_playlist(self, pid: str) -> FetchResult: ...


@dataclass
class Outcome:
    """What happened to one playlist in a run."""

    pid: str
    name: str = ""
    error: str | None = None
    changed: bool = False
    new: bool = False
    added: int = 0
    removed: int = 0
    renamed_from: str | None = None
    reordered: bool = False
    skipped: list[str] = field(default_factory=list)
    emptied_from: int | None = None  # fetched empty; the previous snapshot had this many

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class FetchReport:
    """The result of a run, for the summary line, the exit code and the tests."""

    outcomes: list[Outcome]
    commit: str | None = None
    problems: list[str] = field(default_factory=list)  # malformed registry files etc.
    record: runrecord.RunRecord | None = None  # in the commit, else in the local run log
    registered: int = 0  # playlists registered, whether or not this run selected them

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def changed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.changed]

    @property
    def emptied(self) -> list[Outcome]:
        """Playlists that came back empty where the last snapshot had tracks (archived)."""
        return [o for o in self.outcomes if o.emptied_from is not None]

    @property
    def exit_code(self) -> int:
        """A malformed registry file counts as a playlist that failed: never a silent skip."""
        failures = len(self.failed) + len(self.problems)
        if not self.outcomes and not self.problems:
            return exitcodes.OK
        if failures == len(self.outcomes) + len(self.problems):
            return exitcodes.NOTHING_FETCHED
        return exitcodes.PARTIAL if failures else exitcodes.OK


def fetch(
    store: Store,
    client: PlaylistSource,
    *,
    only: Iterable[str] = (),
    shard: Shard | None = None,
    cumulative: bool = True,
    when: tuple[int, int] | None = None,
    on_playlist: Callable[[Outcome], None] | None = None,
    progress: ProgressFn = no_progress,
    jobs: int = 4,
) -> FetchReport:
    """Fetch registered playlists and commit every changed file in one commit.

    Raises CredentialsError before anything is written when Spotify refuses the
    app's credentials: no playlist could be fetched by any retry of this run.
    ``jobs`` playlists are fetched at once. The garbage collector is paused meanwhile
    (see gitarchive.collector).
    """
    with collector.paused():  # ~1M objects live till the end, none in a cycle
        store.recover()  # a run killed mid-commit: its files back first, even if nothing changes
        when = when or commit_time()
        only = tuple(only)
        entries, bad_entries = registry.load(store)
        wanted = _select(entries, only, shard)
        unusable = registry.unusable(bad_entries)
        head = store.reader()
        requests = requesthalf.Requests(client, wanted, jobs)  # forks: before any thread
        before = lastrun.start(store, list(entries), wanted)  # so does this
        pool = ThreadPoolExecutor(max_workers=requests.jobs)
        futures = requests.submit(pool, wanted)
        try:  # while Spotify answers: read the last snapshots, render what has come
            files = _Files(head, entries, before, when, store, unusable)
            outcomes = _collect(wanted, futures, progress, on_playlist, files)
        except BaseException:
            # Not waiting for the requests still out: a stopped run would wait up to
            # the client's timeout (30 s) for answers it will never use.
            pool.shutdown(wait=False, cancel_futures=True)
            for future in futures:
                future.cancel()
            before.close()
            requests.close()
            raise
        pool.shutdown()
        requests.close()
        changes = files.finish(outcomes)
        report = FetchReport(outcomes, problems=[f"{p.path}: {p.reason}" for p in bad_entries],
                             registered=len(entries))
        everything = not only and shard is None  # its record's * is every file in registry/:
        failed = {o.pid: o.error for o in outcomes if o.error is not None}  # so not unusable
        report.record = runrecord.make(
            wanted, everything=everything, failed=unusable | failed if everything else failed,
            emptied={o.pid: o.emptied_from for o in outcomes if o.emptied_from is not None},
        )
        if changes and files.fetched:
            report.commit = _commit(store, changes, outcomes, when, cumulative, report.record,
                                    files.contents, files.alike, files.repeated)
        if files.fetched:
            rendered.save(store, files.last, files.made, entries)
        if report.commit is None and outcomes:  # no commit to hold the record: the local log
            parent = store.head()
            health.remember(store, when[0], str(parent.id) if parent else None, report.record)
        return report


def _collect(
    wanted: list[str],
    futures: list[Future[FetchResult]],
    progress: ProgressFn,
    on_playlist: Callable[[Outcome], None] | None,
    files: _Files,
) -> list[Outcome]:
    """Each playlist's answer, in registry order; then the files of all that came.

    Requests overlap (Spotify's latency dominates a real run). The files are rendered
    once every answer is in: rendering while the requests are still out made both
    slower, the request threads and the rendering taking turns with the GIL. A
    failure is recorded in its Outcome.
    """
    outcomes: list[Outcome] = []
    fetched: list[tuple[Outcome, FetchResult]] = []
    for pid, future in progress("Fetching", list(zip(wanted, futures, strict=True))):
        alias = files.entries[pid].alias
        outcome = Outcome(pid, name=shown_name(alias, files.before.snapshot(pid)) or pid)
        try:
            result = future.result()
        except CredentialsError:
            raise
        except SpotifyError as exc:
            outcome.error = str(exc)
        else:
            outcome.skipped = list(result.skipped)
        outcomes.append(outcome)
        if on_playlist is not None:
            on_playlist(outcome)
        if outcome.ok:
            fetched.append((outcome, result))
    for outcome, result in fetched:
        files.add(outcome, result.playlist, result.tracks_print)
    return outcomes


class _Files:
    """The files of a run: each fetched playlist's, then the index.

    The names made unique across the archive (`` (2)``...) are known once every
    answer is in; each playlist is rendered then, once, under its final name.
    """

    def __init__(self, head: TreeReader, entries: Mapping[str, layout.RegistryEntry],
                 before: lastrun.Reading, when: tuple[int, int],
                 store: Store, unusable: Collection[str] = ()) -> None:
        self.head, self.entries, self.before = head, entries, before
        self.unusable = unusable  # playlists whose registry file cannot be read
        self.previous: Mapping[str, PreviousSnapshot | None] = {}  # all of them, at the end
        self.day = datetime.fromtimestamp(when[0], UTC).strftime("%Y-%m-%d")
        self.base = settings.githistory_base(store)
        self.newline = settings.final_newline(store)
        self.fetched: dict[str, Playlist] = {}  # pid -> snapshot (as rendered, after finish)
        self.outcomes: dict[str, Outcome] = {}
        self.changed: dict[str, dict[str, bytes]] = {}  # pid -> its files that differ from head
        self.contents: dict[str, bytes] = {}  # JSON snapshot blob id -> its file
        self.alike: dict[str, str] = {}  # and -> HEAD's, when equal but for the followers
        self.repeated: set[str] = set()  # pids whose follower count only repeats (Made)
        self.last = rendered.load(store, head, self.base, self.newline)
        self.made: dict[str, rendered.Entry | None] = {}  # pid -> what the record keeps
        self.same_tracks: set[str] = set()  # pids whose tracks are HEAD's, as recorded

    def add(self, outcome: Outcome, raw: Playlist, tracks_print: str | None) -> None:
        """A fetched playlist, under its alias or Spotify name until ``finish`` names it
        (``tracks_print``: its tracks' print, as the parse of the answer made it)."""
        entry = self.entries[outcome.pid]
        self.fetched[outcome.pid] = replace(raw, unique_name=entry.alias or raw.original_name)
        self.outcomes[outcome.pid] = outcome
        if tracks_print is not None:  # else the render makes it, if it can
            self.last.given(outcome.pid, raw.tracks, tracks_print)

    def _keep(self, snapshot: Playlist, made: snapfiles.Made) -> None:
        """A playlist rendered under its final name: its files that differ from head
        (by their blob ids, hashed as they were rendered)."""
        pid = snapshot.id
        ids = {path: pygit2.Oid(raw=raw) for path, raw in made.ids.items()}
        json_path = layout.pretty_json_path(pid)
        self.contents[str(ids[json_path])] = made.files[json_path]
        if made.alike is not None:
            self.alike[str(ids[json_path])] = made.alike
        self.fetched[pid] = snapshot
        self.changed[pid] = {path: made.files[path] for path, oid in ids.items()
                             if self.head.blob_id(path) != oid}
        self.made[pid] = made.entry
        if made.same_tracks:
            self.same_tracks.add(pid)
        if made.repeats:
            self.repeated.add(pid)

    def finish(self, outcomes: list[Outcome]) -> dict[str, bytes | None]:
        """The files that differ from ``head`` (snapshots and the index); fills in each
        Outcome."""
        self.previous = self.before.finish().snapshots
        latest = {pid: self.fetched.get(pid) or self.previous[pid] for pid in self.entries}
        entries = dict(self.entries)
        for pid in self.unusable:  # the index keeps it, as last shown, till its file is mended
            if (kept := previous_snapshot(self.head, pid)) is not None:
                latest[pid], entries[pid] = kept, layout.RegistryEntry(pid, kept.name)
        known = {pid: snap for pid, snap in latest.items() if snap is not None}
        names = archive_names(entries, known)
        final = [replace(snap, unique_name=names[pid]) for pid, snap in self.fetched.items()]
        followers = {snap.id: self.before.followers(snap.id) for snap in final}
        totals = {snap.id: render.total_length(snap.tracks) for snap in final}  # before a fork
        made = snapfiles.render_all(final, lambda snap: snapfiles.snapshot_files(
            snap, followers[snap.id], self.day, self.base, self.newline, self.last,
            totals[snap.id]), self.last.likely)
        for snapshot in final:
            self._keep(snapshot, made[snapshot.id])
        changes: dict[str, bytes | None] = {}
        for pid, snapshot in self.fetched.items():
            changes.update(self.changed[pid])
            _describe(self.outcomes[pid], snapshot, self.previous[pid],
                      pid in self.same_tracks)
        index = index_file({pid: self.fetched.get(pid) or snap for pid, snap in known.items()},
                           names)
        if not self.head.same(layout.INDEX, index):
            changes[layout.INDEX] = index
        for outcome in outcomes:
            outcome.changed = outcome.ok and any(
                path in changes for path in layout.snapshot_paths(outcome.pid)
            )
        return changes


def _commit(
    store: Store,
    changes: dict[str, bytes | None],
    outcomes: list[Outcome],
    when: tuple[int, int],
    cumulative: bool,
    record: runrecord.RunRecord,
    contents: Mapping[str, bytes],
    alike: Mapping[str, str],
    repeated: Collection[str],
) -> str | None:
    """One commit of ``changes`` (with the cumulative views that change, if asked);
    ``contents``: the new JSON snapshots' files by blob id; ``alike``: of those, the ones
    equal to HEAD's but for the follower count, and HEAD's blob id; ``repeated``: the
    playlists whose follower count only repeats (their followers chart stays)."""
    pending = None
    tree = None
    parent = store.head()
    if cumulative:
        from gitarchive.history.pending import pending_views

        # Written once: the views are computed on this tree, and it is what is committed.
        tree = store.write_tree(parent.tree if parent is not None else None, changes)
        views, pending = pending_views(
            store, tree, when, githistory_base=settings.githistory_base(store),
            record=record, contents=contents, alike=alike, repeated=repeated,
        )
        if views:
            tree = store.write_tree(tree_at(store.repo, tree), views)
        changes.update(views)
    oid = store.commit(
        changes, commit_message(outcomes, record), when=when, tree=tree, parent=parent or True
    )
    if oid is None:
        return None
    if pending is not None:
        pending.save(oid)
    return str(oid)


def _select(
    entries: dict[str, layout.RegistryEntry], only: Iterable[str], shard: Shard | None = None
) -> list[str]:
    chosen = [layout.parse_playlist_ref(ref) for ref in only]
    missing = [pid for pid in chosen if pid not in entries]
    if missing:
        raise NothingToFetch(
            f"not registered: {', '.join(missing)}; register with 'gitarchive add' first"
        )
    wanted = list(dict.fromkeys(chosen)) if chosen else sorted(entries)
    return [pid for pid in wanted if shard is None or shard.holds(pid)]


def _describe(outcome: Outcome, snapshot: Playlist, previous: PreviousSnapshot | None,
              same_tracks: bool = False) -> None:
    """``same_tracks``: ``previous`` is known to hold these very tracks (no counting)."""
    outcome.name = snapshot.name
    outcome.new = previous is None
    if previous is None:
        outcome.added = len(snapshot.tracks)
        return
    if previous.name != snapshot.name:
        outcome.renamed_from = previous.name
    if same_tracks:
        return
    new_keys = [_key(t) for t in snapshot.tracks]
    if previous.track_count and not snapshot.tracks:
        outcome.emptied_from = previous.track_count
    if list(previous.track_keys) == new_keys:  # most playlists, most days: no counting
        return
    before, after = Counter(previous.track_keys), Counter(new_keys)
    outcome.added = sum((after - before).values())
    outcome.removed = sum((before - after).values())
    outcome.reordered = before == after


def _key(track: Track) -> str:
    """``track.key``, with its usual case (a Spotify URL) taken first: 100,000 a run."""
    return (track.url.rstrip("/").rsplit("/", 1)[-1] if track.url else "") or track.key


def commit_message(outcomes: list[Outcome], record: runrecord.RunRecord | None = None) -> str:
    """First line: how many playlists changed and tracks moved; then one line each;
    then the run's record as trailers (what was fetched, what failed and why)."""
    changed = [o for o in outcomes if o.changed]
    added = sum(o.added for o in changed)
    removed = sum(o.removed for o in changed)
    if changed:
        subject = (
            f"Update {render.plural(len(changed), 'playlist')}: "
            f"+{added} -{removed} {'track' if added + removed == 1 else 'tracks'}"
        )
    else:
        subject = "Update archive index"
    lines = [subject, ""]
    for o in changed:
        detail = "new playlist" if o.new else f"+{o.added} -{o.removed}"
        if o.reordered:
            detail += ", reordered"
        if o.renamed_from is not None:
            detail += f", renamed from {o.renamed_from!r}"
        if o.emptied_from is not None:
            detail += f", EMPTY (had {render.plural(o.emptied_from, 'track')})"
        lines.append(f"- {render.one_line(o.name)} ({o.pid}): {detail}")
    failed = [o for o in outcomes if not o.ok]
    if failed:
        lines.append("")
        lines.append(f"Not fetched ({len(failed)}): " + ", ".join(o.pid for o in failed))
    if record is not None:
        lines += ["", record.trailers()]
    return "\n".join(lines).rstrip() + "\n"
