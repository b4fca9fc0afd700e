"""Which playlist a person means: an ID, URL, URI, or a name or alias they remember.

People type "Discover Weekly" or their own alias, not 22-character IDs; every query
command resolves its PLAYLIST argument here, so all of them accept the same forms
and fail with the same messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from gitarchive.archive import layout
from gitarchive.errors import PlaylistNotFound, PlaylistRefError
from gitarchive.questions.index import fold


@dataclass(frozen=True)
class Known:
    """A playlist the archive knows, with every name it answers to."""

    pid: str
    names: tuple[str, ...]  # latest snapshot name, registry alias ...

    @property
    def label(self) -> str:
        return self.names[0] if self.names else "(no name)"


def known_playlists(
    names: Mapping[str, str], aliases: Mapping[str, str | None], with_history: Iterable[str]
) -> list[Known]:
    """Merge snapshot names, registry aliases and playlists seen in history into one list.

    Unregistered playlists that still have history are included, so old playlists
    stay reachable by name.
    """
    pids = set(names) | set(aliases) | set(with_history)
    found = []
    for pid in sorted(pids):
        labels = [n for n in (names.get(pid), aliases.get(pid)) if n]
        found.append(Known(pid, tuple(dict.fromkeys(labels))))
    return found


def resolve_playlist(text: str, known: Iterable[Known],
                     former: Callable[[str], str | None] = lambda _text: None) -> str:
    """The ID ``text`` designates; raises PlaylistNotFound with a message for a person.
    ``former``: what to say of a name no playlist has now (``formerly``), if anything."""
    known = list(known)
    try:
        pid = layout.parse_playlist_ref(text)
    except PlaylistRefError:
        pid = None
    if pid is not None:
        if any(k.pid == pid for k in known):
            return pid
        twin = next((k.pid for k in known if k.pid.lower() == pid.lower()), None)
        hint = f"; IDs are case-sensitive: did you mean {twin}?" if twin else ""
        raise PlaylistNotFound(f"playlist {pid} has no snapshot and is not registered here{hint}")
    wanted = fold(text.strip())
    matches = [k for k in known if any(fold(name) == wanted for name in k.names)]
    if len(matches) == 1:
        return matches[0].pid
    if not matches:
        raise PlaylistNotFound(former(text) or (
            f"no playlist is named '{text}': give its ID, URL, URI, or exact name or alias"))
    listed = "\n".join(f"  {k.pid}  {k.label}" for k in matches)
    raise PlaylistNotFound(
        f"'{text}' names {len(matches)} playlists; give one of these IDs instead:\n{listed}"
    )


@dataclass(frozen=True)
class Former:
    """A name a playlist had until ``until`` (epoch seconds), and its name now."""

    pid: str
    name: str
    until: int
    now: str


def former_names(timelines: Iterable[tuple[str, str, Iterable[tuple[int, str | None]]]]
                 ) -> list[Former]:
    """Every earlier name of each playlist from its (pid, name now, (time, new name) of
    each change): the names it was known by before a rename."""
    found = []
    for pid, now, changes in timelines:
        named = [(time, name) for time, name in changes if name is not None]
        for (_, old), (until, new) in zip(named, named[1:], strict=False):
            if fold(old) != fold(new) and fold(old) != fold(now):
                found.append(Former(pid, old, until, now))
    return found


def formerly(text: str, former: Iterable[Former], day: Callable[[int], str]) -> str | None:
    """The message for a name only an earlier version of a playlist had (None: none)."""
    wanted = fold(text.strip())
    last: dict[str, Former] = {}
    for f in former:
        if fold(f.name) == wanted and (f.pid not in last or f.until > last[f.pid].until):
            last[f.pid] = f
    said = [f"'{f.name}' is what {f.pid} was called until {day(f.until)}; it is now "
            f"'{f.now}': give that name or its ID" for f in last.values()]
    return "\n".join(said) if said else None
