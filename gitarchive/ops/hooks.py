"""Git hooks for archive repositories: install, uninstall, status, and what each hook does.

The scripts live in the top-level ``hooks/`` folder (shipped as the package data
``gitarchive.hookscripts``); each is a thin shell script calling
``python -m gitarchive hooks run NAME``. Installing writes them into the hooks
directory git uses (``core.hooksPath`` or ``<git dir>/hooks``) with the installing
interpreter filled in, so they work without PATH. A hook the user already has is
moved aside to ``NAME.pre-gitarchive`` and run first; uninstalling moves it back,
so the directory ends exactly as it was.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pygit2

from gitarchive import safejson
from gitarchive.archive import layout
from gitarchive.archive.layout import RegistryEntry
from gitarchive.archive.model import Playlist
from gitarchive.atomicfile import write_atomic
from gitarchive.errors import HookError, RegistryError, SnapshotError
from gitarchive.git.store import Store

HOOKS = ("pre-commit", "post-commit", "post-merge", "post-rewrite", "post-receive")
MARKER = "# gitarchive hook:"
CHAINED_SUFFIX = ".pre-gitarchive"
GUARD = "GITARCHIVE_IN_HOOK"  # set while a hook runs: hooks it causes do nothing
_DEFAULT_PYTHON = "${GITARCHIVE_PYTHON:-python3}"


# ------------------------------------------------------------------- scripts


def script_source(name: str) -> str:
    """The canonical script of a hook, from the installed package or the source checkout."""
    if name not in HOOKS:
        raise HookError(f"unknown hook '{name}'; gitarchive provides {', '.join(HOOKS)}")
    try:
        return (resources.files("gitarchive.hookscripts") / name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return (Path(__file__).resolve().parents[1] / "hooks" / name).read_text(encoding="utf-8")


def installed_script(name: str, python: str | None = None) -> str:
    """The script as installed: the installing interpreter is the default."""
    interpreter = shlex.quote(python or sys.executable)
    installed = "${GITARCHIVE_PYTHON:-" + interpreter + "}"
    return script_source(name).replace(_DEFAULT_PYTHON, installed)


def is_ours(path: Path) -> bool:
    try:
        head = path.read_bytes()[:200]
    except OSError:
        return False
    return MARKER.encode() in head


# ---------------------------------------------------------------- locations


def hooks_dir(store: Store) -> Path:
    """Where git looks for hooks: ``core.hooksPath`` (as git resolves it) or ``<git dir>/hooks``."""
    configured = store.config("core.hooksPath")
    if not configured:
        return store.git_dir / "hooks"
    path = Path(os.path.expanduser(configured))
    if path.is_absolute():
        return path
    return (store.workdir or store.git_dir) / path


def _state_path(store: Store) -> Path:
    return store.git_dir / "gitarchive" / "hooks.json"


def _load_state(store: Store) -> dict[str, list[str]]:
    try:
        data = safejson.loads(_state_path(store).read_text(encoding="utf-8"))
        return {"created_dirs": [str(d) for d in data.get("created_dirs", [])]}
    except (OSError, ValueError, AttributeError):
        return {"created_dirs": []}


def _save_state(store: Store, state: dict[str, list[str]]) -> None:
    path = _state_path(store)
    if not state["created_dirs"]:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state) + "\n", encoding="utf-8")


# --------------------------------------------------------- install, uninstall


@dataclass(frozen=True)
class HookStatus:
    """One hook as found in the hooks directory."""

    name: str
    installed: bool  # our script is there
    chained: bool  # a hook the user had is kept and runs first
    foreign: bool  # someone else's hook is there and ours is not

    def describe(self) -> str:
        if self.installed:
            return "installed" + (f" (runs your earlier hook {self.name}{CHAINED_SUFFIX} first)"
                                  if self.chained else "")
        return "not installed" + (" (another hook is there)" if self.foreign else "")


def install(store: Store, names: list[str] | None = None) -> list[tuple[str, str]]:
    """Install hooks (all by default); returns (name, what happened). Idempotent.

    Everything that could stop it half-way is checked first (the directory can be
    written, no hook would be lost); when a check fails nothing has been changed.
    """
    wanted = _names(names)
    directory = hooks_dir(store)
    _check_installable(directory, wanted)
    state = _load_state(store)
    if not directory.exists():
        directory.mkdir(parents=True)
        state["created_dirs"].append(str(directory))
        _save_state(store, state)
    done = []
    for name in wanted:
        target = directory / name
        content = installed_script(name)
        kept = directory / f"{name}{CHAINED_SUFFIX}"
        if target.exists() and is_ours(target):
            if target.read_text(encoding="utf-8") == content:
                done.append((name, "already installed"))
                continue
            _write_executable(target, content)
            done.append((name, "updated"))
            continue
        if target.exists() or target.is_symlink():
            if kept.exists() or kept.is_symlink():
                raise HookError(
                    f"{target} exists and so does {kept}; move one of them away first"
                )
            os.rename(target, kept)
            _write_executable(target, content)
            done.append((name, f"installed; your hook is kept as {kept.name} and runs first"))
            continue
        _write_executable(target, content)
        done.append((name, "installed"))
    return done


def uninstall(store: Store, names: list[str] | None = None) -> list[tuple[str, str]]:
    """Remove our hooks and put back what they had replaced."""
    directory = hooks_dir(store)
    done = []
    for name in _names(names):
        target = directory / name
        kept = directory / f"{name}{CHAINED_SUFFIX}"
        if not (target.exists() and is_ours(target)):
            done.append((name, "not installed"))
            continue
        if not _as_installed(target, name):
            kept_note = f"; your earlier hook stays {kept.name}" if kept.exists() else ""
            done.append((name, f"kept: {target} was edited since it was installed, so it "
                               f"is yours now; remove it yourself{kept_note}"))
            continue
        target.unlink()
        if kept.exists() or kept.is_symlink():
            os.rename(kept, target)
            done.append((name, "removed; your earlier hook is back"))
        else:
            done.append((name, "removed"))
    state = _load_state(store)
    if str(directory) in state["created_dirs"] and directory.is_dir() \
            and not any(directory.iterdir()):
        directory.rmdir()
        state["created_dirs"].remove(str(directory))
        _save_state(store, state)
    return done


def status(store: Store) -> list[HookStatus]:
    directory = hooks_dir(store)
    found = []
    for name in HOOKS:
        target = directory / name
        ours = target.exists() and is_ours(target)
        found.append(HookStatus(
            name, ours, ours and (directory / f"{name}{CHAINED_SUFFIX}").exists(),
            target.exists() and not ours,
        ))
    return found


def _names(names: list[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(names or HOOKS))
    unknown = [n for n in chosen if n not in HOOKS]
    if unknown:
        raise HookError(f"unknown hook {', '.join(unknown)}; choose from {', '.join(HOOKS)}")
    return chosen


_INTERPRETER = re.compile(r"\$\{GITARCHIVE_PYTHON:-[^\n]*?\}")


def _as_installed(path: Path, name: str) -> bool:
    """Whether an installed hook is still exactly what some gitarchive install wrote.

    The interpreter filled in at install time is set aside, so a hook installed from
    another environment still counts as unedited.
    """
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    canonical = _INTERPRETER.sub("PYTHON", script_source(name))
    return _INTERPRETER.sub("PYTHON", content) == canonical


def _check_installable(directory: Path, names: list[str]) -> None:
    """Refuse, before changing anything, what would fail half-way through an install."""
    existing = directory
    while not existing.exists() and not existing.is_symlink() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "core.hooksPath " if existing == directory else ""
        raise HookError(
            f"cannot install hooks in {where}{directory}: {existing} is not a directory; "
            "nothing was changed"
        )
    try:  # os.access says yes to root on a read-only file system: try for real
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".gitarchive-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise HookError(
            f"cannot install hooks in {directory}: {existing} cannot be written "
            f"({exc.strerror}); nothing was changed"
        ) from exc
    for name in names:
        target, kept = directory / name, directory / f"{name}{CHAINED_SUFFIX}"
        if target.exists() and not is_ours(target) and (kept.exists() or kept.is_symlink()):
            raise HookError(
                f"{target} exists and so does {kept}; move one of them away first "
                "(nothing was changed)"
            )


def _write_executable(path: Path, content: str) -> None:
    write_atomic(path, content.encode(), mode=0o755)


# ----------------------------------------------------------------- checks


def check_file(path: str, data: bytes) -> list[str]:
    """What is wrong with one archive file (path relative to the archive root)."""
    directory, _, name = path.rpartition("/")
    if directory == layout.REGISTRY:
        try:
            RegistryEntry.from_bytes(name, data)
        except RegistryError as exc:
            return [f"{path}: {exc}"]
    elif directory.startswith(layout.REGISTRY + "/"):
        return [f"{path}: registry entries are files directly in {layout.REGISTRY}/"]
    elif directory == layout.PRETTY and name.endswith(".json"):
        try:
            snapshot = Playlist.from_json(data)
        except (SnapshotError, UnicodeDecodeError) as exc:
            return [f"{path}: not a readable snapshot: {exc}"]
        stem = name.removesuffix(".json")
        if snapshot.id != stem:
            return [f"{path}: holds a snapshot of {snapshot.id}, not of {stem}"]
    return []


def check_staged(store: Store) -> list[str]:
    """Problems in archive files the staged index adds or changes (compared with HEAD)."""
    index_file = os.environ.get("GIT_INDEX_FILE")
    if index_file:  # 'git commit -a' / 'git commit PATH' stage into a temporary index
        index = pygit2.Index(str(Path(index_file).resolve()))
    else:
        index = store.repo.index
        index.read()
    head = store.reader()  # directory listings read once: an archive stages thousands of files
    problems: list[str] = []
    for entry in index:
        path = entry.path
        if not path.startswith(layout.ROOT + "/") or head.blob_id(path) == entry.id:
            continue
        problems.extend(check_file(path, store.blob(entry.id)))
    return problems


# ------------------------------------------------------------------ running


def run_chained(store: Store, name: str, args: list[str], stdin: bytes) -> int:
    """Run the hook the user had before ours (if any) with the same arguments and input."""
    kept = hooks_dir(store) / f"{name}{CHAINED_SUFFIX}"
    if not kept.exists() or not os.access(kept, os.X_OK):
        return 0
    return subprocess.run([str(kept), *args], input=stdin, check=False).returncode


def pushed_branches(stdin: bytes) -> list[str]:
    """Refs updated by a push, from post-receive's ``<old> <new> <ref>`` lines."""
    refs = []
    for line in stdin.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and set(parts[1]) != {"0"}:
            refs.append(parts[2])
    return refs


def should_refresh(store: Store) -> str | None:
    """Why the views must not be rebuilt now (mid-rebase, detached HEAD ...), else None."""
    if os.environ.get(GUARD):
        return "inside a gitarchive hook"
    if store.repo.state() != pygit2.enums.RepositoryState.NONE:
        return "a merge, rebase or cherry-pick is in progress"
    if store.repo.head_is_detached:
        return "HEAD is detached"
    return None
