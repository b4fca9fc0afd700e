"""The ``gitarchive`` command line: thin click commands over the library modules."""

from __future__ import annotations

import click

from gitarchive import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gitarchive")
def main() -> None:
    """A git-native history of Spotify playlists.

    Fetches registered playlists from the Spotify Web API, writes plain files
    and commits them with pygit2; rebuilds cumulative views from history.
    """


def _register() -> None:
    from gitarchive.cli import archive, history, ops, query

    for module in (archive, history, ops, query):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
