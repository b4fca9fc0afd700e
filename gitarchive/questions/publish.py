"""Publishing history back to Spotify: a past version, or the cumulative list, as a playlist.

Two halves, so `--dry-run` can show the first without touching the network:

* The plan (publish_plan.py: `plan_at`, `plan_cumulative`): which tracks, in which
  order, under which name, and the publication key that identifies "this publish"
  across runs.
* The executor (here, `execute`): finds or creates the target and makes its items equal
  to the plan, idempotently. The target is remembered per key in
  ``.git/gitarchive/publish.json`` (written atomically) and by a marker
  ``[gitarchive:KEY]`` in its description, so a lost file still finds it. A run
  interrupted anywhere (429, 5xx, a dropped connection, a kill) leaves a state the
  next run finishes: it reads the items back first and appends what is missing or
  replaces them, never duplicating a track or creating a second playlist.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gitarchive import safejson
from gitarchive.atomicfile import write_atomic
from gitarchive.errors import AmbiguousWrite, PublishError, WriteError
from gitarchive.git.store import Store
from gitarchive.questions.publish_plan import MARKER, Plan, Report
from gitarchive.spotify.writes import (
    MAX_URIS,
    MODIFY_PRIVATE,
    MODIFY_PUBLIC,
    READ_PRIVATE,
    PlaylistWriter,
    RemotePlaylist,
)

STATE_FILE = "publish.json"
STATE_FORMAT = 1
AMBIGUOUS_RETRIES = 3  # how often one run looks and tries again after an unsure write


# ------------------------------------------------------------- saved targets


def state_path(store: Store) -> Path:
    return store.git_dir / "gitarchive" / STATE_FILE


def load_targets(store: Store) -> dict[str, dict[str, Any]]:
    """The remembered targets by publication key ({} when none, or the file is unreadable)."""
    try:
        data = safejson.loads(state_path(store).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    targets = data.get("targets") if isinstance(data, dict) else None
    return {k: v for k, v in (targets or {}).items() if isinstance(v, dict)}


def remember(store: Store, plan: Plan, playlist_id: str, **extra: Any) -> None:
    """Record the target of ``plan`` (atomically: a kill leaves the old file or the new)."""
    targets = load_targets(store)
    targets[plan.key] = {
        "playlist": playlist_id, "source": plan.source, **plan.options, "name": plan.name,
        "updated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **extra,
    }
    path = state_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": STATE_FORMAT, "targets": targets}, indent=2, sort_keys=True)
    write_atomic(path, (text + "\n").encode(), mode=0o600, sync=True)


# ------------------------------------------------------------------ execute


@dataclass
class Outcome:
    """What a publish did."""

    playlist_id: str
    how: str  # "created", "remembered", "found by its marker", "--into"
    requests: list[str] = field(default_factory=list)  # the writes sent, in order
    unchanged: bool = False

    @property
    def url(self) -> str:
        return f"https://open.spotify.com/playlist/{self.playlist_id}"


def needed_scopes(plan: Plan) -> dict[str, str]:
    """Scope -> why, for the target this plan writes."""
    if plan.into is not None:
        return {}  # its visibility is the playlist's own: Spotify says if a scope lacks
    if plan.public:
        return {MODIFY_PUBLIC: "to create and fill a public playlist"}
    return {
        MODIFY_PRIVATE: "to create and fill a private playlist",
        READ_PRIVATE: "to find a private playlist published before",
    }


def execute(
    store: Store, plan: Plan, writer: PlaylistWriter, report: Report = lambda _: None
) -> Outcome:
    """Make the target's items equal to the plan's URIs; safe to run again at any point."""
    writer.require_scopes(needed_scopes(plan))
    outcome = _target(store, plan, writer, report)
    _fill(writer, outcome, plan.uris, report)
    remember(store, plan, outcome.playlist_id, tracks=len(plan.uris), complete=True)
    return outcome


def _target(store: Store, plan: Plan, writer: PlaylistWriter, report: Report) -> Outcome:
    me = writer.me()
    if plan.into is not None:
        found = writer.playlist(plan.into)
        if found is None:
            raise PublishError(f"--into: Spotify has no playlist {plan.into}")
        if found.owner != me:
            raise PublishError(
                f"--into: playlist {plan.into} ('{found.name}') belongs to "
                f"{found.owner or 'someone else'}, not to you; give one of your own playlists"
            )
        remember(store, plan, found.pid, complete=False)
        return Outcome(found.pid, "--into")
    saved = load_targets(store).get(plan.key, {}).get("playlist")
    marker = MARKER.format(key=plan.key)
    for attempt in range(AMBIGUOUS_RETRIES + 1):
        found, how = _in_library(writer, me, saved, marker)
        if found is not None:
            remember(store, plan, found.pid, complete=False)
            if attempt:  # our own creation, whose answer was lost
                return Outcome(found.pid, "created", [f"POST /me/playlists '{plan.name}'"])
            return Outcome(found.pid, how)
        if saved and not attempt:
            report(f"the playlist published before ({saved}) is no longer in your library")
        try:
            created = writer.create(plan.name, plan.description, plan.public)
        except AmbiguousWrite as exc:
            report(f"{exc}; checking whether the playlist was created")
            continue
        remember(store, plan, created.pid, complete=False)  # before any item is sent
        return Outcome(created.pid, "created", [f"POST /me/playlists '{plan.name}'"])
    raise PublishError("could not create the playlist (Spotify kept failing); run again later")


def _in_library(
    writer: PlaylistWriter, me: str, saved: Any, marker: str
) -> tuple[RemotePlaylist | None, str]:
    """The remembered target if it is still in the user's library, else one with the marker.

    The library, not GET /playlists/{id}: a playlist the user deleted (unfollowed)
    still answers there, and should not be filled again.
    """
    by_marker = None
    for playlist in writer.my_playlists():
        if playlist.owner != me:
            continue
        if playlist.pid == saved:
            return playlist, "remembered"
        if by_marker is None and marker in playlist.description:
            by_marker = playlist
    return by_marker, "found by its marker"


def _fill(writer: PlaylistWriter, outcome: Outcome, uris: list[str], report: Report) -> None:
    """Items := uris. Resumes after an interruption by appending to a correct prefix."""
    pid = outcome.playlist_id
    current = writer.item_uris(pid)
    if current == uris:
        outcome.unchanged = True
        report(f"already up to date: {len(uris)} tracks")
        return
    for _ in range(AMBIGUOUS_RETRIES + 1):
        done = len(current) if _is_prefix(current, uris) and current else 0
        if done == 0:
            first = uris[:MAX_URIS]
            writer.replace(pid, first)
            outcome.requests.append(f"PUT /playlists/{pid}/items ({len(first)} URIs)")
            report(f"sent {len(first)} of {len(uris)} tracks")
            done = len(first)
        else:
            report(f"{done} of {len(uris)} tracks were already there; adding the rest")
        try:
            for start in range(done, len(uris), MAX_URIS):
                batch = uris[start:start + MAX_URIS]
                writer.append(pid, batch)
                outcome.requests.append(f"POST /playlists/{pid}/items ({len(batch)} URIs)")
                report(f"sent {start + len(batch)} of {len(uris)} tracks")
        except AmbiguousWrite as exc:
            report(f"{exc}; reading the playlist back before going on")
            current = writer.item_uris(pid)
            continue
        break
    else:
        raise PublishError(f"could not fill playlist {pid} (Spotify kept failing); run again")
    final = writer.item_uris(pid)
    if final != uris:
        raise WriteError(
            f"playlist {pid} holds {len(final)} items after writing, not the {len(uris)} "
            "sent (was it edited meanwhile?); run the same publish again to fix it"
        )


def _is_prefix(current: Sequence[str | None], uris: Sequence[str]) -> bool:
    return len(current) <= len(uris) and list(current) == list(uris[: len(current)])


# ------------------------------------------------------------------- dry run


def dry_run(store: Store, plan: Plan) -> Iterator[str]:
    """What `publish` would send, line by line; nothing is sent, no token is asked for."""
    saved = load_targets(store).get(plan.key, {}).get("playlist")
    visibility = "public" if plan.public else "private"
    yield f"Would publish {len(plan.uris)} tracks of {plan.title}"
    if plan.into:
        yield f"  into your playlist {plan.into} (its items are replaced)"
    elif saved:
        yield f"  into playlist {saved}, published before by this command (publish.json)"
    else:
        yield (f"  into your playlist marked {MARKER.format(key=plan.key)} if there is one, "
               f"else a new {visibility} playlist:")
        yield f"  POST /me/playlists name={plan.name!r} public={str(plan.public).lower()}"
        yield f"       description={plan.description!r}"
    target = plan.into or saved or "{new}"
    for i, batch in enumerate(plan.batches()):
        verb = "PUT " if i == 0 else "POST"
        yield f"  {verb} /playlists/{target}/items ({len(batch)} URIs)"
    yield "  then read the items back to check them"
    for track in plan.tracks:
        if track.uri is not None:
            note = "  (matched by title, artists, album)" if track.how == "matched" else ""
            yield f"{track.uri}  {track.line}{note}"
