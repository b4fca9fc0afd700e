"""``fetch --push``: publish the archive branch through pygit2, merging when the remote moved.

Credentials come only from the environment of the run and live only in memory:
a key file (``GITARCHIVE_SSH_KEY``, optional ``GITARCHIVE_SSH_PASSPHRASE``), an SSH
agent (``SSH_AUTH_SOCK``), else the key ssh itself would take (``~/.ssh/id_ed25519`` ...),
or a token for https remotes (``GITARCHIVE_GIT_TOKEN``, else ``GITHUB_TOKEN``). Nothing
is written to the remote URL, git config or logs.

When another machine pushed first, the remote branch is fetched, merged by the
rules of merge.py (one merge commit), the cumulative views are rebuilt from the
merged history, and the push is retried -- a bounded number of times.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from gitarchive.errors import PushError, StoreError
from gitarchive.git.identity import signature
from gitarchive.git.store import Store
from gitarchive.ops.merge import changed_paths, merge_branches
from gitarchive.redact import redact

TOKEN_VARS = ("GITARCHIVE_GIT_TOKEN", "GITHUB_TOKEN")
KEY_VAR = "GITARCHIVE_SSH_KEY"
PASSPHRASE_VAR = "GITARCHIVE_SSH_PASSPHRASE"
# The keys ssh takes without being told, in its order: what 'git push' uses from cron,
# which has no agent (libgit2 takes none of them by itself).
DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")
DEFAULT_ATTEMPTS = 5


@dataclass
class PushResult:
    """What the push did: merges made, attempts used, the pushed commit."""

    remote: str
    branch: str
    pushed: str | None = None  # commit id on the remote afterwards
    attempts: int = 0
    merges: list[str] = field(default_factory=list)
    up_to_date: bool = False


class Credentials(pygit2.RemoteCallbacks):
    """Answers libgit2's credential requests from the environment; records rejections."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__()
        self.env = dict(os.environ if env is None else env)
        self.asked = 0
        self.rejected: list[str] = []

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: int
    ) -> pygit2.Username | pygit2.UserPass | pygit2.Keypair | pygit2.KeypairFromAgent:
        self.asked += 1
        if self.asked > 3:  # libgit2 asks again after a refusal; do not loop forever
            raise PushError("the remote refused the credentials from the environment")
        allowed = pygit2.enums.CredentialType(allowed_types)
        user = username_from_url or "git"
        if allowed & pygit2.enums.CredentialType.USERNAME:
            return pygit2.Username(user)
        if allowed & pygit2.enums.CredentialType.SSH_KEY:
            key = self.env.get(KEY_VAR)
            if not key and self.env.get("SSH_AUTH_SOCK"):
                return pygit2.KeypairFromAgent(user)
            key = key or _default_key(self.env)
            if key:
                pub = f"{key}.pub" if Path(f"{key}.pub").exists() else None
                return pygit2.Keypair(user, pub, key, self.env.get(PASSPHRASE_VAR, ""))
        if allowed & pygit2.enums.CredentialType.USERPASS_PLAINTEXT:
            token = next((self.env[v] for v in TOKEN_VARS if self.env.get(v)), None)
            if token:
                return pygit2.UserPass(username_from_url or "x-access-token", token)
        raise PushError(
            "no credentials for this remote: start an SSH agent, set GITARCHIVE_SSH_KEY "
            "to a key file (none is in ~/.ssh), or set GITARCHIVE_GIT_TOKEN (or GITHUB_TOKEN) "
            "for https"
        )

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected.append(f"{refname}: {message}")


def _default_key(env: dict[str, str]) -> str | None:
    """The first of ssh's default keys in ``~/.ssh`` (HOME from the run's environment)."""
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return next((str(home / ".ssh" / name) for name in DEFAULT_KEYS
                 if (home / ".ssh" / name).is_file()), None)


def push(
    store: Store,
    remote_name: str = "origin",
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    rebuild: Callable[[Store], None] | None = None,
    env: dict[str, str] | None = None,
    pause: Callable[[float], None] = time.sleep,
) -> PushResult:
    """Push the current branch to the same branch of ``remote_name``; merge and retry if needed.

    ``rebuild`` (the cumulative views) runs after each merge commit. Raises PushError
    with a message free of secrets when every attempt failed.
    """
    branch_ref = store.branch_ref
    _head_id(store)  # nothing to push without a commit
    try:
        remote = store.repo.remotes[remote_name]
    except (KeyError, ValueError):
        raise PushError(
            f"no remote named '{remote_name}'; add one with 'git remote add {remote_name} URL'"
        ) from None
    remote = _local_remote(store, remote_name, remote, env)
    branch = branch_ref.removeprefix("refs/heads/")
    tracking = f"refs/remotes/{remote_name}/{branch}"
    result = PushResult(remote_name, branch)
    last_error = ""
    for attempt in range(1, attempts + 1):
        result.attempts = attempt
        callbacks = Credentials(env)
        try:
            with _serialised_local_push(remote.url):
                remote.push([f"{branch_ref}:{branch_ref}"], callbacks=callbacks)
        except (pygit2.GitError, OSError) as exc:
            last_error = str(exc)
            if not _retryable(last_error):
                raise PushError(_message(remote_name, last_error, env)) from None
        else:
            if not callbacks.rejected:
                result.pushed = str(_head_id(store))
                store.repo.references.create(tracking, _head_id(store), force=True)
                return result
            last_error = "; ".join(callbacks.rejected)
        # The remote moved on: bring its branch in, merge, and try again.
        try:
            remote.fetch([f"+{branch_ref}:{tracking}"], callbacks=Credentials(env))
        except pygit2.GitError as exc:
            raise PushError(_message(remote_name, str(exc), env)) from None
        merged = integrate(store, tracking)
        if merged is not None:
            result.merges.append(merged)
            if rebuild is not None:
                rebuild(store)
        elif _same(store, tracking):
            result.pushed = str(_head_id(store))
            result.up_to_date = True
            return result
        pause(min(0.2 * attempt, 1.0))
    raise PushError(
        _message(remote_name, f"gave up after {attempts} attempts: {last_error}", env)
        + "; the commit is kept locally and the next run pushes it"
    )


def integrate(store: Store, tracking: str) -> str | None:
    """Bring the fetched remote branch into the local one; returns a merge commit id if made.

    Fast-forwards when the local branch has nothing of its own; does nothing when
    the remote has nothing new.
    """
    repo = store.repo
    ours = store.head()
    ref = repo.references.get(tracking)
    if ref is None or ours is None:
        return None
    theirs = ref.peel(pygit2.Commit)
    if theirs.id == ours.id or repo.descendant_of(ours.id, theirs.id):
        return None
    if repo.descendant_of(theirs.id, ours.id):
        _move(store, ours, theirs.id, theirs.tree, f"Fast-forward to {tracking}")
        return None
    merged = merge_branches(store, ours, theirs)
    message = f"Merge {tracking} (gitarchive --push)\n\n" + "".join(
        f"- {path}: {why}\n" for path, why in sorted(merged.decided.items())
    )
    sig = signature(repo)
    oid = repo.create_commit(None, sig, sig, message, merged.tree, [ours.id, theirs.id])
    _move(store, ours, oid, repo[merged.tree].peel(pygit2.Tree), message.splitlines()[0])
    return str(oid)


def _move(
    store: Store, old: pygit2.Commit, new: pygit2.Oid, tree: pygit2.Tree, message: str
) -> None:
    """Move the branch from ``old`` to ``new`` and bring a checkout's files along."""
    dirty = store.dirty_paths(list(changed_paths(old.tree, tree)))
    if dirty:
        raise PushError(
            f"cannot merge the remote's changes: uncommitted edits to {', '.join(dirty[:5])}"
        )
    try:  # files first, then the branch, recoverable if killed in between
        store.move_branch(store.branch_ref, old.id, new, message)
    except StoreError as exc:
        raise PushError(f"{exc} (while merging)") from exc


@contextlib.contextmanager
def _serialised_local_push(url: str | None) -> Iterator[None]:
    """Hold a lock in a remote on this file system for the whole push.

    A server's receive-pack moves a branch only if it still points where the pusher
    saw it; libgit2's local transport does not check, so two machines pushing to one
    shared directory at once could lose one push. The flock closes that gap.
    """
    git_dir = local_git_dir(url)
    if git_dir is None:
        yield
        return
    with open(git_dir / "gitarchive-push.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def local_git_dir(url: str | None) -> Path | None:
    """The git directory of a remote given as a local path or file:// URL, else None."""
    path = _local_path(url)
    found = pygit2.discover_repository(path) if path else None
    return Path(found) if found else None


def _local_path(url: str | None) -> str | None:
    """The path of a remote given as a local path or file:// URL, else None."""
    if not url:
        return None
    if url.startswith("file://"):
        return url.removeprefix("file://")
    if "://" in url or re.match(r"^[^/]+:", url):  # https://, ssh://, host:path
        return None
    return url


def _local_remote(store: Store, name: str, remote: pygit2.Remote,
                  env: dict[str, str] | None) -> pygit2.Remote:
    """A remote on this file system, its relative path taken from the repository as git
    takes it there (cron runs in /, where '../backup.git' is no repository); one that is
    missing is said to be missing (libgit2 says "unsupported URL protocol")."""
    path = _local_path(remote.url)
    if path is None:
        return remote
    where = Path(store.workdir or store.git_dir) / path  # an absolute path stays as it is
    if pygit2.discover_repository(str(where)) is None:
        raise PushError(_message(name, f"{where} is not a git repository (the remote's path)",
                                 env) + "; the commit is kept locally and the next run pushes it")
    if Path(path).is_absolute():
        return remote
    return store.repo.remotes.create_anonymous(str(where))


def _same(store: Store, tracking: str) -> bool:
    ref = store.repo.references.get(tracking)
    head = store.head()
    return ref is not None and head is not None and ref.resolve().target == head.id


_RETRYABLE = ("non-fastforward", "fastforwardable", "fetch first", "not present locally",
              "failed to lock", "locked", "rejected", "stale info")


def _retryable(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _RETRYABLE)


def _message(remote: str, text: str, env: dict[str, str] | None) -> str:
    return redact(f"push to '{remote}' failed: {text}", env)


def _head_id(store: Store) -> pygit2.Oid:
    """The commit to push (a push never removes the one that was there at the start)."""
    head = store.head()
    if head is None:
        raise PushError("nothing to push: the archive has no commits yet")
    return head.id
