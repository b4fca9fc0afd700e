"""progress: the counted form (CountFn) shows a bar only on a terminal, one per job."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest
from click.testing import CliRunner
from terminal_support import Terminal

from gitarchive.cli import main
from gitarchive.progress import (
    above,
    end_line,
    fit,
    no_count,
    terminal_bar,
    terminal_counter,
)

T = TypeVar("T")


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


def test_the_line_fits_any_terminal_and_keeps_the_percentage() -> None:
    """On 40 columns click's bar (36 columns of bar) wrapped at each redraw: a new line
    each time. The line is now at most a column short of the terminal's width."""
    for columns in range(4, 121):
        for done in (0, 1, 37, 99, 100):
            line = fit("Replaying history", done, 100, 5.0, columns)
            assert len(line) <= columns - 1 or columns < 5
            assert line.endswith("%") or "%  " in line
            assert "\x1b" not in line
    assert fit("Replaying history", 37, 100, 5.0, 40) == "Replaying history  [####--------]   37%"
    assert fit("Replaying history", 37, 100, 5.0, 80).startswith("Replaying history  [")
    assert fit("Replaying history", 37, 100, 5.0, 80).endswith("37%  00:00:08")
    assert fit("Rendering cumulative views", 25, 100, 0.0, 25) == "Rendering cumulativ  25%"


def test_a_bar_in_a_narrow_terminal_redraws_in_place_with_no_escapes(tmp_path: Path) -> None:
    """What a person sees: a real rebuild in a 40-column terminal. Every redraw fits
    (no wrapped fragments), no escape sequence, and the bar's line ends before the summary."""
    demo = tmp_path / "demo"
    assert CliRunner().invoke(main, ["demo", str(demo), "--days", "3", "--quiet"]).exit_code == 0
    terminal = Terminal(["rebuild", "--full", "--repo", str(demo)], columns=40)
    assert terminal.finish() == 0
    shown = terminal.shown.decode()
    assert "\x1b" not in shown
    assert "%" in shown  # a bar was drawn
    for line in shown.split("\r\n"):
        for drawn in line.split("\r")[1:]:  # the redraws of a bar
            assert len(drawn) <= 39, drawn
    assert "\r\nReplayed whole history" in shown


def test_an_error_or_a_stop_ends_the_bar_line_first(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    items = iter(terminal_bar()("Fetching", list(range(10))))
    next(items)
    end_line()  # as the command line does before "Error: ..." or "interrupted"
    end_line()  # once only
    err = capsys.readouterr().err
    assert err.endswith("%\n") and err.count("\n") == 1


def test_a_delayed_bar_shows_nothing_for_a_quick_loop(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A question answered from its index at once draws no bar; the first one (seconds
    of replay in ~20 steps, fewer than the 100 items it used to need) draws one."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert list(terminal_bar(delay=60.0)("Replaying history", [1, 2, 3])) == [1, 2, 3]
    assert capsys.readouterr().err == ""
    assert list(terminal_bar(delay=0.0)("Replaying history", [1, 2, 3])) == [1, 2, 3]
    assert "100%" in capsys.readouterr().err


def test_export_goes_through_the_bar(tmp_path: Path) -> None:
    """export read the views and wrote its database (seconds each on 1,000 playlists x 365
    days) with nothing on the terminal: both loops now go through the ProgressFn."""
    from gitarchive.git.store import Store
    from gitarchive.questions import export as exporting

    demo = tmp_path / "demo"
    assert CliRunner().invoke(main, ["demo", str(demo), "--days", "3", "--quiet"]).exit_code == 0
    seen: list[tuple[str, int]] = []

    def recording(label: str, items: Sequence[T], /) -> Iterable[T]:
        seen.append((label, len(items)))
        return items

    playlists = exporting.collect(Store(demo), progress=recording)
    exporting.to_sqlite(playlists, tmp_path / "out.sqlite", progress=recording)
    assert seen == [("Reading the views", len(playlists)), ("Writing the database", len(playlists))]
    assert len(playlists) == 4


def test_a_note_during_a_bar_goes_above_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fetch's note on a skipped entry came out glued to the bar (``75%note: ...``)."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    for n in terminal_bar()("Fetching", [1, 2, 3, 4]):
        if n == 3:
            above("note: skipped entry 8")
    err = capsys.readouterr().err
    assert "%note" not in err and "\rnote: skipped entry 8" in err
    note_line, rest = err.split("\rnote: skipped entry 8")[1].split("\n", 1)
    assert note_line.strip() == ""  # the bar's characters cleared after the note
    assert rest.startswith("Fetching  [") and rest.endswith("100%\n")  # drawn again below
    above("plain")  # no bar: just the line
    assert capsys.readouterr().err == "plain\n"
    above("note: Mix\x1b]0;title\x07: skipped entry 8: podcast episode 'Folge\x1b[2J'")
    assert capsys.readouterr().err == (  # names from Spotify: shown, not obeyed
        "note: Mix\\x1b]0;title\\x07: skipped entry 8: podcast episode 'Folge\\x1b[2J'\n")
