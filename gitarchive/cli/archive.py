"""Commands: archive."""

import click

COMMANDS: list[click.Command] = []
