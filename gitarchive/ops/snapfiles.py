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
from dataclasses import dataclass

from gitarchive.archive import layout, render, settings
from gitarchive.archive.model import Playlist, dump_json, tracks_json
from gitarchive.git.packwriter import blob_id
from gitarchive.history.parallel import in_halves, two_cores
from gitarchive.ops import rendered

FORK_MIN = 200  # playlists from which a forked process renders half of them
CHUNK = 50  # playlists per message from the forked process


@dataclass
class Made:
    """One playlist's files as rendered: the content of each that may have changed, the
    blob id of each, and what the record keeps of them (see gitarchive.ops.rendered)."""

    files: dict[str, bytes]  # path -> content (a file known unchanged has none)
    ids: dict[str, bytes]  # path -> its raw blob id (bytes: they go through a pipe)
    entry: rendered.Entry | None = None
    same_tracks: bool = False  # the tracks of HEAD's JSON snapshot, as recorded


def snapshot_files(
    snapshot: Playlist,
    followers: dict[str, int],
    day: str,
    githistory_base: str | None,
    newline: bool,
    last: rendered.Last | None = None,
) -> Made:
    """The files of one playlist's snapshot; ``followers`` (day -> count) gets today's.

    ``last``: the last run's record; what it shows unchanged is taken from there (the
    table's rows and the JSON's tracks as text; the plain file by its blob id) instead
    of rendered again.
    """
    pid = snapshot.id
    tracks = rendered.tracks_print(snapshot.tracks) if last is not None else None
    reuse = last.reuse(snapshot, tracks) if last is not None else None
    rows, tracks_text = (reuse.rows, reuse.tracks_json) if reuse is not None else (None, None)
    if rows is None:
        rows = render.lines_text(render.pretty_rows(snapshot.tracks))
    if tracks_text is None:
        tracks_text = tracks_json(snapshot.tracks)
    made = Made({}, {})
    pretty = render.pretty_md(snapshot, githistory_base, rows)
    made.files[layout.pretty_md_path(pid)] = settings.apply_final_newline(pretty, newline).encode()
    made.files[layout.pretty_json_path(pid)] = render.pretty_json(snapshot, tracks_text).encode()
    if reuse is not None and reuse.plain is not None:
        made.ids[layout.plain_path(pid)] = bytes.fromhex(reuse.plain)
    else:
        plain = settings.apply_final_newline(render.plain(snapshot), newline)
        made.files[layout.plain_path(pid)] = plain.encode()
    if snapshot.num_followers is not None:
        followers[day] = snapshot.num_followers
    if followers:
        counts = dump_json(dict(sorted(followers.items())))
        made.files[layout.followers_path(pid)] = counts.encode()
    for path, content in made.files.items():
        made.ids[path] = blob_id(content)
    made.same_tracks = reuse is not None and reuse.same_tracks
    if tracks is not None:
        made.entry = _entry(made, pid, tracks, rows, tracks_text, snapshot)
    return made


def _entry(made: Made, pid: str, tracks: str, rows: str, tracks_text: str, snapshot: Playlist
           ) -> rendered.Entry | None:
    """What the record keeps of ``made`` (None when there is nothing to take from it)."""
    md, json_path = layout.pretty_md_path(pid), layout.pretty_json_path(pid)
    rows_at = _span(made.files[md], rows.encode())
    tracks_at = _span(made.files[json_path], tracks_text.encode())
    if rows_at is None or tracks_at is None:
        return None
    ids = {path: raw.hex() for path, raw in made.ids.items()}
    return rendered.Entry(tracks, ids[md], rows_at, ids[layout.plain_path(pid)],
                          rendered.plain_key(snapshot, tracks), ids[json_path], tracks_at)


def _span(page: bytes, part: bytes) -> tuple[int, int] | None:
    """Where ``part`` is in ``page`` (found by its start, then compared whole: a big part
    is found at once); None when it is not there or empty."""
    if not part:
        return None
    start = part[:64]
    at = page.find(start)
    while at >= 0:
        if page.startswith(part, at):
            return at, at + len(part)
        at = page.find(start, at + 1)
    return None


def render_all(snapshots: Sequence[Playlist], files_of: Callable[[Playlist], Made]
               ) -> dict[str, Made]:
    """Each snapshot's files (``files_of``, which hashes them where they are made: half in
    a forked process from FORK_MIN snapshots on a machine with two cores; by
    packwriter.blob_id: hashlib's SHA-1, not libgit2's slower collision-detecting one)."""

    def work(some: Iterable[Playlist]) -> Iterator[tuple[str, Made]]:
        for snapshot in some:
            yield snapshot.id, files_of(snapshot)

    halved = len(snapshots) >= FORK_MIN and two_cores()
    made = (in_halves(snapshots, work, _pid, batch=CHUNK) if halved else work(snapshots))
    return dict(made)


def _pid(snapshot: Playlist) -> str:
    return snapshot.id
