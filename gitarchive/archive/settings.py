"""Per-archive settings read from git config, with defaults derived from the repository."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gitarchive.errors import StoreError

if TYPE_CHECKING:  # a question answered from a current index reads these names, not git
    from gitarchive.git.store import Store

_GITHUB = re.compile(
    r"^(?:https?://(?:[^@/]+@)?github\.com/|git@github\.com:|ssh://git@github\.com/)"
    r"(?P<owner>[^/]+)/(?P<repo>[^/]+?)(?:\.git)?/?$"
)


def github_repo(url: str) -> tuple[str, str] | None:
    """(owner, repo) of a GitHub remote URL in https or ssh form, else None."""
    match = _GITHUB.match(url.strip())
    return (match["owner"], match["repo"]) if match else None


def githistory_base(store: Store) -> str | None:
    """Base of the githistory.xyz links in rendered headers, or None to leave them out.

    ``git config gitarchive.githistory URL`` sets it (``none`` turns the links off);
    otherwise it is derived from an ``origin`` remote on GitHub.
    """
    configured = store.config("gitarchive.githistory")
    if configured is not None:
        return None if configured.strip().lower() in ("", "none", "off") else configured.rstrip("/")
    remote = store.remote_url("origin")
    found = github_repo(remote) if remote else None
    if found is None:
        return None
    branch = store.branch_ref.removeprefix("refs/heads/")
    return f"https://github.githistory.xyz/{found[0]}/{found[1]}/blob/{branch}"


def final_newline(store: Store) -> bool:
    """Whether rendered markdown and plain files end with a newline.

    spotify-playlist-archive wrote them without one until 2022 and with one since.
    ``git config gitarchive.finalNewline false`` keeps an adopted old archive's
    convention; unset, the convention of the archive's existing pretty files is
    kept (so adopting an archive adds no whole-file newline diffs); a new archive
    gets final newlines.
    """
    configured = store.config("gitarchive.finalNewline")
    if configured is not None:
        return configured.strip().lower() not in ("false", "no", "off", "0")
    from gitarchive.archive.layout import PRETTY  # the time zone's readers need no layout

    for name, oid in store.list_dir(PRETTY).items():
        if name.endswith(".md"):
            return store.blob(oid).endswith(b"\n")
    return True


def apply_final_newline(text: str, wanted: bool) -> str:
    return text if wanted else text.rstrip("\n")


TIMEZONE_KEY = "gitarchive.timezone"


def timezone(store: Store, explicit: str | None = None) -> str | None:
    """The display time zone: the option, else ``git config gitarchive.timezone``, else UTC."""
    return explicit if explicit else store.config(TIMEZONE_KEY)


VIEWS_BRANCH_KEY = "gitarchive.viewsBranch"


def views_branch(store: Store, explicit: str | None = None) -> str | None:
    """The views branch: the option, else ``git config gitarchive.viewsBranch``, else none."""
    name = explicit if explicit is not None else store.config(VIEWS_BRANCH_KEY)
    if not name or not name.strip():
        return None
    name = name.strip().removeprefix("refs/heads/")
    import pygit2  # the one use here: settings load without it

    if name == "HEAD" or name.startswith("-") or not pygit2.reference_is_valid_name(
        f"refs/heads/{name}"
    ):  # libgit2 accepts the two that git refuses for a branch (check-ref-format --branch)
        raise StoreError(f"'{name}' is not a valid branch name for the views branch")
    if f"refs/heads/{name}" == store.branch_ref_or_none():
        raise StoreError(f"the views branch cannot be the archive's own branch '{name}'")
    return name
