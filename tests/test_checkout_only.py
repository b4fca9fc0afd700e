"""The suite runs on any clone: nothing in tests, benchmarks or the package reads outside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A path that leaves the checkout: the shared folder beside it, or this machine's work tree.
OUTSIDE = re.compile(r"""["'/](?:\.\./shared|/work/)|parents\[\d\]\.parent\s*/""")


def test_no_code_reads_outside_the_checkout() -> None:
    offenders = []
    for folder in ("tests", "benchmarks", "gitarchive", "hooks", "fixtures"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if OUTSIDE.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "paths outside the checkout:\n" + "\n".join(offenders)


def test_golden_files_are_in_the_checkout() -> None:
    golden = ROOT / "tests" / "golden"
    names = {p.name for p in golden.iterdir()}
    assert {
        "pretty-09D0CKBRWkBBoPn46V6YTO.json",
        "pretty-09D0CKBRWkBBoPn46V6YTO.md",
        "pretty-37i9dQZF1DX5LEXW9eXA0n.md",
    } <= names
