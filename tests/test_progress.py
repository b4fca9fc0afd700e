"""progress: the counted form (CountFn) shows a bar only on a terminal, one per job."""

from __future__ import annotations

import sys

import pytest

from gitarchive.progress import no_count, terminal_counter


def test_counter_is_silent_without_a_terminal_or_when_quiet(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert terminal_counter("Fetching objects") is no_count  # stderr is captured: no terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert terminal_counter("Fetching objects", quiet=True) is no_count
    assert capsys.readouterr().err == ""


def test_counter_opens_a_bar_per_job_and_closes_it_at_the_total(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    count = terminal_counter("Fetching objects")
    assert count is not no_count
    count(1, 1)  # too small a job for a bar
    assert capsys.readouterr().err == ""
    for job in (10, 4):  # one source after the other, through the same counter
        for done in range(1, job + 1):
            count(done, job)
    err = capsys.readouterr().err
    first, second = err.split("\n")[:2]  # closing a bar ends its line
    assert "Fetching objects" in first and first.removesuffix("\x1b[?25h").endswith("100%")
    assert " 25%" in second and "100%" in second  # the second job's own bar, 1 of 4 first
    assert err.count("\n") == 2
