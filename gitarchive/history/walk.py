"""A whole history's events read on both cores: half the commits' diffs in a forked process.

A whole-history replay first reads every commit's own snapshot changes (events.py):
~0.7 s of a year of a 1,000-playlist JSON archive (its trees read and diffed), on one
core, before anything else can start, while the other core idles. Here the commits
and their generations are listed first (no tree read), a forked child reads the own
changes of every second block of them while this process reads the others, and
sends its events back in one message (a registry many events share is pickled once).
If the child fails, its half is read here: the events never depend on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pygit2

from gitarchive import forking
from gitarchive.git.store import process_repository
from gitarchive.history.events import Event, EventReader, sorted_events
from gitarchive.history.parallel import Forked, two_cores

PARALLEL_MIN_COMMITS = 100  # fewer commits are read in one process (a fork costs more)
BLOCK = 8  # consecutive commits read by the same process
# Of every seven blocks in turn, those read here: four. The child also forks, pickles its
# events and has them unpickled here; with half each, this process waited for it ~0.09 s
# of a 0.4 s walk (JSON, 1,000 x 365).
SHARES = frozenset({0, 2, 4, 6})
SHARE_OF = 7


def whole_history(repo: pygit2.Repository, tip: pygit2.Oid, gens: dict[str, int]
                  ) -> list[Event]:
    """The events of every commit reachable from ``tip``, sorted (events.sorted_events);
    ``gens`` gets the generation of each commit, as events.walk_events gives them. Those
    that write a snapshot leave out their followers files (EventReader(followers=False)):
    a whole-history replay, its timelines and its index read none, and the charts are
    drawn from HEAD's files."""
    commits: list[tuple[str, int]] = []
    walker = repo.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    for commit in walker:
        gen = 1 + max((gens.get(str(p), 0) for p in commit.parent_ids), default=0)
        oid = str(commit.id)
        gens[oid] = gen
        commits.append((oid, gen))
    # Another thread running (fetch's HTTP pool): one process reads them all (forking.alone).
    if len(commits) < PARALLEL_MIN_COMMITS or not two_cores() or not forking.alone():
        return sorted_events(_events(repo, commits))
    # Blocks of commits in turn: the costly ones come together (a history's JSON years,
    # after its plain ones), and within a block each commit's trees are its child's old.
    blocks = [commits[at:at + BLOCK] for at in range(0, len(commits), BLOCK)]
    mine = [c for n, block in enumerate(blocks) if n % SHARE_OF in SHARES for c in block]
    theirs = [c for n, block in enumerate(blocks) if n % SHARE_OF not in SHARES
              for c in block]
    git_dir = repo.path

    def child() -> Iterator[list[Event]]:
        yield list(_events(process_repository(git_dir), theirs))

    with Forked(child) as forked:
        events = list(_events(repo, mine))
        received = forked.finish()
    events.extend(received[0] if received else _events(repo, theirs))
    return sorted_events(events)


def _events(repo: pygit2.Repository, commits: Iterable[tuple[str, int]]) -> Iterator[Event]:
    """The events of ``commits`` (id, generation), each read with its parents' trees."""
    reader = EventReader(repo, followers=False)
    for oid, gen in commits:
        event = reader.event(repo[oid].peel(pygit2.Commit), gen)
        if event is not None:
            yield event
