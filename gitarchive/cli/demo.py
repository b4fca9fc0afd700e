"""``gitarchive demo``: a real archive with real history, built offline.

A local stand-in for the Spotify Web API serves the bundled fixtures; each
simulated day the playlists change a little (tracks come and go, a reorder, a
rename, followers drift) and the real fetch code path runs against it through
requests, committing with that day's date.
"""

from __future__ import annotations

import contextlib
import copy
import random
import shlex
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from gitarchive.archive import layout, registry
from gitarchive.cli.fetching import run_fetch, summary
from gitarchive.errors import DirectoryNotEmpty
from gitarchive.git.store import Store
from gitarchive.spotify.client import SpotifyClient
from gitarchive.spotify.fixtures import load_fixture_playlists
from gitarchive.spotify.standin import StandIn

START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
CLIENT_ID, CLIENT_SECRET = "demo-client", "demo-secret"
RENAMED = "3xQmR8vDemoSmallMix002"  # the fixture playlist the demo renames on day 4


def run_demo(directory: Path, *, days: int = 7, quiet: bool = False, seed: int = 1970) -> Store:
    """Write ``days`` days of history for the fixture playlists into a new archive."""
    if directory.exists() and any(directory.iterdir()):
        raise DirectoryNotEmpty(f"{directory} is not empty; give the demo a new directory")
    with _removed_if_stopped(directory):  # a new directory: nothing of the user's in it
        store = Store.init(directory)
        playlists = load_fixture_playlists()
        rng = random.Random(seed)
        pool = [entry for data in playlists.values() for entry in entries(data)]
        say = (lambda *_a, **_k: None) if quiet else click.echo
        with StandIn(copy.deepcopy(playlists), client_id=CLIENT_ID,
                     client_secret=CLIENT_SECRET) as api:
            client = SpotifyClient(
                CLIENT_ID, CLIENT_SECRET, api_base=api.api_base, token_url=api.token_url
            )
            registry.add(store, sorted(playlists), when=(int(START.timestamp()) - 3600, 0))
            with client:
                for day in range(days):
                    when = START + timedelta(days=day)
                    if day:
                        for pid, data in playlists.items():
                            if change_one_day(data, pool, rng, day):
                                api.set_playlist(pid, copy.deepcopy(data))
                    say(f"Day {day + 1} ({when:%Y-%m-%d}): ", nl=False)
                    # Notes on skipped entries are shown on the first day only (they repeat).
                    report = run_fetch(store, client, quiet=True, when=(int(when.timestamp()), 0))
                    say(summary(report))
                    if day == 0:
                        for outcome in report.outcomes:
                            for note in outcome.skipped:
                                say(f"  note: {outcome.name}: skipped {note}")
        name = shlex.quote(_demo_playlist_name(store))
        cli = _command()
        site_dir = write_site(store, directory)
    click.echo(f"\nDemo archive written to {directory}: {days} days of history.")
    click.echo(f"Open its website: {(site_dir / 'index.html').resolve().as_uri()}\nTry:")
    # Quoted, so each line runs as pasted (a directory with a space); `open` is macOS's.
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    repo = shlex.quote(str(directory))
    for line in (
        f"{opener} {shlex.quote(str(directory / 'playlists' / 'index.md'))}",
        f"git -C {repo} log --stat",
        f"{cli} log {name} --repo {repo}",
        f"{cli} show {name} --at {START:%Y-%m-%d} --repo {repo}",
        f"{cli} search kraftwerk --repo {repo}",
        f"{cli} rebuild --full --repo {repo}",
    ):
        click.echo(f"  {line}")
    return store


@contextlib.contextmanager
def _removed_if_stopped(directory: Path) -> Iterator[None]:
    """A demo stopped half-way (Ctrl-C) is removed, as the one line saying so promises
    ("run it again"): a second demo refuses a directory that is not empty."""
    existed = directory.exists()
    try:
        yield
    except KeyboardInterrupt:
        shutil.rmtree(directory, ignore_errors=True)
        if existed:  # it was the user's, empty: it stays
            directory.mkdir(exist_ok=True)
        raise


def write_site(store: Store, directory: Path) -> Path:
    """The demo's static site in ``directory/site`` (kept out of git by .git/info/exclude)."""
    from gitarchive.questions import site

    exclude = store.git_dir / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with exclude.open("a", encoding="utf-8") as f:
        f.write("/site/\n")
    site.build(store, directory / "site")
    return directory / "site"


def entries(data: dict[str, Any]) -> list[Any]:
    """The entry list of an API-shaped playlist (new ``items`` or old ``tracks`` shape)."""
    page = data.get("items") or data.get("tracks") or {}
    found: list[Any] = page.setdefault("items", [])
    return found


def change_one_day(data: dict[str, Any], pool: list[Any], rng: random.Random, day: int) -> bool:
    """Mutate one playlist as a curator might in a day; returns whether it changed."""
    if rng.random() < 0.3:
        return False
    items = entries(data)
    for _ in range(rng.randint(0, 2)):
        if len(items) > 5:
            items.pop(rng.randrange(len(items)))
    present = {_entry_key(e) for e in items}
    for candidate in rng.sample(pool, k=min(len(pool), 3))[: rng.randint(1, 3)]:
        if candidate is not None and _entry_key(candidate) not in present:
            added = copy.deepcopy(candidate)
            added["added_at"] = (START + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")
            items.insert(rng.randrange(len(items) + 1), added)
    if len(items) > 2 and rng.random() < 0.3:
        i = rng.randrange(len(items) - 1)
        items[i], items[i + 1] = items[i + 1], items[i]
    followers = data.get("followers")
    if isinstance(followers, dict) and isinstance(followers.get("total"), int):
        followers["total"] += rng.randint(-3, 25)
    if day == 3 and data.get("owner", {}).get("id") != "spotify":
        data["name"] = f"{data['name']} (renamed)"
        data["description"] = "Renamed on day 4 of the demo. Descriptions change too."
    return True


def _entry_key(entry: Any) -> str:
    if not isinstance(entry, dict):
        return repr(entry)
    item = entry.get("item") or entry.get("track") or {}
    return str(item.get("uri") or item.get("id") or item.get("name"))


def _demo_playlist_name(store: Store) -> str:
    """The name of the demo playlist that changes most (renamed on day 4)."""
    from gitarchive.archive.model import Playlist

    data = store.read(layout.pretty_json_path(RENAMED))
    return Playlist.from_json(data).name if data else RENAMED


def _command() -> str:
    """How to call gitarchive from here: plain if on PATH, else the venv's script path."""
    script = Path(sys.executable).parent / "gitarchive"
    found = shutil.which("gitarchive")
    if not script.exists() or (found and Path(found).resolve() == script.resolve()):
        return "gitarchive"
    here = Path.cwd()
    return shlex.quote(str(script.relative_to(here) if script.is_relative_to(here) else script))
