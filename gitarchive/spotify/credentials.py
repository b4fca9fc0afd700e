"""Where Spotify credentials come from: the app's (SPOTIFY_CLIENT_ID / _SECRET) and the
saved login, a refresh token kept outside every repository, readable by its owner only.

``gitarchive login`` writes it, ``gitarchive logout`` removes it, and every command
uses it when ``SPOTIFY_REFRESH_TOKEN`` is not set. The file lives in
``$XDG_CONFIG_HOME/gitarchive/credentials`` (else ``~/.config/gitarchive/credentials``),
holds JSON, has mode 0600 and is replaced atomically, so a crash mid-write never
leaves half a token behind and no other user can read it at any moment.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gitarchive import redact
from gitarchive.atomicfile import write_atomic
from gitarchive.errors import CredentialsError, CredentialsFileError
from gitarchive.progress import above

FILE_NAME = "credentials"
ENV_ID = "SPOTIFY_CLIENT_ID"
ENV_SECRET = "SPOTIFY_CLIENT_SECRET"
ENV_REFRESH = "SPOTIFY_REFRESH_TOKEN"


@dataclass(frozen=True)
class SavedLogin:
    """What ``login`` keeps: the app it was made for, the refresh token and the granted scopes."""

    client_id: str
    refresh_token: str
    scope: str = ""

    def __repr__(self) -> str:  # the token never appears in a repr, a log or a traceback
        return f"SavedLogin(client_id={self.client_id!r}, scope={self.scope!r})"


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """gitarchive's configuration directory, by the XDG rule."""
    source = os.environ if env is None else env
    base = source.get("XDG_CONFIG_HOME", "").strip()
    if base and os.path.isabs(base):  # the spec says relative values are to be ignored
        return Path(base) / "gitarchive"
    home = source.get("HOME", "").strip()
    return (Path(home) if home else Path.home()) / ".config" / "gitarchive"


def credentials_path(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / FILE_NAME


def load(env: Mapping[str, str] | None = None) -> SavedLogin | None:
    """The saved login, or None when there is none; CredentialsFileError when it is unusable."""
    path = credentials_path(env)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialsFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
        login = SavedLogin(
            client_id=data["client_id"], refresh_token=data["refresh_token"],
            scope=data.get("scope") or "",
        )
    except (ValueError, KeyError, TypeError):
        login = None
    if login is None or not all(isinstance(v, str) and v for v in (login.client_id,
                                                                    login.refresh_token)):
        raise CredentialsFileError(
            f"{path} is not a gitarchive login; run 'gitarchive logout' and 'gitarchive login'"
        )
    redact.add_secret(login.refresh_token)  # read into this process: masked from now on
    return login


def load_for(client_id: str, env: Mapping[str, str] | None = None) -> SavedLogin | None:
    """The saved login if it was made for this app; CredentialsError if for another one."""
    saved = load(env)
    if saved is not None and saved.client_id != client_id:
        raise CredentialsError(
            f"the login saved in {credentials_path(env)} was made for the app "
            f"{saved.client_id}, not {client_id} ({ENV_ID}); run 'gitarchive login' again"
        )
    return saved


def save(login: SavedLogin, env: Mapping[str, str] | None = None) -> Path:
    """Write the login atomically with mode 0600 (the directory 0700); returns the path."""
    redact.add_secret(login.refresh_token)
    path = credentials_path(env)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    payload = json.dumps(
        {"client_id": login.client_id, "refresh_token": login.refresh_token,
         "scope": login.scope},
        indent=2, sort_keys=True,
    ) + "\n"
    write_atomic(path, payload.encode(), mode=0o600, sync=True)
    return path


def save_rotated(login: SavedLogin, env: Mapping[str, str] | None = None) -> None:
    """Keep the refresh token Spotify has just put in place of the saved one. If it cannot
    be written (a read-only home), the run goes on with it and says so on stderr and in
    the log: Spotify may have retired the old one, and the run was not the repository's
    to fail (it said "cannot write to <archive>: read-only file system")."""
    try:
        save(login, env)
    except OSError as exc:
        message = (f"Spotify replaced the saved login's refresh token, but "
                   f"{credentials_path(env)} cannot be written ({exc.strerror or exc}); this "
                   "run goes on, the next may be refused: make it writable, then run "
                   "'gitarchive login' again")
        logging.getLogger("gitarchive.run").warning(message)  # --log-file's logger
        above(f"warning: {message}")  # mid-fetch: on its own line, not glued to the bar


def delete(env: Mapping[str, str] | None = None) -> Path | None:
    """Remove the saved login; returns its path, or None when there was none."""
    path = credentials_path(env)
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path


def app_credentials(env: Mapping[str, str]) -> tuple[str, str]:
    """(client ID, client secret) from the environment; CredentialsError names what is missing."""
    missing = [name for name in (ENV_ID, ENV_SECRET) if not env.get(name, "").strip()]
    if missing:
        raise CredentialsError(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
            f"set {ENV_ID} and {ENV_SECRET} to your app's credentials from "
            "https://developer.spotify.com/dashboard (then 'gitarchive login' to read your "
            "playlists)"
        )
    return env[ENV_ID].strip(), env[ENV_SECRET].strip()
