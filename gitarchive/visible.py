"""Text from Spotify made safe to show to a person: what a terminal would obey, shown.

Names and descriptions are anyone's text: an escape sequence in a track name would
recolour, clear or retitle the terminal of whoever asks about it, a carriage return
would overwrite what was printed, a newline or a tab would break a table's row. Each is
written as its escape (``\\x1b``) instead, so it is seen and obeys nothing; the data
formats (CSV, JSON, markdown) keep every byte when they are not shown on a terminal.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# C0 and C1 controls, DEL, and the bidirectional overrides and isolates (which reorder
# the rest of a line: the columns after them too). Newline and tab are kept by ``shown``.
_OBEYED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_BREAKS = re.compile("[\t\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: str) -> str:
    """``text`` with every character a terminal would obey written as its escape
    (newline and tab kept: the lines of a CSV or markdown file stay lines)."""
    return _OBEYED.sub(_escape, text) if _OBEYED.search(text) else text


_ASCII_CONTROLS = bytes([*range(32), 127])


def is_one_line(text: str) -> bool:
    """Whether ``one_line`` would leave ``text`` as it is; ASCII (most text) in one C pass
    of bytes, twice as fast as ``str.isprintable``'s look-up of every character."""
    if text.isascii():
        data = text.encode("ascii")
        return len(data.translate(None, _ASCII_CONTROLS)) == len(data)
    return text.isprintable()


def one_line(text: str) -> str:
    """``text`` for one cell of a row: line breaks and tabs as spaces (so a row stays
    one line, as in the plain files), then ``shown``."""
    if text.isprintable():  # nearly every name: nothing to replace
        return text
    return shown(_BREAKS.sub(" ", text))


def same_width(text: str) -> bool:
    """Whether every character of ``text`` takes one column (so ``len`` measures it): no
    combining mark, wide character or zero-width one. One C pass; Latin, accents too."""
    return text.isascii() or not _OTHER_WIDTH.search(text)


# From the combining diacritics on: what may take no column or two (checked one by one).
_OTHER_WIDTH = re.compile("[\u0300-\U0010ffff]")


def columns(text: str) -> int:
    """How many terminal columns ``text`` takes: two for a wide (CJK) character, none
    for a combining mark or a zero-width joiner, so the columns of a table line up."""
    return len(text) if same_width(text) else _columns(text)


@functools.lru_cache(maxsize=1 << 16)  # a playlist's name is on each of its rows
def _columns(text: str) -> int:
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def cut(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` columns, ending in an ellipsis when it was cut."""
    if columns(text) <= width:
        return text
    if same_width(text):
        return text[: width - 1] + "…"
    out, used = [], 0
    for char in text:
        used += columns(char)
        if used > width - 1:
            break
        out.append(char)
    return "".join(out) + "…"
