"""JSON parsing that a hostile document cannot crash: too deep a nesting is a ValueError.

CPython's C decoder recurses once per ``[`` or ``{``; 200,000 of them raise
RecursionError, which no ``except ValueError`` around a parse catches, so one such
blob anywhere in history made every reader of history crash. The decoder unwinds
cleanly from that error, so catching it is exact and costs nothing on the hot path
(a replay parses tens of thousands of blobs; a pre-scan of every byte would not be
free). Nothing this archive reads nests deeper than a handful of levels, and every
reader checks types at fixed depths, so a deep value that does decode is refused by
the schema checks that follow.
"""

from __future__ import annotations

import json
from typing import Any


class JSONTooDeep(ValueError):
    """The document nests arrays or objects deeper than the decoder can follow."""


def loads(data: str | bytes | bytearray) -> Any:
    """``json.loads``, raising JSONTooDeep (a ValueError) instead of RecursionError."""
    try:
        return json.loads(data)
    except RecursionError:
        raise JSONTooDeep("arrays or objects nested too deeply") from None
