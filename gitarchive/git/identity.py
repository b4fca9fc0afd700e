"""Who commits and when: the signature and date git itself would use.

The GIT_AUTHOR_*/GIT_COMMITTER_* variables are honoured like git honours them, so
imports, backfills, tests and the demo write history with the dates they mean.
"""

from __future__ import annotations

import email.utils
import os
import re
from datetime import UTC, datetime

import pygit2

from gitarchive.errors import StoreError

DEFAULT_NAME = "gitarchive"
DEFAULT_EMAIL = "gitarchive@localhost"


def signature(
    repo: pygit2.Repository, when: tuple[int, int] | None = None, *, role: str = "COMMITTER"
) -> pygit2.Signature:
    """The committer (or ``role="AUTHOR"``) as git would record it, at ``when`` if given.

    Name and email from GIT_<ROLE>_NAME/EMAIL, then git config, then gitarchive's own;
    the time from GIT_<ROLE>_DATE like git, so imports, backfills and the demo can
    write history with the dates they mean.
    """
    config = repo.config
    name = os.environ.get(f"GIT_{role}_NAME") or config_get(config, "user.name") or DEFAULT_NAME
    email_ = (
        os.environ.get(f"GIT_{role}_EMAIL") or config_get(config, "user.email") or DEFAULT_EMAIL
    )
    stamp, offset = when or commit_time(role)
    return pygit2.Signature(name, email_, stamp, offset)


def commit_time(role: str = "COMMITTER") -> tuple[int, int]:
    """(epoch seconds, UTC offset minutes) of the commit being made: env date, else now."""
    other = "AUTHOR" if role == "COMMITTER" else "COMMITTER"
    raw = os.environ.get(f"GIT_{role}_DATE") or os.environ.get(f"GIT_{other}_DATE")
    if raw:
        return parse_git_date(raw)
    now = datetime.now(UTC)
    return int(now.timestamp()), 0


def config_get(config: pygit2.Config, key: str) -> str | None:
    """A git config value, or None when unset."""
    try:
        return config[key]
    except KeyError:
        return None


_RAW_DATE = re.compile(r"@?(\d+)(?:\s+([+-])(\d{2}):?(\d{2}))?")


def parse_git_date(text: str) -> tuple[int, int]:
    """Parse the date forms git accepts in GIT_*_DATE: raw, RFC 2822, ISO 8601."""
    text = text.strip()
    raw = _RAW_DATE.fullmatch(text)
    if raw and (text.startswith("@") or raw.group(2)):
        offset = 0
        if raw.group(2):
            offset = (int(raw.group(3)) * 60 + int(raw.group(4))) * (
                -1 if raw.group(2) == "-" else 1
            )
        return int(raw.group(1)), offset
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"cannot understand the date '{text}'") from exc
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # local time, as git assumes
    offset_td = parsed.utcoffset()
    offset = int(offset_td.total_seconds() // 60) if offset_td is not None else 0
    return int(parsed.timestamp()), offset
