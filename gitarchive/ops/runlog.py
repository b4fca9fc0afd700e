"""``--log-file``: a timestamped record of unattended runs, appended, never holding a secret.

Commands log through the ``gitarchive.run`` logger; without ``--log-file`` it has
only a null handler (and does not propagate), so nothing reaches the terminal
twice. Every record passes through ``redact.redact`` on its way to the file.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from gitarchive.redact import redact

logger = logging.getLogger("gitarchive.run")
logger.addHandler(logging.NullHandler())
logger.propagate = False
logger.setLevel(logging.INFO)


def _utc(seconds: float | None) -> time.struct_time:
    return time.gmtime(seconds)


class _Redacting(logging.Formatter):
    converter = staticmethod(_utc)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _LogFile(logging.FileHandler):
    """A log file whose failure (full disk, /dev/full) never loses the run it records.

    The first failed write says so once on stderr; later records are dropped quietly.
    """

    failed = False

    def handleError(self, record: logging.LogRecord | None) -> None:  # noqa: N802 - logging's
        if self.failed:
            return
        self.failed = True
        error = sys.exc_info()[1]
        reason = getattr(error, "strerror", None) or error
        sys.stderr.write(
            f"warning: cannot write the log file {self.baseFilename} ({reason}); "
            "the run goes on without it\n"
        )

    def close(self) -> None:
        try:
            super().close()
        except OSError:
            self.handleError(None)


def open_log(path: str | os.PathLike[str]) -> logging.Handler:
    """Attach an appending handler for ``path``; OSError when it cannot be written."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handler = _LogFile(target, mode="a", encoding="utf-8")
    handler.setFormatter(
        _Redacting("%(asctime)sZ gitarchive[%(process)d] %(levelname)s %(message)s",
                   "%Y-%m-%dT%H:%M:%S")
    )
    logger.addHandler(handler)
    return handler


def close_log(handler: logging.Handler) -> None:
    logger.removeHandler(handler)
    handler.close()
