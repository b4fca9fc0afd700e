"""Issue 13: a stored snapshot with any JSON value in any field is read or refused, never a crash.

Every reader of a stored pretty JSON snapshot (the model, the replay's parser, the
summary a fetch reads of the last snapshot, the pre-commit check) gets a real
snapshot (a golden file) with one field replaced by arbitrary JSON.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitarchive.archive import layout
from gitarchive.archive.index import PreviousSnapshot
from gitarchive.archive.model import Playlist
from gitarchive.archive.snapshots import parse_json_snapshot
from gitarchive.errors import SnapshotError
from gitarchive.ops.hooks import check_file

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "pretty-09D0CKBRWkBBoPn46V6YTO.json"
PID = "09D0CKBRWkBBoPn46V6YTO"
SNAPSHOT = json.loads(GOLDEN.read_text(encoding="utf-8"))
SNAPSHOT["tracks"] = SNAPSHOT["tracks"][:3]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items: Any = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


PATHS = list(_paths(SNAPSHOT))


def _broken(path: tuple[Any, ...], value: Any) -> bytes:
    broken = json.loads(json.dumps(SNAPSHOT))
    target: Any = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(broken, indent=2, sort_keys=True, ensure_ascii=False).encode(
        "utf-8", "surrogatepass")


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(PATHS), value=JSON)
def test_every_reader_of_a_stored_snapshot_reads_or_refuses_it(
    path: tuple[Any, ...], value: Any
) -> None:
    data = _broken(path, value)
    with contextlib.suppress(SnapshotError):
        Playlist.from_json(data)
    with contextlib.suppress(SnapshotError):
        parse_json_snapshot(PID, data)
    PreviousSnapshot.from_json(data)  # None when unusable: it is simply replaced
    problems = check_file(layout.pretty_json_path(PID), data)
    assert all(isinstance(p, str) for p in problems)


@settings(max_examples=12, deadline=None)
@given(path=st.sampled_from(PATHS), value=JSON)
def test_a_broken_snapshot_in_history_breaks_no_command(path: tuple[Any, ...], value: Any) -> None:
    """The same snapshot committed between two good ones: every reader of history goes on."""
    import tempfile

    from click.testing import CliRunner
    from history_support import History, at, registry

    from gitarchive.cli import main

    good = GOLDEN.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        h = History(str(Path(tmp) / "repo.git"))
        h.commit({**registry(PID), layout.pretty_json_path(PID): good}, at("2024-01-01"))
        h.commit({layout.pretty_json_path(PID): _broken(path, value)}, at("2024-01-02"))
        h.commit({layout.pretty_json_path(PID): good}, at("2024-01-03"))
        repo = str(h.store.git_dir)
        for args in (["rebuild"], ["search", "a"], ["export", "--format", "json"],
                     ["show", PID, "--at", "2024-01-02"], ["log", PID]):
            result = CliRunner().invoke(main, [*args, "--repo", repo], catch_exceptions=False)
            assert result.exit_code in (0, 1), (args, result.output)
            if args[0] in ("rebuild", "export"):
                assert result.exit_code == 0, (args, result.output)


@pytest.mark.parametrize(("good", "bad"), [
    (b'"duration_ms": 293120,', b'"duration_ms": ,'),  # a value missing
    (b'"name": "Bridge over Troubled Water",', b'"name": undefined,'),  # no JSON value
    (b'"name": "Bridge over Troubled Water",', b'"name": "Bridge over Troubled Water" "x",'),
])
def test_a_track_text_that_is_no_json_is_a_problem_not_a_crash(good: bytes, bad: bytes) -> None:
    """One track's text broken in an otherwise well-laid-out snapshot: the fast path's
    scanner must fail as json.loads does (a SnapshotError), and a rebuild over it reports
    the version and goes on."""
    import tempfile

    from click.testing import CliRunner
    from history_support import History, at, registry

    from gitarchive.cli import main

    whole = GOLDEN.read_bytes()
    assert whole.count(good) == 1
    data = whole.replace(good, bad)
    with pytest.raises(SnapshotError, match="not valid JSON"):
        parse_json_snapshot(PID, data)
    with tempfile.TemporaryDirectory() as tmp:
        h = History(str(Path(tmp) / "repo.git"))
        h.commit({**registry(PID), layout.pretty_json_path(PID): whole}, at("2024-01-01"))
        h.commit({layout.pretty_json_path(PID): data}, at("2024-01-02"))
        h.commit({layout.pretty_json_path(PID): whole}, at("2024-01-03"))
        result = CliRunner().invoke(main, ["rebuild", "--repo", str(h.store.git_dir)],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "unreadable" in result.output or "skipped" in result.output, result.output


@pytest.mark.parametrize("url", [
    "https://open.spotify.com/track/ABC", "https://open.spotify.com/track/ABC/",
    "https://open.spotify.com/track/", "/", "", "ABC", "spotify:track:ABC",
])
def test_the_replays_track_key_is_model_track_key(url: str) -> None:
    """The replay's reader writes track_key's first rule out (it runs per new track):
    both give the same key, whatever the URL."""
    from gitarchive.archive.model import track_key

    data = _broken(("tracks", 0, "url"), url)
    parsed = parse_json_snapshot(PID, data)
    track = SNAPSHOT["tracks"][0]
    expected = track_key(url, track["name"], [a["name"] for a in track["artists"]],
                         track["album"]["name"])
    assert parsed.tracks[0][0] == expected
