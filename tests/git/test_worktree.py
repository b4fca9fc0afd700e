"""A commit updates only the checkout's files that changed; everything else is left as it is."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gitarchive.git.store import Store


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def test_only_changed_paths_are_written_and_the_checkout_stays_clean(tmp_path: Path) -> None:
    root = tmp_path / "a"
    store = Store.init(root)
    files = {f"playlists/plain/p{i}": f"{i}\n".encode() for i in range(100)}
    store.commit({**files, "keep/untracked-neighbour": b"x"}, "many")  # >= a pack's worth
    (root / "notes.txt").write_text("the user's own untracked file\n")
    untouched = root / "playlists/plain/p7"
    before = untouched.stat().st_mtime_ns, untouched.stat().st_ino
    new = {f"playlists/cumulative/p{i}.md": f"# {i}\n".encode() for i in range(100)}
    store.commit({**new, "playlists/plain/p1": b"changed\n", "playlists/plain/p2": None,
                  "keep/untracked-neighbour": None}, "views")
    assert (root / "playlists/cumulative/p42.md").read_bytes() == b"# 42\n"
    assert (root / "playlists/plain/p1").read_bytes() == b"changed\n"
    assert not (root / "playlists/plain/p2").exists()
    assert not (root / "keep").exists()  # its folder went with its last file
    assert (untouched.stat().st_mtime_ns, untouched.stat().st_ino) == before
    assert (root / "notes.txt").read_text() == "the user's own untracked file\n"
    assert git(root, "status", "--porcelain") == "?? notes.txt\n"
    assert git(root, "diff", "--cached", "--stat") == ""
