"""log and diff on long histories: each version read by the fast parsers, not the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitarchive.archive.model import Playlist
from gitarchive.git.store import Store
from tests.questions.test_query import at, files, ok, snapshot, track

LONG = "L" * 22


def long_archive(path: Path, days: int) -> Store:
    """One playlist, a new snapshot a day (a track swapped every other day)."""
    store = Store.init(path, bare=True)
    tracks = [track(n) for n in range(20)]
    for day in range(days):
        if day % 2:
            tracks = [*tracks[1:], track(100 + day)]
        when = at("2024-01-01") + day * 86_400
        store.commit(files(snapshot(LONG, "Long", tracks)), f"day {day}", when=(when, 0))
    return store


def test_log_and_diff_parse_no_version_into_a_model_playlist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = long_archive(tmp_path / "a", 30)
    ok(store, "log", LONG)  # builds the query index first
    parsed: list[int] = []
    real = Playlist.from_json.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Playlist, "from_json",
                        classmethod(lambda cls, text: parsed.append(1) or real(cls, text)))
    lines = ok(store, "log", LONG).splitlines()
    assert len(lines) == 16 and lines[-1].startswith("2024-01-30  +1 −1")
    assert parsed == []
    out = ok(store, "diff", LONG, "--from", "2024-01-01")
    assert "+15 −15" in out.splitlines()[1]
    assert len(parsed) <= 2  # the two ends, shown in full
