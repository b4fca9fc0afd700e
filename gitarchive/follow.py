"""Following other archives: their playlists' history imported as commits of this archive.

A *source* is another archive repository (a URL or a local path, in
spotify-playlist-archive's layout or ours) and the playlists followed in it. Its
definition is committed (``playlists/follow/<name>.json``), so every clone knows.

An update fetches the source's HEAD into ``refs/gitarchive/follow/<name>`` (pygit2;
later fetches transfer only what is new), walks the source commits not seen yet,
and copies each new version of each followed playlist's snapshot files (plain,
pretty JSON and markdown, followers) into a commit of its own that carries the
source commit's author and committer (so its dates). Those commits form a side
history, whose trees hold only the followed playlists' files and a registry of
exactly the followed playlists the source had registered then; one merge commit
per update brings its files into the archive branch. The replay of the
cumulative views then needs no special case: an imported commit is a run at the
source's time that observes only the followed playlists, and the merge commit
writes nothing of its own (every snapshot path equals one of its parents).

Idempotence: the newest imported version's time per playlist is committed with
the definition, and a version is imported only when newer and when its blobs
differ from what the side history already holds. A source whose history was
rewritten (force-push) is detected (the last seen tip is no ancestor of the new
one); nothing imported is touched, and the import continues from what is still
reachable. A playlist this archive also fetches itself keeps its own files, and
on a day it has a snapshot of its own, the source's version of that day is not
imported: the local snapshot wins.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pygit2

from gitarchive import layout, packwriter, registry, settings
from gitarchive.history_events import KIND_FOLLOWERS, KIND_JSON, KIND_PLAIN, EventReader
from gitarchive.history_replay import ParseCache, parse_json_snapshot, parse_plain_snapshot
from gitarchive.model import SnapshotError, dump_json
from gitarchive.progress import SILENT, Progress
from gitarchive.secrets import redact
from gitarchive.store import Store, StoreError, commit_time, parse_git_date, signature

FOLLOW_DIR = f"{layout.ROOT}/follow"
REF_PREFIX = "refs/gitarchive/follow/"
ALL = "all"

# The snapshot files of a playlist, in a fixed order: (directory under playlists/, name).
_FILES: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("plain", lambda pid: pid),
    ("pretty", lambda pid: f"{pid}.json"),
    ("pretty", lambda pid: f"{pid}.md"),
    ("followers", lambda pid: f"{pid}.json"),
)
_KIND_OF_DIR = {"plain": KIND_PLAIN, "pretty": KIND_JSON, "followers": KIND_FOLLOWERS}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_PASSWORD_IN_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", re.IGNORECASE)

# A version of a playlist: the blob ids of its four files (None: absent).
Blobs = tuple[pygit2.Oid | None, pygit2.Oid | None, pygit2.Oid | None, pygit2.Oid | None]


class FollowError(StoreError):
    """A source cannot be followed or updated as asked (one sentence; nothing lost)."""


def follow_path(name: str) -> str:
    return f"{FOLLOW_DIR}/{name}.json"


# ------------------------------------------------------------------ definitions


@dataclass
class Source:
    """A followed archive, as committed in ``playlists/follow/<name>.json``."""

    name: str
    url: str
    playlists: tuple[str, ...] | None  # None: every playlist of the source (--all)
    since: int | None = None  # versions older than this are never imported
    imported: dict[str, int] = field(default_factory=dict)  # pid -> newest imported version
    side: str | None = None  # tip of the imported side history

    @property
    def ref(self) -> str:
        return f"{REF_PREFIX}{self.name}"

    def follows(self, pid: str) -> bool:
        return self.playlists is None or pid in self.playlists

    def to_bytes(self) -> bytes:
        data = {
            "url": self.url,
            "playlists": ALL if self.playlists is None else sorted(self.playlists),
            "since": self.since,
            "imported": dict(sorted(self.imported.items())),
            "side": self.side,
        }
        return dump_json(data).encode()

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> Source:
        """Parse a definition; raises ValueError naming what is wrong."""
        try:
            raw = json.loads(data)
            url = raw["url"]
            playlists = raw["playlists"]
            if not isinstance(url, str) or not url:
                raise ValueError("no url")
            if playlists != ALL and not (
                isinstance(playlists, list) and all(layout.is_playlist_id(p) for p in playlists)
            ):
                raise ValueError("playlists must be a list of playlist IDs or \"all\"")
            imported = {str(k): int(v) for k, v in (raw.get("imported") or {}).items()}
            since = raw.get("since")
            side = raw.get("side")
            return cls(
                name, url, None if playlists == ALL else tuple(playlists),
                int(since) if since is not None else None, imported,
                str(side) if side else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{follow_path(name)} is not a follow definition: {exc}") from exc


def load_sources(store: Store, commit: pygit2.Commit | None = None) -> dict[str, Source]:
    """Every source defined at a commit (HEAD by default); a malformed one is an error."""
    reader = store.reader(commit)
    sources = {}
    for filename, oid in sorted(reader.listing(FOLLOW_DIR).items()):
        if filename.endswith(".json"):
            name = filename[: -len(".json")]
            try:
                sources[name] = Source.from_bytes(name, store.blob(oid))
            except ValueError as exc:
                raise FollowError(f"{exc}; fix or remove the file") from exc
    return sources


def normalise_url(text: str) -> str:
    """A local path made absolute; URLs kept. Credentials in a URL are refused."""
    raw = text.strip()
    if not raw:
        raise FollowError("the source is empty: give a git URL or the path of an archive")
    if _PASSWORD_IN_URL.match(raw):
        raise FollowError(
            "the source URL contains a password; remove it and set GITARCHIVE_GIT_TOKEN "
            "(or use an SSH agent) instead, so it is never committed"
        )
    if "://" in raw or re.match(r"^[^/]+@[^/]+:", raw):
        return raw
    path = Path(raw).expanduser()
    if not path.exists():
        raise FollowError(f"{raw} is neither a URL nor an existing directory")
    return str(path.resolve())


def default_name(url: str) -> str:
    """A source name from its URL: the last path segment without ``.git``."""
    tail = re.split(r"[/:]", url.rstrip("/"))[-1]
    tail = tail.removesuffix(".git")
    if tail in ("", "."):
        tail = "source"
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", tail).strip("-.") or "source"
    return cleaned[:64]


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise FollowError(
            f"'{name}' cannot name a source: use letters, digits, '.', '_' or '-' (at most 64)"
        )
    return name


def parse_since(text: str) -> int:
    """``--since DATE``: YYYY-MM-DD (midnight UTC) or any date git accepts."""
    raw = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raw += "T00:00:00+00:00"
    try:
        return parse_git_date(raw)[0]
    except StoreError as exc:
        raise FollowError(f"--since: cannot understand the date '{text}'") from exc


# ------------------------------------------------------------- local state


def _state_path(store: Store, name: str) -> Path:
    return store.git_dir / "gitarchive" / "follow" / f"{name}.json"


def _load_state(store: Store, name: str) -> dict:
    try:
        data = json.loads(_state_path(store, name).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_state(store: Store, name: str, data: dict) -> None:
    path = _state_path(store, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True) + "\n")
    os.replace(tmp, path)


# ------------------------------------------------------------------ fetching


class _FetchCallbacks(pygit2.RemoteCallbacks):
    """Credentials from the environment (as for --push) and a progress bar of objects."""

    def __init__(self, progress: Progress) -> None:
        from gitarchive.push import Credentials

        super().__init__()
        self._credentials = Credentials()
        self._progress = progress
        self._seen = 0
        self._started = False

    def credentials(self, url: str, username_from_url: str | None, allowed_types: int):  # type: ignore[no-untyped-def]
        return self._credentials.credentials(url, username_from_url, allowed_types)

    def transfer_progress(self, stats: pygit2.remotes.TransferProgress) -> None:
        if not self._started and stats.total_objects:
            self._progress.start(stats.total_objects)
            self._started = True
        done = stats.indexed_objects
        if done > self._seen:
            self._progress.advance(done - self._seen)
            self._seen = done


def fetch_source(store: Store, source: Source, progress: Progress = SILENT) -> pygit2.Commit:
    """Bring the source's HEAD into its ref; returns the tip commit.

    A source on this machine (a path or file:// URL) is read the way ``git clone
    --local`` does: its object files (immutable) are hard-linked, or copied across
    file systems, when this archive lacks them, and the ref is set to its HEAD.
    libgit2's local transport would instead recompress the whole history into a new
    pack (ten times ``git fetch``'s time on a year of 1,000 playlists). Any other
    URL is fetched with pygit2.
    """
    try:
        objects = _local_objects(source.url)
        if objects is not None:
            tip = _link_objects(store, objects, progress)
            store.repo.references.create(source.ref, tip, force=True)
        else:
            remote = store.repo.remotes.create_anonymous(source.url)
            remote.fetch([f"+HEAD:{source.ref}"], callbacks=_FetchCallbacks(progress))
    except (pygit2.GitError, OSError, StoreError) as exc:
        raise FollowError(redact(f"cannot fetch {source.name} from {source.url}: {exc}")) from None
    finally:
        progress.close()
    ref = store.repo.references.get(source.ref)
    if ref is None:
        raise FollowError(f"{source.name}: the source has no commits")
    return ref.peel(pygit2.Commit)


def _local_objects(url: str) -> pygit2.Repository | None:
    """The source repository when it is on this machine with objects of its own."""
    from gitarchive.push import _local_git_dir

    git_dir = _local_git_dir(url)
    if git_dir is None:
        return None
    if (git_dir / "objects" / "info" / "alternates").exists():
        return None  # objects borrowed from elsewhere: let the transport gather them
    return pygit2.Repository(str(git_dir))


def _link_objects(
    store: Store, source: pygit2.Repository, progress: Progress
) -> pygit2.Oid:
    """Link (or copy) the source's packs and loose objects this archive lacks."""
    if source.head_is_unborn:
        raise FollowError("the source has no commits")
    tip = source.head.peel(pygit2.Commit).id
    theirs = Path(source.path) / "objects"
    ours = store.git_dir / "objects"
    todo: list[tuple[Path, Path]] = []
    for idx in sorted((theirs / "pack").glob("pack-*.idx")):
        pack = idx.with_suffix(".pack")
        if pack.exists() and not (ours / "pack" / idx.name).exists():
            todo += [(pack, ours / "pack" / pack.name), (idx, ours / "pack" / idx.name)]
    for sub in sorted(theirs.iterdir()):
        if len(sub.name) == 2 and sub.is_dir():
            for loose in sub.iterdir():
                if not (ours / sub.name / loose.name).exists() and not loose.name.startswith(
                        "tmp"):
                    todo.append((loose, ours / sub.name / loose.name))
    progress.start(len(todo))
    for src, dst in todo:  # a pack before its index: libgit2 finds packs by their index
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f"tmp-follow-{os.getpid()}-{dst.name}")
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        progress.advance()
    if tip not in store.repo:
        raise FollowError("the source's objects are incomplete (a shallow or partial clone?)")
    return tip


# ------------------------------------------------------------------- reading


class _Reader:
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
        for directory, name in _FILES:
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
            found = self._present[key] = frozenset(_pids_in(dirs))
        return found


@dataclass
class Version:
    """What one source commit brings: new versions of followed playlists, observations."""

    commit: pygit2.Commit
    files: dict[str, Blobs]  # pid -> its four files, where the commit changed them
    observed: set[str]  # followed playlists this commit, if a run, observes
    run: bool  # it writes a snapshot file: a run of the source's archiver


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
    progress: Progress = SILENT,
) -> Plan:
    """The source commits after the last update that matter here, in the replay's order.

    A commit matters when it changed a followed playlist's files (a new version) or
    when it is a run of the source's archiver that observes a followed playlist
    just before a new version of it, or last: the cumulative views count every run
    (a removed track's last_seen is the last run before its removal), so such a run
    is imported too, as a commit that writes no playlist file (see _SideTree).
    """
    repo = store.repo
    state = _load_state(store, source.name)
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
    reader = _Reader(repo)
    gens: dict[pygit2.Oid, int] = {}
    marks = source.imported
    found: list[tuple[tuple[int, int, str], Version]] = []
    plan = Plan([], rewritten=rewritten, walked=len(commits))
    for commit in commits:
        gens[commit.id] = 1 + max((gens.get(p, 0) for p in commit.parent_ids), default=0)
    progress.start(len(commits))
    try:
        # Newest first: a packed source stores old trees as deltas on newer ones, and
        # libgit2's delta-base cache is small; this order reads each base before the
        # trees built on it (about twice as fast on a year of daily commits).
        for commit in reversed(commits):
            progress.advance()
            gen = gens[commit.id]
            when = commit.commit_time
            if since is not None and when < since:
                continue
            version = _version(reader, source, commit)
            day = day_of(when)
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
            if version.files or (version.run and version.observed):
                found.append(((when, gen, str(commit.id)), version))
    finally:
        progress.close()
    found.sort(key=lambda item: item[0])
    _first_versions(reader, found, marks)
    plan.versions = _needed([v for _, v in found])
    return plan


def _needed(versions: list[Version]) -> list[Version]:
    """Leave out the runs that change no date.

    A run that finds a playlist unchanged only moves its latest observation; that
    matters as the last run before its next version (a removed track's last_seen)
    and as the latest run of all. Importing just those gives the same cumulative
    views as every run, at a tenth of the commits in a year of daily runs.
    """
    pending: dict[str, int] = {}  # pid -> index of its latest run-only observation
    keep = [bool(v.files) for v in versions]
    for i, version in enumerate(versions):
        for pid in version.files:
            if pid in pending:
                keep[pending.pop(pid)] = True
        if version.run:
            for pid in version.observed - set(version.files):
                pending[pid] = i
    for i in pending.values():
        keep[i] = True
    return [v for v, wanted in zip(versions, keep, strict=True) if wanted]


def _first_versions(
    reader: _Reader, found: list[tuple[tuple[int, int, str], Version]], marks: dict[str, int]
) -> None:
    """A playlist not imported yet starts with its files as of its first imported commit.

    With --since or --depth (or a source that stopped following it a while), the
    walk may begin after the version then current was written.
    """
    started = set(marks)
    for _, version in found:
        fresh = (set(version.files) | version.observed) - started
        if fresh:
            dirs = reader.dirs(version.commit.tree)
            for pid in fresh:
                if pid not in version.files:
                    blobs = reader.blobs(dirs, pid)
                    if blobs[0] is not None or blobs[1] is not None:
                        version.files[pid] = blobs
            started |= fresh


def _version(reader: _Reader, source: Source, commit: pygit2.Commit) -> Version:
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
    run = any(
        b is not None for blobs in files.values() for b in (blobs[0], blobs[1], blobs[3])
    )
    if not run:
        if own is not None or len(parent_dirs) != 1:
            own = own if own is not None else reader.events.own_writes(commit)
            run = any(w.blob is not None for w in own)
        else:
            run = _writes_a_snapshot(parent_dirs[0], dirs)
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
    return Version(commit, files, observed, run)


_DELETED = pygit2.enums.DeltaStatus.DELETED.value


def _writes_a_snapshot(
    before: dict[str, pygit2.Tree | None], after: dict[str, pygit2.Tree | None]
) -> bool:
    """Whether a one-parent commit wrote (not only deleted) a snapshot file, as the
    replay counts runs (history_events): stops at the first such file, so a busy
    archive's commit costs a tree comparison, not a walk over all it changed."""
    for directory in ("plain", "followers", "pretty"):
        old, new = before[directory], after[directory]
        if new is None or (old is not None and old.id == new.id):
            continue
        diff = old.diff_to_tree(new) if old is not None else new.diff_to_tree(swap=True)
        for delta in diff.deltas:
            if int(delta.status) == _DELETED:
                continue
            name = delta.new_file.path
            if "/" in name:
                continue
            if directory == "plain" or (name.endswith(".json") and len(name) > 5):
                return True
    return False


# ------------------------------------------------------------------ importing


@dataclass
class UpdateResult:
    """What one source's update did, for the summary and the tests."""

    name: str
    tip: str | None = None
    imported: int = 0  # side commits made
    versions: int = 0  # new versions of playlists among them
    changed_commits: int = 0  # side commits with a new version (the others: runs only)
    playlists: set[str] = field(default_factory=set)
    first: int | None = None
    last: int | None = None
    merge: str | None = None
    rewritten: bool = False
    skipped_local: list[tuple[str, str]] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> str:
        if self.error is not None:
            return f"{self.name}: {self.error}"
        parts = []
        if self.rewritten:
            parts.append("the source rewrote its history (force-push); kept everything "
                         "imported before and continued from what is still reachable")
        if self.imported:
            span = _day(self.first) if self.first == self.last else (
                f"{_day(self.first)} .. {_day(self.last)}")
            text = self.describe() + f" ({span})"
            parts.append(f"{text}; merged {self.merge[:10]}" if self.merge else text)
        else:
            parts.append("up to date")
        if self.skipped_local:
            parts.append(f"{len(self.skipped_local)} version(s) left out: the archive has its "
                         "own snapshot that day")
        if self.malformed:
            parts.append(f"{len(self.malformed)} malformed snapshot file(s) (skipped by the "
                         "history replay, as any unreadable snapshot)")
        return f"{self.name}: " + "; ".join(parts)

    def describe(self) -> str:
        """``imported 3 versions of 1 playlist and 2 runs that left it unchanged``."""
        count = len(self.playlists)
        text = (f"imported {_plural(self.versions, 'version')} of "
                f"{_plural(count, 'playlist')}")
        runs = self.imported - self.changed_commits
        if runs:
            them = "it" if count == 1 else "them"
            text += f" and {_plural(runs, 'run')} that left {them} unchanged"
        return text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _day(epoch: int | None) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def update(
    store: Store,
    source: Source,
    *,
    definition_changed: bool = False,
    progress_factory: Callable[[str], Progress] | None = None,
    require: Iterable[str] = (),
) -> UpdateResult:
    """Fetch ``source`` and import its new versions; one merge commit on the branch.

    ``definition_changed``: commit the definition even when nothing is imported (a new
    source, new playlists). ``require``: playlists that must have a version in the
    source's history (a first follow), else FollowError and nothing committed.
    """
    make = progress_factory or (lambda label: SILENT)
    result = UpdateResult(source.name)
    tip = fetch_source(store, source, make(f"Fetching {source.name}"))
    result.tip = str(tip.id)
    zone = _zone(store)
    ours = store.head()
    local = _local_days(store, ours, source, zone) if ours is not None else {}
    plan = plan_import(
        store, source, tip, since=source.since, local_days=local,
        day_of=lambda t: datetime.fromtimestamp(t, zone).strftime("%Y-%m-%d"),
        progress=make(f"Reading {source.name}"),
    )
    result.rewritten = plan.rewritten
    result.skipped_local = plan.skipped_local
    missing = [
        pid for pid in require
        if pid not in source.imported and not any(pid in v.files for v in plan.versions)
        and not any(p == pid for p, _ in plan.skipped_local)
    ]
    if missing:
        raise FollowError(
            f"{source.name} has no snapshot of {', '.join(missing)} in its history"
            + (" since the given date" if source.since is not None else "")
            + "; nothing was followed"
        )
    side = _import(store, source, plan, result)
    if side is not None or definition_changed:
        _merge(store, source, side, result)
    wanted = ALL if source.playlists is None else sorted(source.playlists)
    _save_state(store, source.name, {"last": str(tip.id), "covered": wanted,
                                     "updated": commit_time()[0]})
    return result


def _zone(store: Store):  # type: ignore[no-untyped-def]
    from gitarchive.views import get_timezone

    return get_timezone(settings.timezone(store))


def _import(
    store: Store, source: Source, plan: Plan, result: UpdateResult
) -> pygit2.Oid | None:
    """Write the side commits (one per source commit that matters); returns the new tip."""
    repo = store.repo
    parent = pygit2.Oid(hex=source.side) if source.side else None
    side_tree = repo[parent].peel(pygit2.Commit).tree if parent is not None else None
    objects = _Objects()
    builder = _SideTree(repo, side_tree, objects)
    cache = ParseCache()
    checked: set[pygit2.Oid] = set()
    for version in plan.versions:
        commit = version.commit
        when = commit.commit_time
        # The blob check: a version whose files the side history already holds (a
        # source rewritten to the same content, say) is no new version.
        version.files = {
            pid: blobs for pid, blobs in version.files.items() if builder.blobs(pid) != blobs
        }
        if not version.files and not (version.run and version.observed):
            continue
        result.changed_commits += bool(version.files)
        for pid, blobs in version.files.items():
            builder.set_playlist(pid, blobs)
            _check(repo, pid, blobs, commit, cache, checked, result.malformed)
            result.playlists.add(pid)
            result.versions += 1
        for pid in set(version.files) | version.observed:
            source.imported[pid] = when
        builder.set_registry(version.observed)
        if version.run:
            builder.observe(source.name, commit.id)
        tree = builder.write()
        subject = commit.message.splitlines()[0] if commit.message.strip() else ""
        what = ", ".join(sorted(version.files)) or "a run observing " + ", ".join(
            sorted(version.observed))
        message = (
            f"Follow {source.name}: {what}\n\n"
            f"Imported from {source.name} commit {commit.id}"
            + (f" ({subject})" if subject else "") + "\n"
        )
        parent = objects.commit(
            tree, [parent] if parent is not None else [], commit, message
        )
        result.imported += 1
        result.first = when if result.first is None else min(result.first, when)
        result.last = when if result.last is None else max(result.last, when)
    objects.flush(repo)
    return parent if result.imported else None


def _check(
    repo: pygit2.Repository, pid: str, blobs: Blobs, commit: pygit2.Commit,
    cache: ParseCache, checked: set[pygit2.Oid], malformed: list[str],
) -> None:
    """Record a snapshot file the history replay will not be able to read."""
    for index, kind in ((1, KIND_JSON), (0, KIND_PLAIN)):
        oid = blobs[index]
        if oid is None or oid in checked:
            continue
        checked.add(oid)
        try:
            if kind == KIND_JSON:
                parse_json_snapshot(pid, repo[oid].data, cache)
            else:
                parse_plain_snapshot(pid, repo[oid].data)
        except (SnapshotError, ValueError) as exc:
            path = layout.pretty_json_path(pid) if kind == KIND_JSON else layout.plain_path(pid)
            malformed.append(f"{str(commit.id)[:12]}: {path}: {exc}")


# The side history's bookkeeping files (never merged into the archive's tree): a
# registry entry that is no playlist keeps registry/ present even when the source
# commit registers none of the followed playlists (a tree without registry/ would
# observe every playlist), and a followers file that changes on every imported run,
# so a source run that left the followed playlists unchanged is still a run here.
SIDE_REGISTRY_KEEP = ".gitarchive-follow"
SIDE_RUN_MARKER = ".gitarchive-follow.json"


class _SideTree:
    """The side history's tree: the followed playlists' files, their registry, the marker."""

    DIRS = ("registry", "plain", "pretty", "followers")

    def __init__(
        self, repo: pygit2.Repository, base: pygit2.Tree | None, objects: _Objects
    ) -> None:
        self.repo = repo
        self.objects = objects
        self.empty = objects.add("blob", b"")
        self.entries: dict[str, dict[str, pygit2.Oid]] = {d: {} for d in self.DIRS}
        self.changed: set[str] = set(self.DIRS)
        if base is not None and layout.ROOT in base:
            root = repo[base[layout.ROOT].id]
            for d in self.DIRS:
                if d in root:
                    self.entries[d] = {e.name: e.id for e in repo[root[d].id]}
        self._set("registry", SIDE_REGISTRY_KEEP, self.empty)
        self.subtrees: dict[str, pygit2.Oid | None] = {d: None for d in self.DIRS}

    def blobs(self, pid: str) -> Blobs:
        found = [self.entries[d].get(name(pid)) for d, name in _FILES]
        return found[0], found[1], found[2], found[3]

    def set_playlist(self, pid: str, blobs: Blobs) -> None:
        for (directory, name), oid in zip(_FILES, blobs, strict=True):
            self._set(directory, name(pid), oid)

    def set_registry(self, pids: set[str]) -> None:
        wanted = set(pids) | {SIDE_REGISTRY_KEEP}
        current = self.entries["registry"]
        for pid in set(current) - wanted:
            self._set("registry", pid, None)
        for pid in wanted - set(current):
            self._set("registry", pid, self.empty)

    def observe(self, name: str, commit: pygit2.Oid) -> None:
        marker = dump_json({"commit": str(commit), "source": name}).encode()
        self._set("followers", SIDE_RUN_MARKER, self.objects.add("blob", marker))

    def _set(self, directory: str, name: str, oid: pygit2.Oid | None) -> None:
        entries = self.entries[directory]
        if entries.get(name) == oid:
            return
        if oid is None:
            entries.pop(name, None)
        else:
            entries[name] = oid
        self.changed.add(directory)

    def write(self) -> pygit2.Oid:
        objects = self.objects
        for d in sorted(self.changed):
            entries = self.entries[d]
            self.subtrees[d] = objects.tree({n: (False, o) for n, o in entries.items()}) if (
                entries) else None
        self.changed.clear()
        root = {d: (True, sub) for d in self.DIRS if (sub := self.subtrees[d]) is not None}
        return objects.tree({layout.ROOT: (True, objects.tree(root))})


class _Objects:
    """The side history's trees and commits, hashed here and written as one pack.

    An update may import hundreds of commits; written one by one, each object is a
    file system round trip (milliseconds each on a busy disk), many times the cost
    of reading the source.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[str, bytes]] = []

    def add(self, kind: str, data: bytes) -> pygit2.Oid:
        self.pending.append((kind, data))
        return pygit2.Oid(raw=packwriter.object_id(kind, data))

    def tree(self, entries: dict[str, tuple[bool, pygit2.Oid]]) -> pygit2.Oid:
        """A tree of (is_tree, id) by name, in git's order (a tree sorts as "name/")."""
        def key(name: str) -> bytes:
            return name.encode() + (b"/" if entries[name][0] else b"")

        body = b"".join(
            (b"40000 " if entries[name][0] else b"100644 ") + name.encode() + b"\0"
            + entries[name][1].raw
            for name in sorted(entries, key=key)
        )
        return self.add("tree", body)

    def commit(
        self, tree: pygit2.Oid, parents: list[pygit2.Oid], like: pygit2.Commit, message: str
    ) -> pygit2.Oid:
        """A commit of ``tree`` with the author and committer of the source commit ``like``."""
        lines = [b"tree " + str(tree).encode()]
        lines += [b"parent " + str(p).encode() for p in parents]
        encoding = like.message_encoding
        lines.append(b"author " + _signature_bytes(like.author, encoding))
        lines.append(b"committer " + _signature_bytes(like.committer, encoding))
        return self.add("commit", b"\n".join(lines) + b"\n\n" + message.encode())

    def flush(self, repo: pygit2.Repository) -> None:
        packwriter.write_objects(repo, self.pending)
        self.pending.clear()


def _signature_bytes(sig: pygit2.Signature, encoding: str | None) -> bytes:
    """``Name <email> epoch +hhmm`` as git writes it, in UTF-8."""
    def text(raw: bytes) -> bytes:
        if encoding is None or encoding.lower().replace("-", "") == "utf8":
            return raw
        return raw.decode(encoding, errors="replace").encode()

    offset = sig.offset
    sign = "-" if offset < 0 else "+"
    zone = f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}".encode()
    return (text(sig.raw_name) + b" <" + text(sig.raw_email) + b"> "
            + str(sig.time).encode() + b" " + zone)


def _merge(
    store: Store, source: Source, side: pygit2.Oid | None, result: UpdateResult
) -> None:
    """One commit on the branch: the side history's files (merged), and the definition."""
    repo = store.repo
    ours = store.head()
    if side is not None:
        source.side = str(side)
    index = pygit2.Index()
    if ours is not None:
        index.read_tree(ours.tree)
    local = set(registry.load(store)[0]) if ours is not None else set()
    changed: list[str] = []
    if side is not None:
        side_tree = repo[side].peel(pygit2.Commit).tree
        reader = _Reader(repo)
        dirs = reader.dirs(side_tree)
        for pid in sorted(result.playlists):
            if pid in local:
                continue  # fetched here too: its own files stay (see the module's docstring)
            for (directory, name), oid in zip(_FILES, reader.blobs(dirs, pid), strict=True):
                path = f"{layout.ROOT}/{directory}/{name(pid)}"
                _index_set(index, path, oid)
                changed.append(path)
    definition = repo.create_blob(source.to_bytes())
    _index_set(index, follow_path(source.name), definition)
    changed.append(follow_path(source.name))
    tree = index.write_tree(repo)
    if ours is not None and tree == ours.tree_id and side is None:
        return
    dirty = store.dirty_paths(changed) if ours is not None else []
    if dirty:
        raise FollowError(
            f"uncommitted changes to files this update would write: {', '.join(dirty[:5])}. "
            "Commit or discard them first; nothing was merged"
        )
    if side is not None:
        message = (
            f"Merge followed {source.name}: {result.describe()}\n\n"
            + "".join(f"- {pid}\n" for pid in sorted(result.playlists))
        )
    else:
        message = f"Follow {source.name}\n"
    parents = ([ours.id] if ours is not None else []) + ([side] if side is not None else [])
    sig = signature(repo)
    oid = repo.create_commit(None, sig, signature(repo, role="AUTHOR"), message, tree, parents)
    branch = store.branch_ref
    store.move_branch(branch, ours.id if ours is not None else None, oid, message)
    result.merge = str(oid)


def _index_set(index: pygit2.Index, path: str, oid: pygit2.Oid | None) -> None:
    if oid is None:
        if path in index:
            index.remove(path)
    else:
        index.add(pygit2.IndexEntry(path, oid, pygit2.GIT_FILEMODE_BLOB))


def _local_days(
    store: Store, ours: pygit2.Commit, source: Source, zone  # type: ignore[no-untyped-def]
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
    reader = _Reader(repo)
    days: dict[str, set[str]] = {}
    for commit in walker:
        if bound is not None and commit.commit_time < bound:
            break
        registered = reader.events.registry(commit.tree)
        seen = [pid for pid in pids if registered is None or pid in registered]
        if not seen:
            continue
        if len(commit.parents) == 1:
            run = _writes_a_snapshot(reader.dirs(commit.parents[0].tree), reader.dirs(commit.tree))
        else:
            run = any(w.blob is not None for w in reader.events.own_writes(commit))
        if run:
            day = datetime.fromtimestamp(commit.commit_time, zone).strftime("%Y-%m-%d")
            for pid in seen:
                days.setdefault(pid, set()).add(day)
    return days


# ------------------------------------------------------------------ commands


def add_source(
    store: Store,
    url_or_path: str,
    *,
    name: str | None = None,
    playlists: Iterable[str] = (),
    all_playlists: bool = False,
    since: int | None = None,
    depth: int | None = None,
    progress_factory: Callable[[str], Progress] | None = None,
) -> UpdateResult:
    """``gitarchive follow``: define (or extend) a source, then update it at once."""
    url = normalise_url(url_or_path)
    pids = [layout.parse_playlist_ref(p) for p in playlists]
    if not pids and not all_playlists:
        raise FollowError("name the playlists to follow with --playlist, or give --all")
    if pids and all_playlists:
        raise FollowError("--playlist and --all exclude each other")
    sources = load_sources(store)
    same_url = [s for s in sources.values() if s.url == url]
    if name is not None:
        check_name(name)
        existing = sources.get(name)
        if existing is not None and existing.url != url:
            raise FollowError(
                f"a source named '{name}' already follows {redact(existing.url)}; "
                "choose another --name"
            )
    elif same_url:
        name = same_url[0].name
    else:
        name = check_name(default_name(url))
        base, n = name, 2
        while name in sources:
            name = f"{base[:60]}-{n}"
            n += 1
    source = sources.get(name) or Source(name, url, ())
    before = source.to_bytes()
    if all_playlists:
        source.playlists = None
    elif source.playlists is not None:
        source.playlists = tuple(sorted(set(source.playlists) | set(pids)))
    new = [pid for pid in dict.fromkeys(pids) if pid not in source.imported]
    if since is not None:
        source.since = since if source.since is None else min(source.since, since)
    if depth is not None:
        tip = fetch_source(store, source, (progress_factory or (lambda label: SILENT))(
            f"Fetching {name}"))
        depth_since = _since_depth(tip, depth)
        source.since = depth_since if source.since is None else max(source.since, depth_since)
    return update(
        store, source, definition_changed=source.to_bytes() != before,
        progress_factory=progress_factory, require=new,
    )


def _since_depth(tip: pygit2.Commit, depth: int) -> int:
    """The commit time of the ``depth``-th commit back from the tip (first parents)."""
    if depth < 1:
        raise FollowError("--depth must be at least 1")
    commit = tip
    for _ in range(depth - 1):
        if not commit.parents:
            break
        commit = commit.parents[0]
    return commit.commit_time


def remove_source(store: Store, name: str) -> Source:
    """``gitarchive unfollow``: drop the definition (one commit), the ref and the local state.

    What was imported stays in the archive's history, like ``remove`` keeps snapshots.
    """
    sources = load_sources(store)
    source = sources.get(name)
    if source is None:
        known = ", ".join(sorted(sources)) or "none"
        raise FollowError(f"no followed source named '{name}' (followed: {known})")
    store.commit({follow_path(name): None}, f"Unfollow {name}")
    ref = store.repo.references.get(source.ref)
    if ref is not None:
        ref.delete()
    _state_path(store, name).unlink(missing_ok=True)
    return source


def update_all(
    store: Store, *, progress_factory: Callable[[str], Progress] | None = None
) -> list[UpdateResult]:
    """Every source, one after the other; a source that fails is reported, not fatal."""
    results = []
    for source in load_sources(store).values():
        try:
            results.append(update(store, source, progress_factory=progress_factory))
        except FollowError as exc:
            results.append(UpdateResult(source.name, error=str(exc)))
    return results


@dataclass
class SourceStatus:
    """One line of ``follow --list``."""

    source: Source
    updated: int | None  # last update in this clone
    newest: int | None  # newest imported version
    behind: list[str]  # followed playlists whose latest fetched version is not imported
    fetched: bool


def status(store: Store) -> list[SourceStatus]:
    """Each source: last update, newest snapshot imported, playlists behind the fetched ref."""
    out = []
    for source in load_sources(store).values():
        state = _load_state(store, source.name)
        ref = store.repo.references.get(source.ref)
        behind: list[str] = []
        if ref is not None:
            reader = _Reader(store.repo)
            theirs = reader.dirs(ref.peel(pygit2.Commit).tree)
            side = (reader.dirs(store.repo[pygit2.Oid(hex=source.side)].peel(pygit2.Commit).tree)
                    if source.side else None)
            pids = source.playlists if source.playlists is not None else sorted(
                set(source.imported) | set(_pids_in(theirs)))
            for pid in pids:
                latest = reader.blobs(theirs, pid)
                if latest == (None, None, None, None):
                    continue
                if side is None or reader.blobs(side, pid)[:2] != latest[:2]:
                    behind.append(pid)
        out.append(SourceStatus(
            source,
            state.get("updated") if isinstance(state.get("updated"), int) else None,
            max(source.imported.values()) if source.imported else None,
            behind,
            ref is not None,
        ))
    return out


def _pids_in(dirs: dict[str, pygit2.Tree | None]) -> Iterator[str]:
    if dirs["pretty"] is not None:
        for entry in dirs["pretty"]:
            if entry.name.endswith(".json"):
                yield entry.name[: -len(".json")]
    if dirs["plain"] is not None:
        for entry in dirs["plain"]:
            yield entry.name
