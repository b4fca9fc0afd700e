"""Stopping a run from its terminal: Ctrl-C, systemd's SIGTERM, a closed window (SIGHUP).

Each ends the run as a person expects: one line saying so (no traceback, no click
"Aborted!"), exit status 128 + the signal, the lock released, the branch as it was,
no forked helper left running, and the next run does the work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pygit2
import pytest
from cli_support import LONG, SMALL, new_archive, run
from terminal_support import Terminal

from gitarchive import exitcodes
from gitarchive.git import lock
from gitarchive.git.store import Store
from gitarchive.spotify.standin import StandIn


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_fetch_stopped_midway_says_so_in_one_line_and_loses_nothing(
    api: StandIn, tmp_path: Path, how: signal.Signals
) -> None:
    repo = new_archive(tmp_path, SMALL, LONG)
    before = pygit2.Repository(str(repo)).head.target
    # Spotify asks for a minute's pause: the run is certainly mid-way when stopped.
    api.fail_next("/playlists/", 429, headers={"Retry-After": "60"})
    terminal = Terminal(["fetch", "--repo", str(repo)])
    end = time.monotonic() + 30
    while not any("/playlists/" in path for _, path in api.requests):
        assert time.monotonic() < end and terminal.proc.poll() is None, terminal.read()
        time.sleep(0.05)
    time.sleep(0.3)  # the 429 answered: every request now waits
    if how == signal.SIGINT:
        terminal.type(b"\x03")  # Ctrl-C, as typed
    elif how == signal.SIGHUP:
        terminal.close()  # the window closed: the terminal hangs up
    else:
        terminal.proc.send_signal(signal.SIGTERM)  # systemd stopping the unit
    code = terminal.finish(timeout=30)
    shown = terminal.shown.decode(errors="replace")
    assert code == 128 + how, shown
    assert terminal.group_left() == []
    assert "Traceback" not in shown and "Aborted" not in shown
    if how != signal.SIGHUP:  # a closed terminal shows nothing more
        lines = [line for line in shown.splitlines() if "gitarchive:" in line]
        assert len(lines) == 1 and "run it again" in lines[0], shown
    assert pygit2.Repository(str(repo)).head.target == before
    assert lock.lock_path(Store(repo)).read_text() == ""  # released, its record emptied
    code, out = run("fetch", "--repo", str(repo), "--quiet")
    assert code == exitcodes.OK, out
    assert pygit2.Repository(str(repo)).head.target != before


def test_a_fetch_stopped_while_spotify_has_not_answered_ends_at_once(
    api: StandIn, tmp_path: Path
) -> None:
    """Ctrl-C while a request is out and Spotify silent: the run ends now, not when the
    client gives up on the answer (its 30 s timeout; the request threads were waited for)."""
    mine = api.writes.add_playlist("Mine", [])
    repo = new_archive(tmp_path, mine)
    before = pygit2.Repository(str(repo)).head.target
    held = api.writes.hold("GET", mine)  # Spotify says nothing until the test is over
    try:
        terminal = Terminal(["fetch", "--repo", str(repo)])
        assert held.arrived.wait(30), terminal.read()
        terminal.type(b"\x03")
        code = terminal.finish(timeout=20)  # held up to 60 s: the client's timeout is 30 s
        assert not held.release.is_set()
    finally:
        held.release.set()
    shown = terminal.shown.decode(errors="replace")
    assert code == 128 + signal.SIGINT, shown
    assert "Traceback" not in shown and "run it again" in shown
    assert terminal.group_left() == []
    assert pygit2.Repository(str(repo)).head.target == before
    assert lock.lock_path(Store(repo)).read_text() == ""


def test_a_demo_stopped_midway_leaves_no_half_demo(tmp_path: Path) -> None:
    """The line says "run it again": a second demo refuses a directory that is not empty,
    so the half-written one is removed (an empty directory given by the user stays)."""
    for demo in (tmp_path / "new", tmp_path / "given"):
        if demo.name == "given":
            demo.mkdir()
        terminal = Terminal(["demo", str(demo), "--days", "365"])
        terminal.wait_for(b"Day 3 ")
        terminal.type(b"\x03")
        assert terminal.finish(timeout=30) == 128 + signal.SIGINT, terminal.shown
        assert "run it again" in terminal.shown.decode()
        assert demo.exists() == (demo.name == "given")
        assert not demo.exists() or not any(demo.iterdir())


def test_a_stop_once_the_command_is_done_waits_for_its_exit() -> None:
    """Ctrl-C between a command's last line and its exit (the atexit handlers, the flush):
    the work is done and committed, so it ends as it was going to (no traceback)."""
    script = (
        "import atexit, os, signal\n"
        "from gitarchive import stopping\n"
        "from gitarchive.cli import leave\n"
        "stopping.on_stop_raise()\n"
        "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))\n"
        "print('done')\n"
        "leave(0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "done\n", "")


def test_ctrl_c_ends_a_forked_half_quietly() -> None:
    """Ctrl-C reaches every process of the foreground group: a forked half (a split replay,
    the requests' half) printed "Process ForkProcess-1:" and a traceback over the bar.
    Here the half alone is signalled, so its own end is what is seen."""
    script = (
        "import os, time\n"
        "from gitarchive.history.parallel import Forked\n"
        "def work():\n"
        "    print(os.getpid(), flush=True)\n"
        "    time.sleep(30)\n"
        "    yield 1\n"
        "with Forked(work) as child:\n"
        "    print(len(child.finish()))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    os.kill(int(proc.stdout.readline()), signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (0, "0\n", "")  # it sent nothing, and said nothing


def test_a_signal_ignored_by_whoever_started_the_run_stays_ignored() -> None:
    """``nohup gitarchive fetch`` (SIGHUP ignored) outlives its terminal, and a job a shell
    starts in the background (SIGINT ignored) is not stopped by Ctrl-C, in the run and in
    its forked helpers; SIGTERM, not ignored, still stops the run."""
    script = (
        "import os, signal\n"
        "from gitarchive import stopping\n"
        "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "stopping.on_stop_raise()\n"
        "os.kill(os.getpid(), signal.SIGHUP)\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    stopping.in_child()\n"
        "    os.kill(os.getpid(), signal.SIGHUP)\n"
        "    os._exit(7)\n"
        "print('child', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    signal.pause()\n"
        "except KeyboardInterrupt as stop:\n"
        "    print(stopping.describe(stop), flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["child 7", "stopped by SIGTERM"]
