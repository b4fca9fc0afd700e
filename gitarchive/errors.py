"""Every error gitarchive expects, in one place: a message for people and an exit code.

The command line catches ``GitarchiveError`` and nothing else: it prints the message
and exits with the error's code. Any other exception is a bug and is shown as one,
with its traceback (see ``gitarchive.cli``), never disguised as a one-line message.

The classes are grouped by the layer that raises them; the modules that raise them
import them from here (``gitarchive.git.store.StoreError`` is this ``StoreError``).
"""

from __future__ import annotations

from pathlib import Path

from gitarchive import exitcodes


class GitarchiveError(Exception):
    """An error a person can act on: ``message`` says what is wrong, ``exit_code`` how bad."""

    exit_code: int = exitcodes.ERROR

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


# ------------------------------------------------------------------ git/


class StoreError(GitarchiveError):
    """The repository cannot be used as asked (not a repository, moved branch, dirty files)."""


class DirtyWorktreeError(StoreError):
    """The user has uncommitted edits to files a run would write."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
        super().__init__(
            f"uncommitted changes to files this run would write: {shown}. "
            "Commit or discard them first; nothing was written."
        )


class LockedError(GitarchiveError):
    """Another gitarchive run holds the repository's lock."""

    exit_code = exitcodes.LOCKED

    def __init__(self, path: Path, holder: str | None) -> None:
        self.path = path
        who = holder if holder is not None else "another gitarchive run"
        super().__init__(
            f"the archive is locked by {who}; this run did nothing. The lock is freed when "
            "that run ends, however it ends (a killed run's lock is taken over by the next "
            "run); do not delete the lock file, that would let two runs write at once"
        )


class LockWriteError(GitarchiveError):
    """The lock file cannot be created: a read-only or full repository (``errno`` says which)."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


# -------------------------------------------------------------- archive/


class SnapshotError(GitarchiveError):
    """A stored or received snapshot does not have the shape we need."""


class PlaylistRefError(GitarchiveError):
    """Text that is not a playlist ID, open.spotify.com URL or spotify:playlist: URI."""


class RegistryError(GitarchiveError):
    """A registry entry (file name or alias) is not valid, or the change asked is not possible."""


class LinkError(GitarchiveError):
    """A link between playlist IDs that cannot be made or undone, or a bad links file."""


# -------------------------------------------------------------- spotify/


class SpotifyError(GitarchiveError):
    """Spotify could not give us the playlist; the message says why in words."""


class CredentialsError(SpotifyError):
    """Credentials are missing or Spotify rejected them: no playlist can be fetched."""

    exit_code = exitcodes.NOTHING_FETCHED


class ForbiddenError(SpotifyError):
    """Spotify answered 403: the app or token may not read this playlist."""


# Since this day a development-mode app reads a playlist's items only when the signed-in
# user owns the playlist or collaborates on it.
ITEMS_RULE_DATE = "2026-03-09"


class ItemsForbidden(ForbiddenError):
    """Spotify serves a playlist's details but answers 403 for its items (the 2026 rule)."""

    def __init__(self, pid: str, *, user_token: bool) -> None:
        self.pid = pid
        if user_token:
            why = (
                f"since {ITEMS_RULE_DATE} an app in development mode may read the tracks only "
                "of playlists the signed-in user owns or collaborates on, and this user does "
                "neither; ask the owner to make you a collaborator, or use an app with "
                "extended quota"
            )
        else:
            why = (
                f"since {ITEMS_RULE_DATE} an app in development mode may read tracks only with "
                "a signed-in user's token, and only of playlists that user owns or collaborates "
                "on; run 'gitarchive login' (or set SPOTIFY_REFRESH_TOKEN), or use an app with "
                "extended quota"
            )
        super().__init__(
            f"Spotify serves playlist {pid}'s details but not its tracks (403): {why}; "
            "any earlier snapshot of it is kept as it was"
        )


class CredentialsFileError(CredentialsError):
    """The saved login (credentials file) exists but cannot be used; the message says how to
    fix it."""


class LoginError(CredentialsError):
    """Signing in did not work; the message says why and what to do, never a secret."""

    exit_code = exitcodes.ERROR


class NotSignedIn(CredentialsError):
    """The token has no user (app credentials): there is no 'me' and no 'mine'."""


class PlaylistError(SpotifyError):
    """Spotify's answer for a playlist is not JSON or lacks fields we need."""


class AmbiguousWrite(SpotifyError):
    """A write failed in a way that leaves unknown whether Spotify applied it (5xx, lost line)."""


class WriteError(SpotifyError):
    """Spotify refused a write or read of the user's playlists; the message says why."""


class ScopeError(CredentialsError):
    """The user's token lacks a scope that publishing needs (``missing``)."""

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


class PlaylistNotFound(GitarchiveError):
    """No such playlist: Spotify answered 404 for it, or no playlist (or more than one) in
    the archive answers to the text given (``pid``: the ID asked for, when there was one)."""

    def __init__(self, message: str, pid: str | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class NotOnSpotify(PlaylistNotFound, SpotifyError):
    """Spotify answered 404: the one PlaylistNotFound that is also a SpotifyError (a fetch
    records it against the playlist and goes on)."""


# -------------------------------------------------------------- history/


class TimezoneError(GitarchiveError):
    """A time zone name zoneinfo does not know."""


class StateError(GitarchiveError):
    """A saved playlist file could not be read (the caller replays everything)."""


# ------------------------------------------------------------ questions/


class QueryError(GitarchiveError):
    """A question the archive cannot answer as asked (bad date, unknown revision ...)."""


class SiteError(GitarchiveError):
    """An output directory or branch the static site cannot be written to."""


# ------------------------------------------------------------------ ops/


class NothingToFetch(GitarchiveError):
    """``--only`` named a playlist that is not registered."""


class ShardError(GitarchiveError):
    """--shard is not K/N with 1 <= K <= N."""


class PushError(StoreError):
    """The branch could not be published; the local commit is kept for the next run."""

    exit_code = exitcodes.PUSH_FAILED


class HookError(StoreError):
    """A git hook cannot be installed or removed as asked."""


class PublishError(GitarchiveError):
    """Publishing cannot go on as asked; the message says why and what to do."""


class ScheduleError(GitarchiveError):
    """A scheduler file cannot be written for these paths."""


class FollowError(StoreError):
    """A source cannot be followed or updated as asked (one sentence; nothing lost)."""


# ------------------------------------------------------------------ cli/


class DirectoryNotEmpty(GitarchiveError):
    """A command that creates a directory's content was given one that has some."""
