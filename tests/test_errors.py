"""One error type: the CLI shows a GitarchiveError as its message and exit code, and
anything else as the bug it is (traceback included, in --log-file too)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitarchive import errors, exitcodes
from gitarchive.archive import registry
from gitarchive.cli import fetching, main, run
from gitarchive.git.store import Store

CLI = Path(__file__).resolve().parents[1] / "gitarchive" / "cli"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), "the CLI let an exception escape"
    return result.exit_code, result.output


def test_every_error_is_a_gitarchive_error_with_a_code() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert len(classes) > 15
    for cls in classes:
        assert issubclass(cls, errors.GitarchiveError), cls
        assert cls.exit_code in vars(exitcodes).values(), cls


def test_one_playlist_not_found() -> None:
    """Spotify's 404 and the archive's 'no such name' are one class (the 404 also a
    SpotifyError, so a fetch records it against its playlist)."""
    assert issubclass(errors.NotOnSpotify, errors.PlaylistNotFound)
    assert issubclass(errors.NotOnSpotify, errors.SpotifyError)
    assert not issubclass(errors.PlaylistNotFound, errors.SpotifyError)


def test_a_gitarchive_error_is_its_message_and_exit_code(tmp_path: Path) -> None:
    code, out = invoke("add", "37i9dQZF1DX5LEXW9eXA0n", "--repo", str(tmp_path / "none"))
    assert code == exitcodes.ERROR
    assert out.startswith("Error: ") and "Traceback" not in out


def test_an_unexpected_exception_is_shown_as_a_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    Store.init(tmp_path / "a")

    def broken(*args: object, **kwargs: object) -> list[str]:
        raise ValueError("an internal mistake")

    monkeypatch.setattr(registry, "add", broken)
    monkeypatch.setattr(sys, "argv", ["gitarchive", "add", "37i9dQZF1DX5LEXW9eXA0n",
                                      "--repo", str(tmp_path / "a")])
    with pytest.raises(SystemExit) as exit_info:
        run()  # what the installed command and python -m gitarchive run
    assert exit_info.value.code == exitcodes.ERROR
    err = capsys.readouterr().err
    assert "unexpected ValueError: an internal mistake" in err
    assert "This is a bug in gitarchive" in err and "Traceback (most recent call last)" in err
    # main() itself (what tests invoke) lets the exception through, not a one-liner.
    result = CliRunner().invoke(main, sys.argv[1:])
    assert isinstance(result.exception, ValueError)


def test_a_bug_in_a_logged_run_leaves_its_traceback_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store.init(tmp_path / "a")
    registry.add(Store(tmp_path / "a"), ["37i9dQZF1DX5LEXW9eXA0n"])
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", "id")
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "secret")

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(fetching, "fetch", broken)
    log = tmp_path / "run.log"
    result = CliRunner().invoke(
        main, ["fetch", "--repo", str(tmp_path / "a"), "--log-file", str(log), "-q"]
    )
    assert isinstance(result.exception, KeyError)
    text = log.read_text()
    assert "this is a bug in gitarchive" in text and "KeyError: 'surprise'" in text
    assert "finished: exit 1" in text


def _caught_names(handler: ast.ExceptHandler) -> set[str]:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return {k.id if isinstance(k, ast.Name) else ast.unparse(k) for k in kinds if k is not None}


def test_the_cli_catches_no_builtin_error_to_show_it_as_a_message() -> None:
    """Only the one handler (cli/__init__.run) catches Exception; no command catches
    ValueError, LookupError or Exception (a bug would become a one-line message) unless
    it only logs and raises it again unchanged."""
    broad = {"ValueError", "LookupError", "KeyError", "Exception", "BaseException", "TypeError"}
    found = []
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ExceptHandler):
                names = _caught_names(node) if node.type is not None else {"(bare)"}
                reraises = isinstance(node.body[-1], ast.Raise) and node.body[-1].exc is None
                if names & (broad | {"(bare)"}) and not reraises:
                    found.append(f"{path.name} {sorted(names)}")
    assert found == ["__init__.py ['Exception']"]
