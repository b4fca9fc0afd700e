"""Which source commits to import: a walk of the source's new history, newest first.

A commit matters when it writes a new version of a followed playlist, or when it is
a run of the source's archiver whose observation moves a date (see ``plan_import``).
``Reader`` gives a playlist's four snapshot files (their blob ids) in any tree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import pygit2

from gitarchive.archive import layout, registry
from gitarchive.git.store import Store, tree_at
from gitarchive.history.events import KIND_FOLLOWERS, KIND_JSON, KIND_PLAIN, EventReader
from gitarchive.ops.follow.sources import ALL, Source, load_sources, load_state
from gitarchive.progress import ProgressFn, no_progress

# The snapshot files of a playlist, in a fixed order: (directory under playlists/, name).
FILES: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("plain", lambda pid: pid),
    ("pretty", lambda pid: f"{pid}.json"),
    ("pretty", lambda pid: f"{pid}.md"),
    ("followers", lambda pid: f"{pid}.json"),
)

# A version of a playlist: the blob ids of its four files (None: absent).
Blobs = tuple[pygit2.Oid | None, pygit2.Oid | None, pygit2.Oid | None, pygit2.Oid | None]


class Reader:
    """Blob ids of a playlist's four files in a commit's tree (directories cached by id)."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.events = EventReader(repo)
        self._present: dict[tuple[pygit2.Oid | None, pygit2.Oid | None], frozenset[str]] = {}

    def dirs(self, tree: pygit2.Tree) -> dict[str, pygit2.Tree | None]:
        found = self.events.snapshot_dirs(tree)
        return {"plain": found[KIND_PLAIN], "pretty": found[KIND_JSON],
                "followers": found[KIND_FOLLOWERS]}

    @staticmethod
    def blobs(dirs: dict[str, pygit2.Tree | None], pid: str) -> Blobs:
        out: list[pygit2.Oid | None] = []
        for directory, name in FILES:
            tree = dirs[directory]
            oid = None
            if tree is not None:
                try:
                    entry = tree[name(pid)]
                except KeyError:
                    entry = None
                if entry is not None and entry.type_str == "blob":
                    oid = entry.id
            out.append(oid)
        return out[0], out[1], out[2], out[3]

    def present(self, dirs: dict[str, pygit2.Tree | None]) -> frozenset[str]:
        """Every playlist with a snapshot (JSON or plain) in a tree (for --all)."""
        plain, pretty = dirs["plain"], dirs["pretty"]
        key = (plain.id if plain is not None else None, pretty.id if pretty is not None else None)
        found = self._present.get(key)
        if found is None:
            found = self._present[key] = frozenset(pids_in(dirs))
        return found


@dataclass
class Version:
    """What one source commit brings: new versions of followed playlists, observations."""

    commit: pygit2.Commit
    files: dict[str, Blobs]  # pid -> its four files, where the commit changed them
    observed: set[str]  # followed playlists this commit, if a run, observes
    known_run: bool | None  # None: not compared yet (see ``run``)
    reader: Reader = field(repr=False, compare=False)  # to compare trees, if asked

    @property
    def run(self) -> bool:
        """Whether it writes a snapshot file: a run of the source's archiver.

        Asked only of the few commits whose answer matters (see ``_needed``): the
        tree comparison it may take costs as much as finding the versions.
        """
        if self.known_run is None:
            self.known_run = _is_run(self.reader, self.commit)
        return self.known_run


@dataclass
class Plan:
    """What an update would import, and why some versions were left out."""

    versions: list[Version]
    rewritten: bool = False
    skipped_local: list[tuple[str, str]] = field(default_factory=list)  # (pid, day)
    walked: int = 0


def plan_import(
    store: Store,
    source: Source,
    tip: pygit2.Commit,
    *,
    since: int | None,
    local_days: dict[str, set[str]],
    day_of: Callable[[int], str],
    progress: ProgressFn = no_progress,
) -> Plan:
    """The source commits after the last update that matter here, in the replay's order.

    A commit matters when it changed a followed playlist's files (a new version) or
    when it is a run of the source's archiver that observes a followed playlist
    just before a new version of it, or last: the cumulative views count every run
    (a removed track's last_seen is the last run before its removal), so such a run
    is imported too, as a commit that writes no playlist file (see _SideTree).
    """
    repo = store.repo
    state = load_state(store, source.name)
    covered = state.get("covered")
    wanted = ALL if source.playlists is None else sorted(source.playlists)
    hide: pygit2.Oid | None = None
    rewritten = False
    last = state.get("last")
    last_oid = pygit2.Oid(hex=last) if isinstance(last, str) and len(last) == 40 else None
    if last_oid is not None and last_oid in repo:
        if tip.id == last_oid or repo.descendant_of(tip.id, last_oid):
            hide = last_oid
        else:
            rewritten = True
            hide = repo.merge_base(tip.id, last_oid)
    if covered != wanted and not (isinstance(covered, list) and isinstance(wanted, list)
                                  and set(wanted) <= set(covered)):
        hide = None  # a playlist newly followed: its whole history is new
    walker = repo.walk(tip.id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    if hide is not None:
        walker.hide(hide)
    commits = list(walker)
    reader = Reader(repo)
    gens: dict[pygit2.Oid, int] = {}
    marks = source.imported
    found: list[tuple[tuple[int, int, str], Version]] = []
    plan = Plan([], rewritten=rewritten, walked=len(commits))
    for commit in commits:
        gens[commit.id] = 1 + max((gens.get(p, 0) for p in commit.parent_ids), default=0)
    # Newest first: a packed source stores old trees as deltas on newer ones, and
    # libgit2's delta-base cache is small; this order reads each base before the
    # trees built on it (about twice as fast on a year of daily commits).
    for commit in progress(f"Reading {source.name}", commits[::-1]):
        when = commit.commit_time
        if since is not None and when < since:
            continue
        version = _version(reader, source, commit)
        day = day_of(when) if local_days else ""  # a day matters only against local runs
        for pid in list(version.files):
            if when <= marks.get(pid, -1):
                del version.files[pid]
            elif day in local_days.get(pid, ()):
                plan.skipped_local.append((pid, day))
                del version.files[pid]
        version.observed = {
            pid for pid in version.observed
            if when > marks.get(pid, -1) and day not in local_days.get(pid, ())
        }
        if version.files or version.observed:  # a run or not: asked later, if at all
            found.append(((when, gens[commit.id], str(commit.id)), version))
    found.sort(key=lambda item: item[0])
    _first_versions(reader, found, marks)
    plan.versions = _needed([v for _, v in found])
    return plan


def _needed(versions: list[Version]) -> list[Version]:
    """Leave out the runs that change no date.

    A run that finds a playlist unchanged only moves its latest observation; that
    matters as the last run before its next version (a removed track's last_seen)
    and as the latest run of all. Importing just those gives the same cumulative
    views as every run, at a tenth of the commits in a year of daily runs. Walked
    newest first, so whether a commit is a run is asked only until each stretch
    between two versions of a playlist has its latest run.
    """
    keep = [bool(v.files) for v in versions]
    done: set[str] = set()  # playlists whose latest run in the current stretch is known
    for i in range(len(versions) - 1, -1, -1):
        version = versions[i]
        rest = version.observed - set(version.files) - done
        if rest and version.run:
            keep[i] = True
            done |= rest
        done -= set(version.files)  # older commits: the stretch before this version
    return [v for v, wanted in zip(versions, keep, strict=True) if wanted]


def _first_versions(
    reader: Reader, found: list[tuple[tuple[int, int, str], Version]], marks: dict[str, int]
) -> None:
    """A playlist not imported yet starts with its files as of its first imported commit.

    With --since or --depth (or a source that stopped following it a while), the
    walk may begin after the version then current was written.
    """
    started = set(marks)
    for _, version in found:
        fresh = (set(version.files) | version.observed) - started
        if fresh and (version.files or version.run):
            dirs = reader.dirs(version.commit.tree)
            for pid in fresh:
                if pid not in version.files:
                    blobs = reader.blobs(dirs, pid)
                    if blobs[0] is not None or blobs[1] is not None:
                        version.files[pid] = blobs
            started |= fresh


def _version(reader: Reader, source: Source, commit: pygit2.Commit) -> Version:
    """The followed playlists whose files the commit itself changed (differ from every
    parent), whether it is a run, and which followed playlists a run would observe."""
    dirs = reader.dirs(commit.tree)
    parent_dirs = [reader.dirs(p.tree) for p in commit.parents]
    own = None
    if source.playlists is None:
        own = reader.events.own_writes(commit)
        candidates: Iterable[str] = {w.pid for w in own if layout.is_playlist_id(w.pid)}
    else:
        candidates = source.playlists
    files: dict[str, Blobs] = {}
    for pid in candidates:
        now = reader.blobs(dirs, pid)
        if not parent_dirs:
            if any(b is not None for b in now):
                files[pid] = now
        elif all(reader.blobs(p, pid) != now for p in parent_dirs):
            files[pid] = now
    run: bool | None = any(
        b is not None for blobs in files.values() for b in (blobs[0], blobs[1], blobs[3])
    )
    if not run:
        run = any(w.blob is not None for w in own) if own is not None else None
    registered = reader.events.registry(commit.tree)
    if source.playlists is None:
        present = reader.present(dirs)
        observed = set(present if registered is None else present & registered)
    else:
        observed = {
            pid for pid in source.playlists
            if (
                pid in registered if registered is not None
                else any(b is not None for b in reader.blobs(dirs, pid)[:2])
            )
        }
    return Version(commit, files, observed, run, reader)


def _is_run(reader: Reader, commit: pygit2.Commit) -> bool:
    """Whether a commit wrote (not only deleted) a snapshot file, as the replay counts."""
    if len(commit.parents) != 1:
        return any(w.blob is not None for w in reader.events.own_writes(commit))
    return writes_a_snapshot(reader.events.repo, commit.parents[0], commit)


_DELETED = pygit2.enums.DeltaStatus.DELETED.value


def writes_a_snapshot(
    repo: pygit2.Repository, parent: pygit2.Commit, commit: pygit2.Commit
) -> bool:
    """Whether a one-parent commit wrote (not only deleted) a snapshot file, as the
    replay counts runs (history_events): a directory is read only when its id
    changed, and the comparison stops at the first such file, so a busy archive's
    commit costs one or two directories, not a walk over all it changed."""
    before, after = _dir_ids(repo, parent.tree), _dir_ids(repo, commit.tree)
    for directory in ("plain", "followers", "pretty"):
        old, new = before.get(directory), after.get(directory)
        if new is None or old == new:
            continue
        new_tree = tree_at(repo, new)
        diff = (tree_at(repo, old).diff_to_tree(new_tree) if old is not None
                else new_tree.diff_to_tree(swap=True))
        for delta in diff.deltas:
            if int(delta.status) == _DELETED:
                continue
            name = delta.new_file.path
            if "/" in name:
                continue
            if directory == "plain" or (name.endswith(".json") and len(name) > 5):
                return True
    return False


def _dir_ids(repo: pygit2.Repository, tree: pygit2.Tree) -> dict[str, pygit2.Oid]:
    """The ids of the snapshot directories (plain, pretty, followers) in a root tree."""
    try:
        root = tree[layout.ROOT]
    except KeyError:
        return {}
    if root.type_str != "tree":
        return {}
    return {e.name: e.id for e in tree_at(repo, root.id)
            if e.name in ("plain", "pretty", "followers") and e.type_str == "tree"}


# ------------------------------------------------------------------ importing

def local_run_days(
    store: Store, ours: pygit2.Commit, source: Source, zone: tzinfo
) -> dict[str, set[str]]:
    """Days on which a run of this archive itself observed a followed playlist it fetches
    (a run with the playlist registered: it had a snapshot of it that day)."""
    local = set(registry.load(store)[0])
    pids = [pid for pid in local if source.follows(pid)]
    if not pids:
        return {}
    # Versions no newer than what was imported are left out anyway: days before the
    # oldest such mark (less two days, for time zones) need not be looked at.
    marks = [source.imported.get(pid) for pid in pids]
    bound = None if None in marks else min(m for m in marks if m is not None) - 2 * 86_400
    repo = store.repo
    walker = repo.walk(ours.id, pygit2.enums.SortMode.TIME)
    for other in load_sources(store).values():
        if other.side and pygit2.Oid(hex=other.side) in repo:
            walker.hide(pygit2.Oid(hex=other.side))
    reader = Reader(repo)
    days: dict[str, set[str]] = {}
    for commit in walker:
        if bound is not None and commit.commit_time < bound:
            break
        registered = reader.events.registry(commit.tree)
        seen = [pid for pid in pids if registered is None or pid in registered]
        if not seen:
            continue
        run = _is_run(reader, commit)
        if run:
            day = datetime.fromtimestamp(commit.commit_time, zone).strftime("%Y-%m-%d")
            for pid in seen:
                days.setdefault(pid, set()).add(day)
    return days


def pids_in(dirs: dict[str, pygit2.Tree | None]) -> Iterator[str]:
    """Every playlist with a snapshot (pretty JSON or plain) in these directories."""
    pretty, plain = dirs["pretty"], dirs["plain"]
    if pretty is not None:
        for entry in pretty:
            if entry.name is not None and entry.name.endswith(".json"):
                yield entry.name[: -len(".json")]
    if plain is not None:
        for entry in plain:
            if entry.name is not None:
                yield entry.name
