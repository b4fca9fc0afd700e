"""Keeping secrets out of everything gitarchive prints, logs or commits.

Secrets are read from the environment, and the refresh token saved by
``gitarchive login`` from its file (registered here by ``add_secret``). Any text that leaves the
process through a path that might carry a library's error message (push errors,
the log file) goes through ``redact`` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

SECRET_VARS = (
    "SPOTIFY_CLIENT_SECRET",
    "SPOTIFY_REFRESH_TOKEN",
    "GITARCHIVE_GIT_TOKEN",
    "GITHUB_TOKEN",
    "GITARCHIVE_SSH_PASSPHRASE",
)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
MASK = "***"
_added: set[str] = set()  # secrets this process read from files (see add_secret)


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """The secret values set in ``env`` (the process environment by default), longest first."""
    source = os.environ if env is None else env
    values = {source[name] for name in SECRET_VARS if len(source.get(name, "")) >= 4}
    values.update(_added)
    return sorted(values, key=len, reverse=True)


def redact(text: str, env: dict[str, str] | None = None) -> str:
    """``text`` with secret values and URL credentials (``https://user:pw@``) masked."""
    for value in secret_values(env):
        text = text.replace(value, MASK)
    return _URL_USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)



def add_secret(value: str) -> None:
    """Mask ``value`` from now on, wherever this process writes text: for secrets read from
    somewhere else than the environment (the refresh token saved by 'gitarchive login')."""
    if len(value) >= 4:
        _added.add(value)
