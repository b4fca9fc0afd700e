"""Commands: link and unlink (join a re-issued playlist's history to its old ID's)."""

from __future__ import annotations

import click

from gitarchive.archive import links
from gitarchive.cli.common import open_store, repo_option


@click.command("link")
@click.argument("old")
@click.argument("new")
@repo_option
def link_command(old: str, new: str, repo_path: str) -> None:
    """Record that playlist NEW continues playlist OLD (Spotify re-issued it).

    Committed in playlists/links. After the next rebuild, NEW's cumulative view
    starts with OLD's tracks and dates. 'gitarchive rebuild' suggests candidates;
    nothing is linked unless you run this.
    """
    store = open_store(repo_path)
    made = links.link(store, old, new)
    if made is None:
        click.echo("Already linked; nothing changed")
    else:
        click.echo(f"Linked {made[0]} -> {made[1]}; run 'gitarchive rebuild' to update the views")


@click.command("unlink")
@click.argument("new")
@repo_option
def unlink_command(new: str, repo_path: str) -> None:
    """Undo 'gitarchive link OLD NEW': NEW's history no longer continues OLD's."""
    store = open_store(repo_path)
    old, new_id = links.unlink(store, new)
    click.echo(f"Unlinked {old} -> {new_id}; run 'gitarchive rebuild' to update the views")


COMMANDS: list[click.Command] = [link_command, unlink_command]
