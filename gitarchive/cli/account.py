"""Commands about the Spotify account: login, logout, whoami."""

from __future__ import annotations

import webbrowser

import click

from gitarchive.archive.render import plural
from gitarchive.errors import GitarchiveError
from gitarchive.git.store import Store
from gitarchive.spotify import auth, credentials
from gitarchive.spotify.client import ENV_REFRESH


@click.command()
@click.option("--port", default=auth.DEFAULT_PORT, show_default=True,
              type=click.IntRange(0, 65535),
              help="Port of the redirect http://127.0.0.1:PORT/callback (it must be one of "
                   "your app's redirect URIs).")
@click.option("--print", "print_token", is_flag=True,
              help="Print the refresh token once on stdout (for a CI secret) instead of saving "
                   "it.")
@click.option("--no-browser", is_flag=True, help="Only print the URL to open.")
def login(port: int, print_token: bool, no_browser: bool) -> None:
    """Sign in to Spotify in the browser and keep a refresh token for every command.

    Uses the authorization-code flow with PKCE and the app in SPOTIFY_CLIENT_ID and
    SPOTIFY_CLIENT_SECRET (SPOTIFY_AUTHORIZE_URL and SPOTIFY_TOKEN_URL point
    elsewhere). The token is saved in $XDG_CONFIG_HOME/gitarchive/credentials
    (else ~/.config/gitarchive/credentials, mode 0600); SPOTIFY_REFRESH_TOKEN, when
    set, still wins.
    """
    # With --print, stdout carries the token alone: everything else goes to stderr.
    say_err = print_token

    def show_url(url: str, redirect_uri: str) -> None:
        click.echo(f"Your app's redirect URIs must include {redirect_uri}", err=say_err)
        click.echo("Open this URL to sign in to Spotify:", err=say_err)
        click.echo(url, err=say_err)

    app = auth.AppConfig.from_env()
    result = auth.login(
        app, port=port, show_url=show_url,
        open_browser=None if no_browser or not auth.has_browser() else webbrowser.open,
        timeout=auth.LOGIN_TIMEOUT,
    )
    who = f"{result.display_name} ({result.user_id})" if result.user_id else "a Spotify user"
    if print_token:
        click.echo(f"Signed in as {who}; the refresh token follows (nothing was saved)", err=True)
        click.echo(result.refresh_token)
        return
    try:
        path = credentials.save(
            credentials.SavedLogin(app.client_id, result.refresh_token, result.scope))
    except OSError as exc:
        raise GitarchiveError(
            f"cannot save the login: {exc.strerror} ({exc.filename})") from None
    click.echo(f"Signed in as {who}; saved to {path}")
    if auth.token_source() == ENV_REFRESH:
        click.echo(f"note: {ENV_REFRESH} is set and wins over the saved login; unset it to use "
                   "this one", err=True)


@click.command()
def logout() -> None:
    """Remove the login saved by 'gitarchive login' (SPOTIFY_REFRESH_TOKEN is not touched)."""
    try:
        path = credentials.delete()
    except OSError as exc:
        raise GitarchiveError(f"cannot remove the login: {exc.strerror}") from None
    if path is None:
        click.echo("Not signed in: there was no saved login")
    else:
        click.echo(f"Removed {path}")


@click.command()
def whoami() -> None:
    """Show which user and which kind of token (user or app) commands use, and its scopes."""
    identity = auth.whoami()
    click.echo(f"App: {identity.client_id}")
    if identity.kind == "user":
        click.echo(f"User: {identity.display_name} ({identity.user_id})")
        click.echo(f"Token: user token (refresh token from {identity.source})")
    else:
        click.echo("User: none")
        click.echo(
            "Token: app token (client credentials): public playlists' details only; run "
            f"'gitarchive login' (or set {ENV_REFRESH}) to read your playlists' tracks"
        )
    click.echo(f"Scopes: {' '.join(identity.scopes) or '(none)'}")


def add_mine(store: Store, owned_only: bool) -> None:
    """``gitarchive add --mine``: register the signed-in user's playlists, and say what was left."""
    from gitarchive.ops.mine import add_mine as register_mine
    from gitarchive.spotify.client import SpotifyClient

    try:
        with SpotifyClient.from_env() as client:
            result = register_mine(store, client, owned_only=owned_only)
    except GitarchiveError as exc:
        exc.message = f"{exc.message}; nothing was registered"
        raise
    if result.added:
        shared = f" ({len(result.collaborative)} collaborative)" if result.collaborative else ""
        click.echo(f"Registered {plural(len(result.added), 'playlist')} of {result.user_id}"
                   f"{shared}: {', '.join(result.added)}")
    else:
        click.echo(f"No new playlists of {result.user_id}; nothing changed")
    if result.already:
        click.echo(f"Already registered: {plural(len(result.already), 'playlist')}")
    if result.followed_only:
        click.echo(
            f"Left out {plural(len(result.followed_only), 'playlist')} you follow but neither "
            "own nor collaborate on (a development-mode app may not read their tracks; add "
            "them by URL if your app has extended quota): "
            + ", ".join(f"{p.pid} ({p.name})" for p in result.followed_only)
        )


COMMANDS: list[click.Command] = [login, logout, whoami]
