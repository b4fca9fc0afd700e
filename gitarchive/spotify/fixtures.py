"""The recorded API playlists shipped as `gitarchive.fixtures`, for the demo, tests and benchmarks.

Read through importlib.resources so they load from a plain (non-editable) install too.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any


def load_fixture_playlists() -> dict[str, dict[str, Any]]:
    """Every fixture playlist (API-shaped JSON, all entries in one page), by playlist ID."""
    playlists: dict[str, dict[str, Any]] = {}
    for entry in sorted(files("gitarchive.fixtures").iterdir(), key=lambda e: e.name):
        if entry.is_file() and entry.name.endswith(".json"):
            data = json.loads(entry.read_text(encoding="utf-8"))
            playlists[data["id"]] = data
    return playlists
