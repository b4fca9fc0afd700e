"""docs/commands.md documents every command with its exact --help, the README lists them
all, and its front door works.

To refresh the help blocks after changing a command:
    UPDATE_README=1 .venv/bin/pytest tests/test_readme.py
That rewrites README.md and docs/commands.md and still fails (what it read was out of
date); the next run, without UPDATE_README, passes once the rewritten files are checked in.
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
COMMANDS_DOC = README.parent / "docs" / "commands.md"
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


def documented_help(doc: Path) -> dict[str, str]:
    """The help blocks of DOC, refreshed first under UPDATE_README (the check still fails)."""
    text = doc.read_text(encoding="utf-8")
    if os.environ.get("UPDATE_README"):
        def refresh(match: re.Match[str]) -> str:
            name = match["name"]
            body = help_text(tuple(name.split()))
            return f"<!-- help: {name} -->\n```text\n{body}```\n<!-- /help -->"

        refreshed = BLOCK.sub(refresh, text)
        if refreshed != text:
            doc.write_text(refreshed, encoding="utf-8")  # checked below as it was: fails
    return {m["name"]: m["body"] for m in BLOCK.finditer(text)}


def assert_current(doc: Path, documented: dict[str, str], expected: set[str]) -> None:
    missing = sorted(expected - documented.keys())
    stale = sorted(name for name in documented if name not in expected)
    assert not missing, f"{doc.name} lacks a help block for: {missing} (see this file's docstring)"
    assert not stale, f"{doc.name} documents commands that no longer exist: {stale}"
    for name in expected:
        path = tuple(name.split()) if name else ()
        assert documented[name] == help_text(path), (
            f"{doc.name} help of '{name or 'gitarchive'}' was out of date"
            + (" (rewritten now: review it, then run again)" if os.environ.get("UPDATE_README")
               else ": UPDATE_README=1 .venv/bin/pytest tests/test_readme.py")
        )


def test_docs_have_every_commands_current_help() -> None:
    """docs/commands.md has every command's --help; the README, the list of them all."""
    everything = {" ".join(path) for path in command_paths()}
    assert_current(COMMANDS_DOC, documented_help(COMMANDS_DOC), everything)
    assert_current(README, documented_help(README), {""})


def test_readme_points_to_every_command() -> None:
    """Each top-level command is named in the README's table, which links to its details."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| for | commands | in detail |"):]
    table = table[: table.index("\n\n")]
    named = set(re.findall(r"`([a-z]+)`", table))
    assert named == set(main.list_commands(click.Context(main)))
    anchors = set(re.findall(r"\(docs/commands\.md#([a-z0-9-]+)\)", table))
    headings = re.findall(r"^## (.+)$", COMMANDS_DOC.read_text(encoding="utf-8"), re.M)
    slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
    assert anchors and anchors <= slugs, anchors - slugs


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



HELP_ELSEWHERE = """
import json, sys
import click
from click.testing import CliRunner
from gitarchive.cli import main

def paths(group, prefix=()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from paths(command, (*prefix, name))

json.dump({" ".join(p): CliRunner().invoke(main, [*p, "--help"], prog_name="gitarchive",
                                           terminal_width=80).output
           for p in paths(main)}, sys.stdout)
"""


def test_help_is_the_same_for_every_user(tmp_path: Path) -> None:
    """Another user's --help (another home, working directory, config) is the documented
    one: the README's test command must pass for anyone who runs it."""
    import json
    import subprocess
    import sys

    home = tmp_path / "another user"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env["HOME"] = str(home)
    answer = subprocess.run([sys.executable, "-c", HELP_ELSEWHERE], cwd=home, env=env,
                            capture_output=True, text=True, check=True)
    documented = documented_help(COMMANDS_DOC)
    for name, text in json.loads(answer.stdout).items():
        assert text == documented[name], f"gitarchive {name} --help depends on the user"


def test_every_option_the_docs_show_exists() -> None:
    """Each `gitarchive COMMAND --option` (or `COMMAND --option`) in the README's and
    docs/commands.md's code names an option that COMMAND has: a renamed flag fails here."""
    ctx = click.Context(main)
    wrong = []
    for doc in (README, COMMANDS_DOC):
        text = doc.read_text(encoding="utf-8")
        code = re.findall(r"```[a-z]*\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]+)`", text)
        for piece in code:
            piece = re.sub(r"\$\([^)]*\)", "", piece.replace("\\\n", " "))
            for part in re.split(r"[|;&#\n]", piece):
                words = part.split()
                if words and words[0].endswith("gitarchive"):
                    words = words[1:]
                command = main.get_command(ctx, words[0]) if words else None
                if command is None:
                    continue
                if isinstance(command, click.Group) and len(words) > 1:
                    command = command.get_command(ctx, words[1]) or command
                known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
                wrong += [f"{doc.name}: {part.strip()}" for word in words[1:]
                          if re.fullmatch(r"--?[a-zA-Z][\w-]*", word.split("=")[0])
                          and word.split("=")[0] not in known | {"-h", "--help"}]
    assert not wrong, wrong


def test_readme_shows_what_schedule_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's crontab line and unit lines are schedule's output for its paths."""
    from gitarchive.ops import schedule

    home = Path("/home/me")
    monkeypatch.setattr(schedule, "gitarchive_command",
                        lambda: [str(home / ".local/gitarchive/bin/gitarchive")])
    plan = schedule.Plan(repo=home / "playlists", env_file=home / ".config/gitarchive/env")
    text = README.read_text(encoding="utf-8")
    cron = [line for line in schedule.cron(plan).splitlines() if not line.startswith("#")]
    assert len(cron) == 1 and f"\n{cron[0]}\n" in text
    units = "\n".join(schedule.systemd(plan).values()).splitlines()
    shown = text[text.index("```ini\n"):]
    shown = shown[: shown.index("```\n", 7)]
    for line in shown.splitlines()[1:]:
        assert not line or line.startswith("# ") or line in units, line
