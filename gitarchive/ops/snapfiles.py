"""A run's snapshot files: rendered from the fetched playlists, on both cores for many.

Rendering 1,000 playlists (plain, markdown, JSON, follower counts) is CPU work that
waits for every answer (the names made unique across the archive are known only
then). From ``FORK_MIN`` playlists a forked process renders every second one while
this process renders the others: both have everything they need by the fork, and
the child sends back only bytes. What the child does not send (it died) is rendered
here, so the files never depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pygit2

from gitarchive.archive import layout, render, settings
from gitarchive.archive.model import Playlist, dump_json
from gitarchive.history.parallel import Forked, two_cores

FORK_MIN = 200  # playlists from which a forked process renders half of them
CHUNK = 50  # playlists per message from the forked process

# pid -> (path -> content, the JSON snapshot's blob id)
Rendered = dict[str, tuple[dict[str, bytes], pygit2.Oid]]


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
    """Each snapshot's files (``files_of``) and its JSON blob id; half in a forked process
    from FORK_MIN snapshots on a machine with two cores."""
    if len(snapshots) < FORK_MIN or not two_cores():
        return dict(_render(snapshots, files_of))
    mine, theirs = snapshots[::2], snapshots[1::2]

    def work() -> Iterator[list[tuple[str, dict[str, bytes], bytes]]]:
        for at in range(0, len(theirs), CHUNK):
            yield [(pid, files, oid.raw)
                   for pid, (files, oid) in _render(theirs[at:at + CHUNK], files_of)]

    out: Rendered = {}
    with Forked(work) as child:
        for pid, made in _render(mine, files_of):
            out[pid] = made
            child.poll()  # keep the child's pipe flowing while this side works
        received = child.finish()
    for part in received:
        for pid, files, raw in part:
            out[pid] = (files, pygit2.Oid(raw=raw))
    out.update(_render([s for s in theirs if s.id not in out], files_of))  # the child died
    return out


def _render(snapshots: Sequence[Playlist], files_of: Callable[[Playlist], dict[str, bytes]]
            ) -> Iterator[tuple[str, tuple[dict[str, bytes], pygit2.Oid]]]:
    for snapshot in snapshots:
        files = files_of(snapshot)
        yield snapshot.id, (files, pygit2.hash(files[layout.pretty_json_path(snapshot.id)]))
