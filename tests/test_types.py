"""The type check is part of the tests: mypy --strict over the package (pyproject's
[tool.mypy]), and every ``# type: ignore`` says why it is there."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_strict_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_type_ignore_is_justified() -> None:
    """An ignore names its error code and has a comment (on its line or the line above)."""
    bare = []
    for path in sorted((ROOT / "gitarchive").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines):
            if "type: ignore" not in line:
                continue
            coded = re.search(r"type: ignore\[[a-z-]+(, [a-z-]+)*\]", line)
            said = re.search(r"type: ignore\[[^]]*\]\s+#\s*\S", line) or (
                n > 0 and lines[n - 1].strip().startswith("#")
            )
            if not (coded and said):
                bare.append(f"{path.relative_to(ROOT)}:{n + 1}")
    assert bare == []
