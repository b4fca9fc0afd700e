"""Commands: history."""

import click

COMMANDS: list[click.Command] = []
