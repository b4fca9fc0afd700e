"""A fetch that reuses what the last run rendered writes exactly what a fresh render writes.

Every test fetches two archives side by side with the same answers, the same hand
edits and the same settings: one keeps the record of what each run rendered (and has
it deleted, damaged or replaced by a stale one when the test says so), the other has
its record deleted before every fetch, so each of its runs renders everything afresh.
Their trees must be equal, day after day (equal tree ids: every file byte for byte).
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cli_support import GOLDEN, KPOP, LONG, OLD_1970, SMALL, run
from conftest import StandInSetup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitarchive.archive import layout, registry, render
from gitarchive.archive import settings as archive_settings
from gitarchive.archive.model import Link, Playlist, Track, dump_json
from gitarchive.git.store import Store
from gitarchive.ops import rendered, snapfiles
from gitarchive.ops.fetch import fetch
from gitarchive.spotify.fixtures import load_fixture_playlists

DAY = 86_400
START = 1_772_344_800  # 2026-03-01 06:00 UTC
PIDS = [OLD_1970, SMALL, LONG]


def _entries(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data["items"]["items"]  # type: ignore[no-any-return]


def _change(served: dict[str, dict[str, Any]], pid: str, kind: str, text: str) -> None:
    """One change of one playlist's answer (``text``: new words where a text changes)."""
    data, entries = served[pid], _entries(served[pid])
    if kind == "followers":
        data["followers"] = {"total": (data.get("followers") or {}).get("total", 0) + 1}
    elif kind == "description":
        data["description"] = text
    elif kind == "name":
        data["name"] = text or "renamed"
    elif kind == "snapshot":
        data["snapshot_id"] = f"snap{text}"
    elif kind == "drop" and entries:
        entries.pop(len(text) % len(entries))
    elif kind == "reverse":
        entries.reverse()
    elif kind == "track name" and entries:
        entries[0]["item"]["name"] = entries[0]["item"]["name"] + text
    elif kind == "added at" and entries:
        entries[-1]["added_at"] = "2025-05-05T05:05:05Z"
    elif kind == "duplicate" and entries:
        entries.append(copy.deepcopy(entries[0]))


class Pair:
    """The archive that keeps its record, and the one that renders afresh every day."""

    def __init__(self, root: Path, setup: StandInSetup, pids: list[str]) -> None:
        self.setup = setup
        self.served = copy.deepcopy(load_fixture_playlists())
        self.stores = []
        for name in ("kept", "fresh"):
            assert run("init", str(root / name))[0] == 0
            store = Store(root / name)
            registry.add(store, pids, when=(START - DAY, 0))
            self.stores.append(store)
        self.kept, self.fresh = self.stores
        self.records: list[bytes] = []  # the kept archive's record after each day

    def each(self, action: Callable[[Store], object]) -> None:
        for store in self.stores:
            action(store)

    def fetch(self, day: int, **options: Any) -> None:
        for pid, data in self.served.items():
            self.setup.server.set_playlist(pid, copy.deepcopy(data))
        rendered.path(self.fresh).unlink(missing_ok=True)
        options = {"cumulative": False, **options}
        reports = [fetch(store, self.setup.client, when=(START + day * DAY, 0), **options)
                   for store in self.stores]
        assert [o.changed for o in reports[0].outcomes] == [o.changed for o in reports[1].outcomes]
        self.assert_same(day)
        record = rendered.path(self.kept)
        self.records.append(record.read_bytes() if record.exists() else b"")

    def assert_same(self, day: int) -> None:
        heads = [store.head() for store in self.stores]
        assert heads[0] is not None and heads[1] is not None
        assert heads[0].tree_id == heads[1].tree_id, f"day {day}: {_diff(self.stores)}"
        assert heads[0].message == heads[1].message

    def hand_edit(self, path: str, edit: Callable[[bytes], bytes]) -> None:
        """The same edit by hand, committed in both archives."""
        content = self.kept.read(path)
        assert content is not None
        self.each(lambda store: store.commit({path: edit(content)}, "edited by hand"))


def _diff(stores: list[Store]) -> list[str]:
    trees = [store.tree() for store in stores]
    assert trees[0] is not None and trees[1] is not None
    return [d.new_file.path for d in trees[1].diff_to_tree(trees[0]).deltas]


@contextmanager
def _pair(setup: StandInSetup, pids: list[str] = PIDS) -> Iterator[Pair]:
    root = Path(tempfile.mkdtemp(prefix="gitarchive-rendered-"))
    try:
        yield Pair(root, setup, pids)
    finally:
        shutil.rmtree(root, ignore_errors=True)


CHANGES = ["followers", "description", "name", "snapshot", "drop", "reverse", "track name",
           "added at", "duplicate"]
SETTINGS = [None, ("githistory", "https://example.invalid/a/b"), ("githistory", "none"),
            ("finalNewline", "false"), ("finalNewline", "true")]
RECORDS = ["keep"] * 6 + ["delete", "truncate", "garbage", "flip", "stale"]
EDITS = [None, None, "md row", "md tail", "plain", "json", "md same"]

_day = st.fixed_dictionaries({
    "changes": st.lists(st.tuples(st.sampled_from(PIDS), st.sampled_from(CHANGES),
                                  st.text(max_size=6)), max_size=4),
    "setting": st.sampled_from(SETTINGS),
    "record": st.sampled_from(RECORDS),
    "edit": st.tuples(st.sampled_from(EDITS), st.sampled_from(PIDS)),
})


def _damage(pair: Pair, how: str) -> None:
    """Do to the kept archive's record what the day says (before its fetch)."""
    record = rendered.path(pair.kept)
    data = record.read_bytes() if record.exists() else b""
    if how == "delete":
        record.unlink(missing_ok=True)
    elif how == "truncate" and data:
        record.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_bytes(b"\x00not json{")
    elif how == "flip" and data:  # one digit of a blob id or a span changed
        digits = [i for i, c in enumerate(data) if chr(c).isdigit()]
        at = digits[len(digits) // 2]
        record.write_bytes(data[:at] + (b"1" if data[at:at + 1] != b"1" else b"2")
                           + data[at + 1:])
    elif how == "stale" and pair.records:
        record.write_bytes(pair.records[0])


def _edit(pair: Pair, how: str | None, pid: str) -> None:
    if how is None or pair.kept.read(layout.pretty_md_path(pid)) is None:
        return
    if how == "md row":  # a row's text edited: the rows' span holds other bytes
        pair.hand_edit(layout.pretty_md_path(pid), lambda b: b.replace(b"| 1 |", b"| one |", 1))
    elif how == "md tail":  # a line added after the table
        pair.hand_edit(layout.pretty_md_path(pid), lambda b: b + b"\nedited\n")
    elif how == "md same":  # a commit that leaves the file as it was
        pair.hand_edit(layout.pretty_md_path(pid), lambda b: b)
    elif how == "plain":
        pair.hand_edit(layout.plain_path(pid), lambda b: b + b"by hand\n")
    elif how == "json":  # a track taken out of the snapshot: the next run counts it added
        pair.hand_edit(layout.pretty_json_path(pid), _without_first_track)


def _without_first_track(data: bytes) -> bytes:
    snapshot = Playlist.from_json(data)
    return replace(snapshot, tracks=snapshot.tracks[1:]).to_json().encode()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(days=st.lists(_day, min_size=1, max_size=4))
def test_every_file_equals_a_fresh_render_whatever_the_days_bring(
    standin: StandInSetup, days: list[dict[str, Any]]
) -> None:
    with _pair(standin) as pair:
        pair.fetch(0)
        for day, plan in enumerate(days, start=1):
            for pid, kind, text in plan["changes"]:
                _change(pair.served, pid, kind, text)
            if plan["setting"] is not None:
                key, value = plan["setting"]
                pair.each(lambda store, k=key, v=value: store.repo.config.__setitem__(
                    f"gitarchive.{k}", v))
            _edit(pair, *plan["edit"])
            _damage(pair, plan["record"])
            pair.fetch(day)


def _counting_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the tracks whose rows are rendered (render.pretty_rows_text)."""
    counted: list[int] = []
    original = render.pretty_rows_text

    def counting(tracks: Any) -> str:
        counted.append(len(tracks))
        return original(tracks)

    monkeypatch.setattr(render, "pretty_rows_text", counting)
    return counted


def _tracks(store: Store, pid: str) -> int:
    data = store.read(layout.pretty_json_path(pid))
    assert data is not None
    return Playlist.from_json(data).track_count


def test_a_typical_day_renders_the_rows_of_changed_tracks_only(
    standin: StandInSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Followers move everywhere, one playlist's tracks change: only its rows are rendered
    (twice: the kept archive's and the fresh one's), and the files are a fresh render's."""
    with _pair(standin) as pair:
        pair.fetch(0)
        counted = _counting_rows(monkeypatch)
        for pid in PIDS:
            _change(pair.served, pid, "followers", "")
        _change(pair.served, SMALL, "drop", "")
        pair.fetch(1)
        fresh = [_tracks(pair.fresh, pid) for pid in PIDS]  # the fresh archive's
        assert sorted(counted) == sorted([_tracks(pair.kept, SMALL), *fresh])
        plain = pair.kept.read(layout.plain_path(LONG))
        counted.clear()
        _change(pair.served, LONG, "description", "new words")
        pair.fetch(2)  # a new description: the rows reused, the plain file rendered again
        assert sorted(counted) == sorted(fresh)
        assert pair.kept.read(layout.plain_path(LONG)) != plain


def test_follower_counts_alone_are_not_hashed_again_for_the_views(
    standin: StandInSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new JSON snapshot the render finds equal to HEAD's but for the follower count
    (it read HEAD's for its tracks) has HEAD's digest: the views take the state's instead
    of hashing the file again. The commits, views included, and the views' state are
    those of the archive that renders (and hashes) everything afresh."""
    from gitarchive.history import pending, saved

    hashed: list[str] = []
    original = pending.snapshot_digest

    def counting(data: bytes) -> bytes:
        hashed.append(Playlist.from_json(data).id)
        return original(data)

    monkeypatch.setattr(pending, "snapshot_digest", counting)
    with _pair(standin) as pair:
        pair.fetch(0, cumulative=True)
        for day, changed in enumerate([[], [LONG], []], start=1):
            for pid in PIDS:
                _change(pair.served, pid, "followers", "")
            if changed:  # a new snapshot id (JSON only: a second file would not be hashed)
                _change(pair.served, LONG, "snapshot", str(day))
            hashed.clear()
            pair.fetch(day, cumulative=True)
            # the fresh archive hashes every playlist; the kept one those that changed more
            assert sorted(hashed) == sorted(PIDS + changed), day
            states = [saved.load(store) for store in pair.stores]
            assert states[0] is not None and states[1] is not None
            assert states[0].state.sources == states[1].state.sources


def test_a_render_that_reuses_looks_at_no_track_given_their_total(standin: StandInSetup) -> None:
    """Given the tracks' total length (summed before the renderer forks), a render that
    reuses the last run's files never looks at a track: after a fork, looking at an
    object writes its reference count, which copies its page (measured: ~9,600 pages
    fewer copied in the forked parent for 500 playlists). Its files are the same."""
    looked: list[str] = []

    class Watched(tuple):  # type: ignore[type-arg]
        def __iter__(self):  # type: ignore[no-untyped-def]
            looked.append("tracks")
            return super().__iter__()

    with _pair(standin) as pair:
        pair.fetch(0)
        store = pair.kept
        base = archive_settings.githistory_base(store)
        newline = archive_settings.final_newline(store)
        last = rendered.load(store, store.reader(checkout=True), base, newline)
        data = store.read(layout.pretty_json_path(LONG))
        assert data is not None
        snapshot = Playlist.from_json(data)
        watched = replace(snapshot, tracks=Watched(snapshot.tracks))
        last.given(LONG, watched.tracks, rendered.tracks_print(snapshot.tracks))
        total = render.total_length(snapshot.tracks)
        made = snapfiles.snapshot_files(watched, {}, "2026-03-02", base, newline, last, total)
        assert looked == [] and made.same_tracks
        fresh = snapfiles.snapshot_files(snapshot, {}, "2026-03-02", base, newline)
        assert made.files == {path: content for path, content in fresh.files.items()
                              if path != layout.plain_path(LONG)}  # the plain file: by its id
        assert made.ids == fresh.ids


@pytest.mark.parametrize("child", ["renders", "dies"])
def test_reuse_in_a_forked_renderer_gives_a_fresh_render(
    standin: StandInSetup, monkeypatch: pytest.MonkeyPatch, child: str
) -> None:
    """From snapfiles.FORK_MIN playlists a forked process renders half of them, reading
    the last run's rows by itself; if it dies, its half is rendered here."""
    import os

    monkeypatch.setattr(snapfiles, "FORK_MIN", 1)
    monkeypatch.setattr(snapfiles, "CHUNK", 1)
    if child == "dies":
        parent, original = os.getpid(), snapfiles.snapshot_files

        def dying(*args: Any) -> snapfiles.Made:
            if os.getpid() != parent:
                os._exit(1)
            return original(*args)

        monkeypatch.setattr(snapfiles, "snapshot_files", dying)
    with _pair(standin) as pair:
        pair.fetch(0)
        for day in (1, 2):
            for pid in PIDS:
                _change(pair.served, pid, "followers", "")
            _change(pair.served, PIDS[day], "track name", "!")
            pair.fetch(day)


def test_a_foreign_archive_fetched_the_next_day_equals_a_fresh_render(
    standin: StandInSetup
) -> None:
    """spotify-playlist-archive's files (the goldens) in HEAD, after a run of ours whose
    record still describes its own files: the next day's files are a fresh render's."""
    with _pair(standin, [OLD_1970, KPOP]) as pair:
        pair.each(lambda store: store.repo.remotes.create(
            "origin", "https://github.com/mackorone/spotify-playlist-archive-2.git"))
        pair.fetch(0)
        foreign = {
            layout.pretty_md_path(OLD_1970): (GOLDEN / f"pretty-{OLD_1970}.md").read_bytes(),
            layout.pretty_json_path(OLD_1970): (GOLDEN / f"pretty-{OLD_1970}.json").read_bytes(),
            layout.pretty_md_path(KPOP): (GOLDEN / f"pretty-{KPOP}.md").read_bytes(),
        }
        pair.each(lambda store: store.commit(foreign, "spotify-playlist-archive"))
        for pid in (OLD_1970, KPOP):
            _change(pair.served, pid, "followers", "")
        _change(pair.served, KPOP, "track name", " (live)")
        pair.fetch(1)
        pair.fetch(2)


def test_pretty_md_from_rows_text_is_the_template_loops_page() -> None:
    """The splice: one "row" holding every row gives the page the loop of rows gives."""
    for data in load_fixture_playlists().values():
        from gitarchive.spotify.parse import parse_playlist

        playlist: Playlist = parse_playlist(data["id"], data, []).playlist
        rows = render.pretty_rows_text(playlist.tracks)
        for base in (None, "https://example.invalid/x"):
            assert render.pretty_md(playlist, base, rows) == render.pretty_md(playlist, base)


def test_the_record_holds_no_names_no_settings_and_no_secret(
    standin: StandInSetup
) -> None:
    """Ids, spans and hashes only: no playlist or track text, no githistory URL, no token."""
    with _pair(standin) as pair:
        secret_base = "https://user:hunter2@example.invalid/base"
        pair.each(lambda store: store.repo.config.__setitem__("gitarchive.githistory",
                                                              secret_base))
        pair.fetch(0)
        record = rendered.path(pair.kept).read_text()
        tokens = standin.server.issued_tokens()
        for text in ["hunter2", "example.invalid", "Kraftwerk", "kai", *tokens]:
            assert text not in record



@pytest.mark.parametrize("edit", ["json", "md row", "plain", "md same"])
def test_a_file_edited_by_hand_is_rendered_afresh_and_counted_against_head(
    standin: StandInSetup, edit: str
) -> None:
    """The record describes the files the last run wrote; HEAD now holds others (a track
    taken out of the JSON snapshot: the run counts it added back, as a fresh run does)."""
    with _pair(standin) as pair:
        pair.fetch(0)
        _edit(pair, edit, SMALL)
        pair.fetch(1)
        if edit == "json":
            head = pair.kept.head()
            assert head is not None and "+1 -0" in head.message


def test_the_templates_are_compiled_before_the_renderer_forks(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiled in the process that forks, neither half compiles them again."""
    from gitarchive.spotify.parse import parse_playlist

    monkeypatch.setattr(snapfiles, "FORK_MIN", 1)
    monkeypatch.setattr(snapfiles, "two_cores", lambda: True)
    render.environment.cache_clear()  # a new environment: nothing compiled yet
    compiled: list[set[str]] = []

    def in_halves(items: Any, work: Any, key: Any, **options: Any) -> Any:
        compiled.append({name for _, name in render.environment().cache})
        return work(items)

    monkeypatch.setattr(snapfiles, "in_halves", in_halves)
    snapshots = [parse_playlist(data["id"], data, []).playlist
                 for data in load_fixture_playlists().values()]
    made = snapfiles.render_all(snapshots, lambda snapshot: snapfiles.snapshot_files(
        snapshot, {}, "2026-03-02", None, True))
    assert compiled == [{"pretty.md.j2", "plain.j2"}] and len(made) == len(snapshots)


@given(st.dictionaries(st.text(), st.one_of(st.integers(), st.booleans())))
def test_follower_counts_written_as_dump_json_writes_them(counts: dict[str, int]) -> None:
    assert snapfiles.followers_json(counts) == dump_json(dict(sorted(counts.items())))


_texts = st.text(alphabet=st.sampled_from("a\x00-+?1 é"), max_size=3)
_links = st.builds(Link, _texts, _texts)
_track_lists = st.lists(st.builds(
    Track, url=_texts, name=_texts, album=_links, artists=st.lists(_links, max_size=2).map(tuple),
    duration_ms=st.integers(-1, 12), added_at=st.none() | _texts, added_by=st.none() | _texts,
), max_size=3).map(tuple)


@given(_track_lists, _track_lists)
def test_equal_track_prints_mean_equal_tracks(first: tuple[Track, ...],
                                              second: tuple[Track, ...]) -> None:
    """The fingerprint is of an encoding the tracks could be read back from (or None)."""
    printed = rendered.tracks_print(first)
    if printed is not None and printed == rendered.tracks_print(second):
        assert first == second
    if first == second:
        assert printed == rendered.tracks_print(second)
