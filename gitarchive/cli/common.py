"""Options and helpers every command shares: --repo, opening the store, error mapping."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from gitarchive.git.store import Store, StoreError


def repo_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--repo DIR``: the archive repository (default: the current directory)."""
    return click.option(
        "--repo",
        "repo_path",
        default=".",
        show_default=True,
        type=click.Path(file_okay=False),
        help="Archive repository (a checkout or a bare repository).",
    )(func)


def open_store(repo_path: str) -> Store:
    try:
        return Store(repo_path)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's expected errors into one-line messages instead of tracebacks."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (StoreError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper
