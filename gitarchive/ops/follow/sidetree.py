"""The side history's objects: trees of the followed playlists' files, commits dated
like the source's, all hashed here and written as one pack."""

from __future__ import annotations

import pygit2

from gitarchive.archive import layout
from gitarchive.archive.model import dump_json
from gitarchive.git import packwriter
from gitarchive.ops.follow.plan import FILES, Blobs

# The side history's bookkeeping files (never merged into the archive's tree): a
# registry entry that is no playlist keeps registry/ present even when the source
# commit registers none of the followed playlists (a tree without registry/ would
# observe every playlist), and a followers file that changes on every imported run,
# so a source run that left the followed playlists unchanged is still a run here.
SIDE_REGISTRY_KEEP = ".gitarchive-follow"
SIDE_RUN_MARKER = ".gitarchive-follow.json"


class SideTree:
    """The side history's tree: the followed playlists' files, their registry, the marker."""

    DIRS = ("registry", "plain", "pretty", "followers")

    def __init__(
        self, repo: pygit2.Repository, base: pygit2.Tree | None, objects: Objects
    ) -> None:
        self.repo = repo
        self.objects = objects
        self.empty = objects.add("blob", b"")
        self.entries: dict[str, dict[str, pygit2.Oid]] = {d: {} for d in self.DIRS}
        self.changed: set[str] = set(self.DIRS)
        if base is not None and layout.ROOT in base:
            root = repo[base[layout.ROOT].id].peel(pygit2.Tree)
            for d in self.DIRS:
                if d in root:
                    tree = repo[root[d].id].peel(pygit2.Tree)
                    self.entries[d] = {e.name: e.id for e in tree if e.name is not None}
        self._set("registry", SIDE_REGISTRY_KEEP, self.empty)
        self.subtrees: dict[str, pygit2.Oid | None] = {d: None for d in self.DIRS}

    def blobs(self, pid: str) -> Blobs:
        found = [self.entries[d].get(name(pid)) for d, name in FILES]
        return found[0], found[1], found[2], found[3]

    def set_playlist(self, pid: str, blobs: Blobs) -> None:
        for (directory, name), oid in zip(FILES, blobs, strict=True):
            self._set(directory, name(pid), oid)

    def set_registry(self, pids: set[str]) -> None:
        wanted = set(pids) | {SIDE_REGISTRY_KEEP}
        current = self.entries["registry"]
        for pid in set(current) - wanted:
            self._set("registry", pid, None)
        for pid in wanted - set(current):
            self._set("registry", pid, self.empty)

    def observe(self, name: str, commit: pygit2.Oid) -> None:
        marker = dump_json({"commit": str(commit), "source": name}).encode()
        self._set("followers", SIDE_RUN_MARKER, self.objects.add("blob", marker))

    def _set(self, directory: str, name: str, oid: pygit2.Oid | None) -> None:
        entries = self.entries[directory]
        if entries.get(name) == oid:
            return
        if oid is None:
            entries.pop(name, None)
        else:
            entries[name] = oid
        self.changed.add(directory)

    def write(self) -> pygit2.Oid:
        objects = self.objects
        for d in sorted(self.changed):
            entries = self.entries[d]
            self.subtrees[d] = objects.tree({n: (False, o) for n, o in entries.items()}) if (
                entries) else None
        self.changed.clear()
        root = {d: (True, sub) for d in self.DIRS if (sub := self.subtrees[d]) is not None}
        return objects.tree({layout.ROOT: (True, objects.tree(root))})


class Objects:
    """The side history's trees and commits, hashed here and written as one pack.

    An update may import hundreds of commits; written one by one, each object is a
    file system round trip (milliseconds each on a busy disk), many times the cost
    of reading the source.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[str, bytes]] = []

    def add(self, kind: str, data: bytes) -> pygit2.Oid:
        self.pending.append((kind, data))
        return pygit2.Oid(raw=packwriter.object_id(kind, data))

    def tree(self, entries: dict[str, tuple[bool, pygit2.Oid]]) -> pygit2.Oid:
        """A tree of (is_tree, id) by name, in git's order (a tree sorts as "name/")."""
        def key(name: str) -> bytes:
            return name.encode() + (b"/" if entries[name][0] else b"")

        body = b"".join(
            (b"40000 " if entries[name][0] else b"100644 ") + name.encode() + b"\0"
            + entries[name][1].raw
            for name in sorted(entries, key=key)
        )
        return self.add("tree", body)

    def commit(
        self, tree: pygit2.Oid, parents: list[pygit2.Oid], like: pygit2.Commit, message: str
    ) -> pygit2.Oid:
        """A commit of ``tree`` with the author and committer of the source commit ``like``."""
        lines = [b"tree " + str(tree).encode()]
        lines += [b"parent " + str(p).encode() for p in parents]
        encoding = like.message_encoding
        lines.append(b"author " + _signature_bytes(like.author, encoding))
        lines.append(b"committer " + _signature_bytes(like.committer, encoding))
        return self.add("commit", b"\n".join(lines) + b"\n\n" + message.encode())

    def flush(self, repo: pygit2.Repository) -> None:
        packwriter.write_objects(repo, self.pending)
        self.pending.clear()


def _signature_bytes(sig: pygit2.Signature, encoding: str | None) -> bytes:
    """``Name <email> epoch +hhmm`` as git writes it, in UTF-8."""
    def text(raw: bytes) -> bytes:
        if encoding is None or encoding.lower().replace("-", "") == "utf8":
            return raw
        return raw.decode(encoding, errors="replace").encode()

    offset = sig.offset
    sign = "-" if offset < 0 else "+"
    zone = f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}".encode()
    return (text(sig.raw_name) + b" <" + text(sig.raw_email) + b"> "
            + str(sig.time).encode() + b" " + zone)


