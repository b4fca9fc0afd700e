"""How the ``gitarchive`` process ends (gitarchive.cli.leave): the command's output and exit
status, the atexit handlers run, and no teardown of the heap (which after a big rebuild
took 0.1-0.15 s) — unless another thread still runs, when the usual exit does it all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import atexit, os, sys, threading, time
from gitarchive.cli import leave, run
marker = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT)

def note(text, write=os.write, fd=marker):  # bound now: the teardown clears the names
    write(fd, (text + "\\n").encode())

class Loud:
    def __del__(self, note=note):
        note("torn down")

kept = Loud()  # freed only by the interpreter's own teardown
atexit.register(note, "atexit")
if sys.argv[2] == "thread":
    threading.Thread(target=time.sleep, args=(0.2,)).start()
if sys.argv[2] == "text":
    leave("it went wrong")
sys.argv = ["gitarchive", *sys.argv[3:]]
run()
"""


def _run(tmp_path: Path, mode: str, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    marker = tmp_path / "marker"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(marker), mode, *args],
                          capture_output=True, text=True, timeout=60)
    return done, marker.read_text() if marker.exists() else ""


def test_a_command_ends_with_its_output_its_status_and_atexit_but_no_teardown(
        tmp_path: Path) -> None:
    done, marks = _run(tmp_path, "plain", "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("Usage: gitarchive") and "whoami" in done.stdout
    assert marks == "atexit\n"  # the handler ran, the heap was not taken apart


def test_an_error_keeps_its_status_and_message(tmp_path: Path) -> None:
    done, marks = _run(tmp_path, "plain", "no-such-command")
    assert done.returncode == 2
    assert "No such command 'no-such-command'" in done.stderr
    assert marks == "atexit\n"
    done, marks = _run(tmp_path / "..", "plain", "show", "x", "--repo", str(tmp_path))
    assert done.returncode == 1 and done.stderr.startswith("Error: ")


def test_exit_with_a_text_says_it_and_ends_with_status_1(tmp_path: Path) -> None:
    done, marks = _run(tmp_path, "text")
    assert done.returncode == 1
    assert done.stderr == "it went wrong\n"
    assert marks == "atexit\n"


def test_with_another_thread_running_the_usual_exit_waits_for_it(tmp_path: Path) -> None:
    done, marks = _run(tmp_path, "thread", "--version")
    assert done.returncode == 0 and "version" in done.stdout
    assert marks.splitlines() == ["atexit", "torn down"]
