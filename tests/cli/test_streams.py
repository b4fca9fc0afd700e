"""The installed command with streams cron and daemons give it: output that cannot be written
(/dev/full) is one line and exit 1, not a bug's traceback; a closed stdout or stderr
(``>&-``) is /dev/null, so a nightly fetch still commits instead of failing unseen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import LONG, SMALL, new_archive

from gitarchive.git.store import Store
from gitarchive.spotify.standin import StandIn

GITARCHIVE = str(Path(sys.executable).parent / "gitarchive")
full_device = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")


@full_device
def test_output_to_a_full_device_is_one_line_and_exit_1() -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run([GITARCHIVE, "--help"], stdout=full, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr == "Error: cannot write the output: No space left on device\n"


@full_device
def test_a_fetch_logs_lost_output_as_such_and_keeps_its_commit(api: StandIn,
                                                               tmp_path: Path) -> None:
    repo = new_archive(tmp_path, SMALL)
    log = tmp_path / "fetch.log"
    with open("/dev/full", "w") as full:
        done = subprocess.run([GITARCHIVE, "fetch", "--repo", str(repo), "--log-file", str(log)],
                              stdout=full, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              text=True, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.endswith("Error: cannot write the output: No space left on device\n")
    assert "bug" not in log.read_text() and "fetch finished: exit 1" in log.read_text()
    assert Store(repo).read(f"playlists/plain/{SMALL}") is not None
    cron = {k: v for k, v in os.environ.items() if k.startswith(("SPOTIFY_", "GIT_"))}
    cron |= {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # as cron runs it: no LANG
    with open("/dev/full", "w") as full:  # stderr too (>/dev/full 2>&1): was status 120
        done = subprocess.run([GITARCHIVE, "fetch", "--repo", str(repo)], stdout=full,
                              stderr=full, stdin=subprocess.DEVNULL, env=cron, check=False)
    assert done.returncode == 1


def test_a_fetch_with_stdin_stdout_and_stderr_closed_commits(api: StandIn,
                                                             tmp_path: Path) -> None:
    repo = new_archive(tmp_path, SMALL, LONG)
    log = tmp_path / "fetch.log"
    command = f"exec {GITARCHIVE} fetch --repo '{repo}' --log-file '{log}' <&- >&- 2>&-"
    done = subprocess.run(["/bin/sh", "-c", command], env=os.environ, check=False)
    assert done.returncode == 0, log.read_text()
    assert "fetch finished: exit 0" in log.read_text()
    assert Store(repo).read(f"playlists/plain/{LONG}") is not None
    shown = subprocess.run(f"exec {GITARCHIVE} show {LONG} --repo '{repo}' >&- 2>&-",
                           shell=True, check=False)
    assert shown.returncode == 0
