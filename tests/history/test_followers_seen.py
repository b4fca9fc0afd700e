"""A followers file seen as the layout's own is kept by blob id in the saved state: the next
daily rebuild checks the file grown from it by its last line alone, and draws exactly what
the whole check (and a full rebuild) would: a hand-edited file, a missing or damaged record,
a state saved before the records, all fall back to the whole check."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from history_support import at
from hypothesis import given, settings
from hypothesis import strategies as st
from site_support import Built, build_history

from gitarchive.archive import layout
from gitarchive.history import followers_chart, pictures, saved
from gitarchive.history.rebuild import rebuild

DAYS = [f"2026-03-{d:02d}" for d in range(1, 29)]


def _file(counts: dict[str, int]) -> bytes:
    return (json.dumps(counts, indent=2, sort_keys=True) + "\n").encode()


def _lines(pairs: list[tuple[str, int]]) -> bytes:
    """A followers file with its lines in the order given (not necessarily the layout's)."""
    return ("{\n" + ",\n".join(f'  "{d}": {c}' for d, c in pairs) + "\n}\n").encode()


def _record(built: Built) -> bytes | None:
    loaded = saved.load(built.history.store)
    assert loaded is not None
    return loaded.state.followers.get(built.a)


def _blob(built: Built) -> bytes:
    tree = built.history.store.tree()
    assert tree is not None
    return tree[layout.followers_path(built.a)].id.raw  # type: ignore[index]


def _chart(built: Built) -> bytes:
    tree = built.history.store.tree()
    assert tree is not None
    return tree[f"playlists/charts/{built.a}-followers.svg"].data  # type: ignore[index]


def _counts(built: Built) -> dict[str, int]:
    return dict(json.loads(built.history.store.read(layout.followers_path(built.a)) or b"{}"))


def _day(built: Built, text: bytes, day: str) -> None:
    built.history.commit({layout.followers_path(built.a): text}, at(day))


def _scans(monkeypatch: pytest.MonkeyPatch) -> list[bytes | None]:
    """The texts ``layouts_own`` scans from now on."""
    seen: list[bytes | None] = []
    real = followers_chart.layouts_own

    def counted(data: bytes | None) -> bool:
        seen.append(data)
        return real(data)

    monkeypatch.setattr(followers_chart, "layouts_own", counted)
    return seen


def _repeat_the_count(built: Built, monkeypatch: pytest.MonkeyPatch) -> list[bytes | None]:
    """Playlist a's last count repeated the next day, rebuilt: nothing drawn, its chart
    as it was; the texts scanned whole meanwhile."""
    before = _chart(built)
    scans = _scans(monkeypatch)
    counts = _counts(built)
    counts["2026-03-03"] = counts["2026-03-02"]
    _day(built, _file(counts), "2026-03-03")
    assert rebuild(built.history.store).pictures == [] and _chart(built) == before
    return scans


def test_a_file_seen_before_is_checked_by_its_last_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full rebuild keeps each followers file's blob id; the next day's file, grown from
    it by one repeated count, is not scanned again (nor drawn), and its own id is kept;
    a moved count redraws the chart, as a full rebuild would draw it."""
    built = build_history(str(tmp_path / "repo"))
    rebuild(built.history.store, full=True)
    assert _record(built) == _blob(built)
    scans = _repeat_the_count(built, monkeypatch)
    assert scans == [] and _record(built) == _blob(built)
    before, counts = _chart(built), _counts(built)
    counts["2026-03-04"] = counts["2026-03-03"] + 5
    _day(built, _file(counts), "2026-03-04")
    moved = rebuild(built.history.store)
    assert moved.pictures == [f"playlists/charts/{built.a}-followers.svg"] and scans == []
    assert _record(built) == _blob(built) and _chart(built) != before
    full = rebuild(built.history.store, full=True)
    assert full.commit is None and full.pictures == []


def test_a_hand_edited_file_is_checked_whole(tmp_path: Path) -> None:
    """Earlier lines reordered by hand, the last line's count repeated on a later day: not
    the file seen, nor the layout's own, so the chart is redrawn (its line now ends at the
    count of the greatest day), as a full rebuild draws it; no record is kept for it."""
    built = build_history(str(tmp_path / "repo"))
    rebuild(built.history.store, full=True)
    counts = sorted(_counts(built).items())
    assert counts[-1][1] != counts[-2][1]
    edited = [*counts[:-2], counts[-1], counts[-2], ("2026-03-05", counts[-2][1])]
    _day(built, _lines(edited), "2026-03-05")
    daily = rebuild(built.history.store)
    assert daily.pictures == [f"playlists/charts/{built.a}-followers.svg"]
    assert _record(built) is None
    assert rebuild(built.history.store, full=True).commit is None


def test_an_earlier_count_edited_by_hand_redraws_the_chart(tmp_path: Path) -> None:
    """Still the layout's own, and the new last day repeats the count, but an earlier line
    changed: not the file seen (by blob id), so the chart is redrawn; its id is kept."""
    built = build_history(str(tmp_path / "repo"))
    rebuild(built.history.store, full=True)
    counts = _counts(built)
    first = min(counts)
    counts[first] += 1000
    counts["2026-03-06"] = counts[max(counts)]
    _day(built, _file(counts), "2026-03-06")
    daily = rebuild(built.history.store)
    assert daily.pictures == [f"playlists/charts/{built.a}-followers.svg"]
    assert _record(built) == _blob(built)
    assert rebuild(built.history.store, full=True).commit is None


def _manifest(built: Built, change: Any) -> None:
    path = saved.state_path(built.history.store)
    data = pickle.loads(path.read_bytes())
    change(data)
    path.write_bytes(pickle.dumps(data, protocol=5))


@pytest.mark.parametrize("record", ["absent", "garbage", "another file"])
def test_a_state_without_the_record_draws_the_same(tmp_path: Path, record: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest saved before the records (or one whose record is unusable, or names
    another file) loads, and the daily rebuild checks each file whole: same pictures,
    same charts, and the record written afterwards."""
    built = build_history(str(tmp_path / "repo"))
    rebuild(built.history.store, full=True)
    changes = {"absent": lambda d: d.pop("followers"),
               "garbage": lambda d: d.update(followers={built.a: "not an id", 5: b"x" * 20}),
               "another file": lambda d: d.update(followers={built.a: b"\1" * 20})}
    _manifest(built, changes[record])
    assert _record(built) is None if record != "another file" else _record(built) == b"\1" * 20
    assert len(_repeat_the_count(built, monkeypatch)) == 1  # scanned whole, as before
    assert _record(built) == _blob(built)


def test_a_followers_file_the_snapshot_dropped_is_no_record(tmp_path: Path) -> None:
    """A followers file deleted: its chart is drawn again (no counts), its record goes."""
    built = build_history(str(tmp_path / "repo"))
    rebuild(built.history.store, full=True)
    built.history.commit({layout.followers_path(built.a): None}, at("2026-03-07"))
    daily = rebuild(built.history.store)
    assert f"playlists/charts/{built.a}-followers.svg" in daily.pictures
    assert _record(built) is None
    assert rebuild(built.history.store, full=True).commit is None


_COUNTS = st.lists(st.tuples(st.sampled_from(DAYS), st.integers(0, 3)), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(_COUNTS, st.sampled_from(DAYS), st.integers(0, 3))
def test_a_day_added_to_the_layouts_own_keeps_it_so(
    pairs: list[tuple[str, int]], day: str, count: int
) -> None:
    """What a record relies on: a file of the layout's own with a later day added is the
    layout's own too (so its id may be kept without a scan), and the whole check and the
    check by the last line agree on whether the count repeats."""
    old = _lines(pairs)
    new = old[:-3] + f',\n  "{day}": {count}\n}}\n'.encode()
    found = followers_chart.day_added(new)
    own = followers_chart.layouts_own(old)
    if found is not None:
        assert found[0] == old
        if own:
            assert followers_chart.layouts_own(new)
            assert found[1] == followers_chart.repeats_the_count(old, new)
    assert own == (sorted(pairs) == pairs)  # every sampled day is a real day
    assert followers_chart.repeats_the_count(old, new) == (
        own and day > pairs[-1][0] and count == pairs[-1][1])
    if followers_chart.repeats_the_count(old, new):
        grown = followers_chart.parse_followers(new)
        assert followers_chart.followers_svg(grown) == followers_chart.followers_svg(
            followers_chart.parse_followers(old))


def test_pictures_keep_no_record_for_an_unusual_file(tmp_path: Path) -> None:
    """A full rebuild keeps no record for a file not as the archive writes it."""
    built = build_history(str(tmp_path / "repo"))
    counts = sorted(_counts(built).items())
    _day(built, _lines(list(reversed(counts))), "2026-03-08")
    rebuild(built.history.store, full=True)
    assert _record(built) is None
    state = saved.load(built.history.store)
    assert state is not None
    tree = built.history.store.tree()
    assert tree is not None
    pictures.followers_seen(built.history.store, state.state, tree)
    assert state.state.followers == {}
