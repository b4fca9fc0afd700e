"""The README documents every command with its exact --help, and its front door works.

To refresh the help blocks after changing a command:
    UPDATE_README=1 .venv/bin/pytest tests/test_readme.py
That rewrites README.md and still fails (the README it read was out of date); the next
run, without UPDATE_README, passes once the rewritten README is the one checked in.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gitarchive.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(
    r"<!-- help: ?(?P<name>[a-z -]*?) ?-->\n```text\n(?P<body>.*?)```\n<!-- /help -->", re.S
)


def command_paths(
    group: click.Group = main, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))


def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(
        main, [*path, "--help"], prog_name="gitarchive", terminal_width=80
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_readme_has_every_commands_current_help() -> None:
    text = README.read_text(encoding="utf-8")
    if os.environ.get("UPDATE_README"):
        def refresh(match: re.Match[str]) -> str:
            name = match["name"]
            body = help_text(tuple(name.split()))
            return f"<!-- help: {name} -->\n```text\n{body}```\n<!-- /help -->"

        refreshed = BLOCK.sub(refresh, text)
        if refreshed != text:
            README.write_text(refreshed, encoding="utf-8")  # checked below as it was: fails
    documented = {m["name"]: m["body"] for m in BLOCK.finditer(text)}
    expected = {" ".join(path) for path in command_paths()} | {""}
    missing = sorted(expected - documented.keys())
    stale = sorted(name for name in documented if name and name not in expected)
    assert not missing, f"README lacks a help block for: {missing} (see this file's docstring)"
    assert not stale, f"README documents commands that no longer exist: {stale}"
    for name in expected:
        path = tuple(name.split()) if name else ()
        assert documented[name] == help_text(path), (
            f"README help of '{name or 'gitarchive'}' was out of date"
            + (" (rewritten now: review it, then run again)" if os.environ.get("UPDATE_README")
               else ": UPDATE_README=1 .venv/bin/pytest tests/test_readme.py")
        )


@pytest.mark.parametrize("path", list(command_paths()), ids=" ".join)
def test_every_option_has_help(path: tuple[str, ...]) -> None:
    ctx = click.Context(main)
    command: click.Command | None = main
    for part in path:
        assert isinstance(command, click.Group)
        command = command.get_command(ctx, part)
    assert command is not None and command.help, f"{path} has no docstring"
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{' '.join(path)} {param.opts[0]} has no help="


def test_readme_opens_with_the_two_front_door_commands() -> None:
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    demo, tests = blocks[0].strip(), blocks[1].strip()
    assert "pip install" in demo and "gitarchive demo" in demo
    assert "pip install" in tests and "pytest" in tests
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci, ".ci/run must run the README's test command exactly"


def test_every_command_module_is_registered() -> None:
    """The lazy command table names every command the modules define, and no other."""
    import importlib

    from gitarchive.cli import COMMAND_MODULES

    defined = {
        command.name: module
        for module in set(COMMAND_MODULES.values())
        for command in importlib.import_module(f"gitarchive.cli.{module}").COMMANDS
    }
    assert defined == COMMAND_MODULES
