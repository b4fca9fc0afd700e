"""Shards of a registry: a stable subset of the playlists, the same on every machine."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from gitarchive.errors import ShardError


@dataclass(frozen=True)
class Shard:
    """Shard K of N (1-based): a stable subset of the registry, the same on every machine.

    Membership hashes the playlist ID with SHA-1 (Python's ``hash`` is salted per
    process), so N machines given 1/N .. N/N split a registry without coordinating.
    """

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise ShardError(f"'{text}' is not K/N (for example 1/3)")
        index, count = int(match[1]), int(match[2])
        if count < 1 or not 1 <= index <= count:
            raise ShardError(f"'{text}': K must be between 1 and N, and N at least 1")
        return cls(index, count)

    def holds(self, pid: str) -> bool:
        digest = hashlib.sha1(pid.encode("ascii")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
