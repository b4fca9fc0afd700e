"""A question loads only what it needs, and a current index is trusted only while it is.

``search`` answered from an index that is current (questions/current.py) loads no git
code at all; the record that lets it is checked against HEAD and the git config every
time, and anything unusual sends the question through pygit2 again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitarchive.archive import layout, render
from gitarchive.archive.model import Link, Playlist, Track
from gitarchive.cli import main
from gitarchive.git.store import Store
from gitarchive.questions import current
from gitarchive.questions.index import index_path

PID = "5" * 22
OTHER = "6" * 22

# Runs a command in a new process, as a user does, and reports what it imported.
IMPORTS = """
import contextlib, io, json, sys
from gitarchive.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(sys.argv[1:], prog_name="gitarchive")
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""
# Never for a question: the network, templates, the site generator, fetching.
NEVER = ("requests", "jinja2", "gitarchive.spotify", "gitarchive.questions.site",
         "gitarchive.questions.publish", "gitarchive.ops")
# Not when the index is current: no git code, no history code.
NOT_WHEN_CURRENT = (*NEVER, "pygit2", "gitarchive.git", "gitarchive.history",
                    "gitarchive.questions.query", "gitarchive.archive.render")


def at(day: str) -> int:
    return int(datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp())


def playlist(pid: str, name: str, *songs: str) -> dict[str, bytes | None]:
    tracks = tuple(
        Track(url=f"https://open.spotify.com/track/T{i:021d}", name=song,
              album=Link(f"Album {i}", ""), artists=(Link(f"Artist {i}", ""),),
              duration_ms=200_000)
        for i, song in enumerate(songs, 1)
    )
    snap = Playlist(url=f"https://open.spotify.com/playlist/{pid}", original_name=name,
                    description="", owner=Link("Owner"), tracks=tracks, num_followers=1)
    return {layout.registry_path(pid): b"", layout.pretty_json_path(pid): snap.to_json().encode(),
            layout.plain_path(pid): render.plain(snap).encode()}


@pytest.fixture
def archive(tmp_path: Path) -> Store:
    store = Store.init(tmp_path / "archive", bare=True)
    store.commit(playlist(PID, "Road Trip", "Halo", "Song 2"), "run 1", when=(at("2024-01-10"), 0))
    store.commit(playlist(PID, "Road Trip", "Halo", "Song 3"), "run 2", when=(at("2024-01-20"), 0))
    return store


def ask(store: Store | Path, *args: str) -> str:
    repo = store.git_dir if isinstance(store, Store) else store
    result = CliRunner().invoke(main, [*args, "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    return result.output


def in_new_process(store: Store, *args: str) -> tuple[str, list[str]]:
    """A command's output and the modules it imported, run as its own process."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS, *args, "--repo", str(store.git_dir)],
        capture_output=True, text=True, check=True,
    )
    found = json.loads(done.stdout)
    assert found["code"] in (None, 0), done.stderr
    return found["out"], found["modules"]


def loaded(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)]


# ---------------------------------------------------------------- imports


def test_search_from_a_current_index_loads_no_git_code(archive: Store) -> None:
    first = ask(archive, "search", "song")  # through pygit2: brings the index up to HEAD
    out, modules = in_new_process(archive, "search", "song")
    assert out == first
    assert loaded(modules, NOT_WHEN_CURRENT) == []


def test_the_first_question_after_a_rebuild_loads_no_git_code(archive: Store) -> None:
    ask(archive, "rebuild", "--quiet", "--full")
    out, modules = in_new_process(archive, "search", "halo")
    assert "Halo" in out and "2024-01-10" in out
    assert loaded(modules, NOT_WHEN_CURRENT) == []


@pytest.mark.parametrize("command", [["show", PID], ["log", PID], ["diff", PID],
                                     ["search", "halo", "--playlist", "Road Trip"]])
def test_questions_through_git_load_no_network_and_no_templates(
    archive: Store, command: list[str]
) -> None:
    out, modules = in_new_process(archive, *command)
    assert out
    assert loaded(modules, NEVER) == []


# ------------------------------------------------------ when it is current


def test_the_index_is_current_only_after_a_question_and_until_head_moves(archive: Store) -> None:
    assert current.open_current(archive.git_dir) is None  # no index yet
    ask(archive, "search", "halo")
    found = current.open_current(archive.git_dir)
    assert found is not None
    found[0].close()
    assert found[1] == {"gitarchive.timezone": None}
    archive.commit(playlist(PID, "Road Trip", "Formation"), "run 3", when=(at("2024-02-01"), 0))
    assert current.open_current(archive.git_dir) is None
    assert "Formation" in ask(archive, "search", "formation")
    found = current.open_current(archive.git_dir)
    head = archive.head()
    assert found is not None and head is not None and found[0].head == str(head.id)
    found[0].close()


def test_head_is_read_from_loose_and_packed_refs_and_when_detached(archive: Store) -> None:
    commit = archive.head()
    assert commit is not None
    head = str(commit.id)
    assert current.head_oid(archive.git_dir) == head
    subprocess.run(["git", "-C", str(archive.git_dir), "pack-refs", "--all"], check=True)
    assert not (archive.git_dir / "refs" / "heads" / "main").exists()
    assert current.head_oid(archive.git_dir) == head
    ask(archive, "search", "halo")
    found = current.open_current(archive.git_dir)
    assert found is not None
    found[0].close()
    parent = str(commit.parents[0].id)
    (archive.git_dir / "HEAD").write_text(parent + "\n")
    assert current.head_oid(archive.git_dir) == parent
    assert current.open_current(archive.git_dir) is None  # HEAD moved back: not current


def test_a_config_change_is_seen_by_the_next_question(archive: Store) -> None:
    ask(archive, "search", "halo")
    archive.repo.config["gitarchive.timezone"] = "Pacific/Kiritimati"  # UTC+14: a day later
    assert current.open_current(archive.git_dir) is None
    assert "2024-01-11" in ask(archive, "search", "halo")
    found = current.open_current(archive.git_dir)
    assert found is not None
    found[0].close()
    assert found[1] == {"gitarchive.timezone": "Pacific/Kiritimati"}
    assert "2024-01-11" in ask(archive, "search", "halo")  # answered from the record
    assert "2024-01-10" in ask(archive, "search", "halo", "--timezone", "UTC")
    archive.repo.config["gitarchive.timezone"] = "Not/A_Zone"
    result = CliRunner().invoke(main, ["search", "halo", "--repo", str(archive.git_dir)])
    assert result.exit_code != 0 and "unknown time zone 'Not/A_Zone'" in result.output


def test_an_unknown_timezone_option_is_the_same_error_from_a_current_index(
    archive: Store,
) -> None:
    ask(archive, "search", "halo")
    result = CliRunner().invoke(
        main, ["search", "halo", "--timezone", "Mars/Base", "--repo", str(archive.git_dir)]
    )
    assert result.exit_code != 0 and "unknown time zone 'Mars/Base'" in result.output


def test_a_config_that_includes_another_file_is_never_trusted(archive: Store) -> None:
    config = archive.git_dir / "config"
    config.write_text(config.read_text() + "[include]\n\tpath = extra.config\n")
    ask(archive, "search", "halo")
    assert current.open_current(archive.git_dir) is None
    assert "Halo" in ask(archive, "search", "halo")


def test_a_checkout_is_found_from_its_top_but_not_from_a_subdirectory(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "checkout")
    store.commit(playlist(PID, "Road Trip", "Halo"), "run 1", when=(at("2024-01-10"), 0))
    top = tmp_path / "checkout"
    assert current.git_dir_of(top) == top / ".git"
    assert current.git_dir_of(top / "playlists") is None
    ask(top, "search", "halo")
    found = current.open_current(top)
    assert found is not None
    found[0].close()
    assert current.open_current(top / "playlists") is None
    assert "Halo" in ask(top / "playlists", "search", "halo")  # asked through pygit2


def test_a_damaged_index_is_not_trusted_and_is_rebuilt(archive: Store) -> None:
    ask(archive, "search", "halo")
    path = index_path(archive)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    assert current.open_current(archive.git_dir) is None
    assert "Halo" in ask(archive, "search", "halo")


def test_a_worktree_git_file_is_left_to_pygit2(tmp_path: Path, archive: Store) -> None:
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / ".git").write_text(f"gitdir: {archive.git_dir}\n")
    assert current.git_dir_of(linked) is None
    assert current.git_dir_of(archive.git_dir) == archive.git_dir


def test_no_match_from_a_current_index_is_the_same_message(archive: Store) -> None:
    ask(archive, "search", "halo")
    found = current.open_current(archive.git_dir)
    assert found is not None
    found[0].close()
    result = CliRunner().invoke(main, ["search", "zzz", "--repo", str(archive.git_dir)])
    assert result.exit_code == 1 and "No track matches 'zzz'." in result.output
    result = CliRunner().invoke(main, ["search", "  ", "--repo", str(archive.git_dir)])
    assert result.exit_code != 0 and "give some text to search for" in result.output
