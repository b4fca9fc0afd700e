"""A run's snapshot files: rendered from the fetched playlists, on both cores for many.

Rendering 1,000 playlists (plain, markdown, JSON, follower counts) is CPU work that
waits for every answer (the names made unique across the archive are known only
then). From ``FORK_MIN`` playlists a forked process renders every second one while
this process renders the others: both have everything they need by the fork, and
the child sends back only bytes. What the child does not send (it died) is rendered
here, so the files never depend on it. A playlist whose tracks are those the last run
rendered takes their rows, their JSON and an unchanged plain file from that run's files
(gitarchive.ops.rendered says why that is always a fresh render's bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring as _encode

from gitarchive.archive import layout, render, settings
from gitarchive.archive.model import Playlist, dump_json, tracks_json
from gitarchive.git.packwriter import blob_id
from gitarchive.history import followers_chart
from gitarchive.history.digest import same_snapshot
from gitarchive.history.parallel import in_halves, two_cores
from gitarchive.ops import rendered

FORK_MIN = 200  # playlists from which a forked process renders half of them
CHUNK = 50  # playlists per message from the forked process
CHEAP_SHARE = 0.4  # what a render that reuses the last run's costs, of a full one (measured)


@dataclass
class Made:
    """One playlist's files as rendered: the content of each that may have changed, the
    blob id of each, and what the record keeps of them (see gitarchive.ops.rendered)."""

    files: dict[str, bytes]  # path -> content (a file known unchanged has none)
    ids: dict[str, bytes]  # path -> its raw blob id (bytes: they go through a pipe)
    entry: rendered.Entry | None = None
    same_tracks: bool = False  # the tracks of HEAD's JSON snapshot, as recorded
    # HEAD's JSON snapshot's blob id when the new one differs from it at most in the
    # follower count line (history.digest.same_snapshot): the views need not hash it
    alike: str | None = None
    # The new day of the followers file only repeats the last count: its chart is the same
    # (history.followers_chart.repeats_in), and the views need not look at it.
    repeats: bool = False


def snapshot_files(
    snapshot: Playlist,
    followers: dict[str, int],
    day: str,
    githistory_base: str | None,
    newline: bool,
    last: rendered.Last | None = None,
    total_ms: int | None = None,
) -> Made:
    """The files of one playlist's snapshot; ``followers`` (day -> count) gets today's.

    ``last``: the last run's record; what it shows unchanged is taken from there (the
    table's rows and the JSON's tracks as text; the plain file by its blob id) instead
    of rendered again. ``total_ms``: ``render.total_length`` of its tracks, summed before
    the renderer forks (see ``render_all``): a render that reuses then never looks at
    the tracks.
    """
    pid = snapshot.id
    tracks = last.tracks_print(snapshot) if last is not None else None
    reuse = last.reuse(snapshot) if last is not None else None
    rows, tracks_text = (reuse.rows, reuse.tracks_json) if reuse is not None else (None, None)
    if rows is None:
        rows = render.pretty_rows_text(snapshot.tracks)
    if tracks_text is None:
        tracks_text = tracks_json(snapshot.tracks)
    made = Made({}, {})
    pretty = render.pretty_md(snapshot, githistory_base, rows, total_ms)
    made.files[layout.pretty_md_path(pid)] = settings.apply_final_newline(pretty, newline).encode()
    snapshot_json = render.pretty_json(snapshot, tracks_text).encode()
    made.files[layout.pretty_json_path(pid)] = snapshot_json
    if reuse is not None and reuse.snapshot is not None:
        head_id, head_json = reuse.snapshot
        made.alike = head_id if same_snapshot(snapshot_json, head_json) else None
    if reuse is not None and reuse.plain is not None:
        made.ids[layout.plain_path(pid)] = bytes.fromhex(reuse.plain)
    else:
        plain = settings.apply_final_newline(render.plain(snapshot), newline)
        made.files[layout.plain_path(pid)] = plain.encode()
    if snapshot.num_followers is not None:
        made.repeats = followers_chart.repeats_in(followers, day, snapshot.num_followers)
        followers[day] = snapshot.num_followers
    if followers:
        made.files[layout.followers_path(pid)] = followers_json(followers).encode()
    for path, content in made.files.items():
        made.ids[path] = blob_id(content)
    made.same_tracks = reuse is not None and reuse.same_tracks
    if tracks is not None:
        made.entry = _entry(made, pid, tracks, rows, tracks_text, snapshot)
    return made


def followers_json(counts: dict[str, int]) -> str:
    """``dump_json`` of the follower counts by day, sorted (the same text, three times
    faster: json's indenting encoder is pure Python, and a year of days is 365 lines)."""
    items = sorted(counts.items())
    if not items or not all(type(k) is str and type(v) is int for k, v in items):
        return dump_json(dict(items))
    return "{\n" + ",\n".join([f"  {_encode(k)}: {v}" for k, v in items]) + "\n}\n"


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


def render_all(snapshots: Sequence[Playlist], files_of: Callable[[Playlist], Made],
               cheap: Callable[[Playlist], bool] = lambda snapshot: False) -> dict[str, Made]:
    """Each snapshot's files (``files_of``, which hashes them where they are made: by
    packwriter.blob_id, hashlib's SHA-1, not libgit2's slower collision-detecting one).

    From the work of FORK_MIN full renders on a machine with two cores (a ``cheap`` one,
    which reuses the last run's files, counts CHEAP_SHARE of one), a forked process
    does half of the full ones and half of the cheap ones; for less, the fork costs
    more than it saves. After the fork, the first write to a page either process
    shares with the other copies it (a Python object's reference count is written when
    it is looked at): what ``files_of`` needs of the tracks of a cheap render is best
    made before (``snapshot_files``' ``total_ms``).
    """

    def work(some: Iterable[Playlist]) -> Iterator[tuple[str, Made]]:
        for snapshot in some:
            yield snapshot.id, files_of(snapshot)

    easy = [cheap(snapshot) for snapshot in snapshots]
    full = [s for s, e in zip(snapshots, easy, strict=True) if not e]
    if len(full) + CHEAP_SHARE * (len(snapshots) - len(full)) < FORK_MIN or not two_cores():
        return dict(work(snapshots))
    render.load_templates()  # compiled once, not in each process after the fork
    ordered = full + [s for s, e in zip(snapshots, easy, strict=True) if e]
    return dict(in_halves(ordered, work, _pid, batch=CHUNK))


def _pid(snapshot: Playlist) -> str:
    return snapshot.id
