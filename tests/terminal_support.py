"""A command run as a person runs it: in a terminal (a pty that is its controlling
terminal, its process group the foreground one), so Ctrl-C, a closed window and the
terminal's width reach it as they would from a real one."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

GITARCHIVE = str(Path(sys.executable).parent / "gitarchive")


class Terminal:
    """``gitarchive ARGS`` in a new pty ``columns`` wide; ``read`` what it shows."""

    def __init__(self, args: Sequence[str], *, columns: int = 80,
                 env: Mapping[str, str] | None = None) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        environment = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
        environment |= {"TERM": "xterm-256color", **(env or {})}
        self.proc = subprocess.Popen([GITARCHIVE, *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=environment,
                                     preexec_fn=_own_terminal)  # noqa: PLW1509 - no threads
        os.close(slave)
        self.shown = b""

    def read(self, timeout: float = 0.1) -> bytes:
        """What the terminal got until now (waiting up to ``timeout`` for more)."""
        end = time.monotonic() + timeout
        while self.master >= 0 and select.select([self.master], [], [],
                                                 max(0.0, end - time.monotonic()))[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the program ended and closed its side
                chunk = b""
            if not chunk:
                break
            self.shown += chunk
        return self.shown

    def wait_for(self, text: bytes, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while text not in self.read() and time.monotonic() < end and self.proc.poll() is None:
            pass
        assert text in self.shown, self.shown

    def type(self, keys: bytes) -> None:
        """Keys as typed (b"\\x03" is Ctrl-C: the terminal sends SIGINT)."""
        os.write(self.master, keys)

    def close(self) -> None:
        """Close the window: the terminal hangs up (SIGHUP to the program)."""
        os.close(self.master)
        self.master = -1

    def finish(self, timeout: float = 60.0) -> int:
        """Wait for the program's end; its exit status (-N: killed by signal N)."""
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            self.read()
        code = self.proc.wait(timeout=max(0.0, end - time.monotonic()))
        self.read()
        if self.master >= 0:
            os.close(self.master)
            self.master = -1
        return code

    def group_left(self) -> list[str]:
        """The processes of its group still running (forked helpers it left behind)."""
        time.sleep(0.2)
        found = subprocess.run(["pgrep", "-g", str(self.proc.pid)], capture_output=True,
                               text=True, check=False)
        return found.stdout.split()


def _own_terminal() -> None:
    """In the child: a new session whose controlling terminal is the pty (its stdin)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
