"""Commands: ops."""

import click

COMMANDS: list[click.Command] = []
