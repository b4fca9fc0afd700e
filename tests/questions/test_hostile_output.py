"""The questions' answers as a person gets them: on a terminal, in a pipe that closes
early, redirected to a full device, in a Latin-1 locale, with names that hold escape
sequences, line breaks, wide and combining characters."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from terminal_support import GITARCHIVE, Terminal

from gitarchive.archive import layout, render
from gitarchive.archive.model import Link, Playlist, Track
from gitarchive.cli import main
from gitarchive.git.store import Store
from gitarchive.questions.output import table

PID = "7" * 22
RED = "\x1b[31m"
TITLE = "\x1b]0;pwned\x07"  # sets the terminal window's title


def _track(n: int, name: str, artist: str = "Artist", album: str = "Album") -> Track:
    return Track(
        url=f"https://open.spotify.com/track/T{n:021d}", name=name,
        album=Link(album, ""), artists=(Link(artist, ""),), duration_ms=200_000,
    )


TRACKS = (
    _track(1, f"Evil {RED}RED{TITLE} title", f"Art{RED}ist", "Alb\rum"),
    _track(2, "Line\nbreak\tand tab", "Zoë e\u0301", "深夜 Mix"),
    _track(3, "=HYPERLINK(\"http://x/\",\"y\")", "+Someone", "@Other"),
)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An archive of one playlist whose names hold what a terminal obeys."""
    path = tmp_path_factory.mktemp("hostile") / "archive"
    store = Store.init(path, bare=True)
    playlist = Playlist(
        url=f"https://open.spotify.com/playlist/{PID}", original_name=f"Mix {RED}red",
        description=f"desc {TITLE}\nline 2", owner=Link("Owner"), tracks=TRACKS,
        num_followers=3,
    )
    store.commit({layout.registry_path(PID): b"",
                  layout.pretty_json_path(PID): playlist.to_json().encode(),
                  layout.plain_path(PID): render.plain(playlist).encode()},
                 "run 1", when=(1_700_000_000, 0))
    yield path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "PYTHONIOENCODING")}
    return env | extra


def _run(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([GITARCHIVE, *args, "--repo", str(repo)], capture_output=True,
                          env=_env(**env), check=False, timeout=120)


# ------------------------------------------------------------- what is shown


def test_the_table_shows_escape_sequences_and_keeps_each_row_one_line(hostile: Path) -> None:
    result = CliRunner().invoke(main, ["show", PID, "--repo", str(hostile)], color=True)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\r" not in result.output
    assert "Evil \\x1b[31mRED\\x1b]0;pwned\\x07 title" in result.output
    assert "Mix \\x1b[31mred" in result.output.splitlines()[0]
    rows = result.output.split("\n\n", 1)[1].splitlines()
    assert len(rows) == 1 + len(TRACKS)  # the line break and the tab stayed in their row
    assert "Line break and tab" in rows[2]


def test_search_and_diff_show_escape_sequences_too(hostile: Path) -> None:
    for args in (["search", "evil"], ["diff", PID]):
        result = CliRunner().invoke(main, [*args, "--repo", str(hostile)], color=True)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\\x1b[31m" in result.output


def test_wide_and_combining_characters_keep_the_columns_aligned() -> None:
    out = table(("Title", "Album"), [("深夜", "X"), ("Zoe\u0301", "Y"), ("abcd", "Z")])
    # 深夜: four columns; e + combining acute: one
    assert out.splitlines() == ["Title  Album", "深夜   X", "Zoe\u0301    Y", "abcd   Z"]
    cut = table(("T", "A"), [("深夜深夜深夜", "x")], width=11).splitlines()[1]
    assert cut == "深夜深…   x"  # cut to 8 columns: 7, and one to pad (a wide one is whole)


def test_a_data_format_keeps_every_byte_in_a_pipe(hostile: Path) -> None:
    """click strips escape sequences from text that goes to a pipe or a file: the name
    in `show --format plain > file` lost its characters, unlike the archive's own file."""
    plain = Store(str(hostile)).read(layout.plain_path(PID))
    result = CliRunner().invoke(main, ["show", PID, "--format", "plain",
                                       "--repo", str(hostile)])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == plain
    csv = CliRunner().invoke(main, ["export", "--format", "csv", "--repo", str(hostile)])
    assert f"Evil {RED}RED{TITLE} title".encode() in csv.stdout_bytes
    # Decided: the data stays exact, formula-looking cells too (docs/commands.md).
    assert b'"=HYPERLINK(""http://x/"",""y"")",+Someone,@Other,' in csv.stdout_bytes


def test_a_data_format_on_a_terminal_shows_what_the_terminal_would_obey(hostile: Path) -> None:
    for fmt in ("plain", "csv", "md"):
        terminal = Terminal(["show", PID, "--format", fmt, "--repo", str(hostile)])
        assert terminal.finish() == 0
        shown = terminal.read()
        assert b"\x1b" not in shown and b"\x07" not in shown, (fmt, shown)
        assert b"\\x1b" in shown, (fmt, shown)


# ------------------------------------------------------------- where it goes


def test_a_reader_that_stops_early_ends_the_command_quietly_as_sigpipe_would(
    hostile: Path,
) -> None:
    """It was status 1, an error's, with nothing said."""
    repo = ["--repo", str(hostile)]
    for args in (["log", PID, *repo], ["show", PID, *repo], ["search", "e", *repo],
                 ["export", "--format", "csv", *repo], ["--help"]):
        proc = subprocess.Popen([GITARCHIVE, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before the first line
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 141, (args, err)
        assert err == b"", (args, err)


def test_a_full_device_is_one_line_not_a_bug(hostile: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    repo = ["--repo", str(hostile)]
    for args in (["log", PID, *repo], ["show", PID, "--format", "json", *repo], ["--version"]):
        with open("/dev/full", "wb") as full:
            proc = subprocess.run([GITARCHIVE, *args], stdout=full,
                                  stderr=subprocess.PIPE, env=_env(), check=False, timeout=120)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.decode().splitlines() == [
            "Error: cannot write the output: No space left on device"
        ]


def test_a_latin1_locale_gets_its_text_with_replacements_and_data_in_utf8(
    hostile: Path,
) -> None:
    for args in (["show", PID], ["log", PID], ["diff", PID], ["search", "Zoë"]):
        proc = _run(hostile, *args, PYTHONIOENCODING="latin-1")
        assert proc.returncode == 0, (args, proc.stderr)
        assert b"Traceback" not in proc.stderr
    assert "深夜 Mix".encode() in _run(hostile, "show", PID, "--format", "csv",
                                     PYTHONIOENCODING="latin-1").stdout
