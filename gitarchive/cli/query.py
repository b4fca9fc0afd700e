"""Commands: query."""

import click

COMMANDS: list[click.Command] = []
