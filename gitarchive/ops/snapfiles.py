"""A run's snapshot files: rendered from the fetched playlists, on both cores for many.

Rendering 1,000 playlists (plain, markdown, JSON, follower counts) is CPU work that
waits for every answer (the names made unique across the archive are known only
then). From ``FORK_MIN`` playlists a forked process renders every second one while
this process renders the others: both have everything they need by the fork, and
the child sends back only bytes. What the child does not send (it died) is rendered
here, so the files never depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import pygit2

from gitarchive.archive import layout, render, settings
from gitarchive.archive.model import Playlist, dump_json
from gitarchive.git.packwriter import blob_id
from gitarchive.history.parallel import in_halves, two_cores

FORK_MIN = 200  # playlists from which a forked process renders half of them
CHUNK = 50  # playlists per message from the forked process

# pid -> (path -> content, path -> its blob id)
Rendered = dict[str, tuple[dict[str, bytes], dict[str, pygit2.Oid]]]


def snapshot_files(
    snapshot: Playlist,
    followers: dict[str, int],
    day: str,
    githistory_base: str | None,
    newline: bool,
) -> dict[str, bytes]:
    """The files of one playlist's snapshot; ``followers`` (day -> count) gets today's."""
    pid = snapshot.id
    plain = settings.apply_final_newline(render.plain(snapshot), newline)
    pretty = settings.apply_final_newline(render.pretty_md(snapshot, githistory_base), newline)
    files = {
        layout.plain_path(pid): plain.encode(),
        layout.pretty_json_path(pid): render.pretty_json(snapshot).encode(),
        layout.pretty_md_path(pid): pretty.encode(),
    }
    if snapshot.num_followers is not None:
        followers[day] = snapshot.num_followers
    if followers:
        files[layout.followers_path(pid)] = dump_json(dict(sorted(followers.items()))).encode()
    return files


def render_all(snapshots: Sequence[Playlist], files_of: Callable[[Playlist], dict[str, bytes]]
               ) -> Rendered:
    """Each snapshot's files (``files_of``) and their blob ids (hashed where they are
    made: half in a forked process from FORK_MIN snapshots on a machine with two cores;
    by packwriter.blob_id: hashlib's SHA-1, not libgit2's slower collision-detecting one)."""

    def work(some: Iterable[Playlist]) -> Iterator[tuple[str, tuple[dict[str, bytes], Raw]]]:
        for snapshot in some:  # the blob ids as bytes: they go through a pipe
            files = files_of(snapshot)
            yield snapshot.id, (files, {path: blob_id(c) for path, c in files.items()})

    halved = len(snapshots) >= FORK_MIN and two_cores()
    made = (in_halves(snapshots, work, _pid, batch=CHUNK) if halved else work(snapshots))
    return {pid: (files, {path: pygit2.Oid(raw=raw) for path, raw in ids.items()})
            for pid, (files, ids) in made}


Raw = dict[str, bytes]  # path -> its blob id's bytes


def _pid(snapshot: Playlist) -> str:
    return snapshot.id
