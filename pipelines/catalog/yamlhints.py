"""Indentation mistakes in YAML, in plain words (issue #15, item 10).

PyYAML says "while parsing a block mapping ... did not find expected key"; a marketer needs "this
line is indented more than the key above it" and the column to move it to. `indentation_hint`
reads the lines above the one PyYAML stopped at: which keys and list items are open there, at which
indentation, and what the line does instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

_KEY = re.compile(r"^(?:- +)*([^\s#'\"{\[][^:#]*?|'[^']*'|\"[^\"]*\"):(?:\s|$)")
_BLOCK_SCALAR = re.compile(r":\s*[|>][-+0-9]*\s*(?:#.*)?$")


@dataclass
class Level:
    col: int
    line: int  # 1-based
    what: str  # "`prompt:`" or "the list item"
    item: bool  # a '- ' list item (else a key)


def _indent(row: str) -> int:
    return len(row) - len(row.lstrip(" "))


def _spaces(n: int) -> str:
    return f"{n} space{'s' if n != 1 else ''}"


def _move(n: int) -> str:
    return "move it to the start of the line" if n == 0 else f"indent it {_spaces(n)}"


def _describe(row: str) -> str:
    m = _KEY.match(row.strip())
    return f"`{m.group(1)}:`" if m else f"`{row.strip()[:30]}`"


def _levels(rows: list[str], upto: int) -> list[Level]:
    """The keys and list items open at line `upto` (0-based), outermost first."""
    stack: list[Level] = []
    scalar_under: int | None = None  # inside a block scalar (| or >) whose key is at this column
    for n, row in enumerate(rows[:upto]):
        text = row.strip()
        if not text or text.startswith("#"):
            continue
        col = _indent(row)
        if scalar_under is not None and col > scalar_under:
            continue
        scalar_under = None
        while stack and stack[-1].col >= col:
            stack.pop()
        key_col = col
        while text.startswith("- "):
            stack.append(Level(key_col, n + 1, "the list item", True))
            rest = text[2:].lstrip(" ")
            key_col += len(text) - len(rest)
            text = rest
        if _KEY.match(text):
            stack.append(Level(key_col, n + 1, _describe(text), False))
            if _BLOCK_SCALAR.search(text):
                scalar_under = key_col
    return stack


def _columns(stack: list[Level]) -> str:
    seen: dict[int, Level] = {}
    for lv in stack:
        seen.setdefault(lv.col, lv)
    parts = []
    for col, lv in sorted(seen.items(), reverse=True):
        what = f"a new list item '- ' (like line {lv.line})" if lv.item else f"a key beside {lv.what} (line {lv.line})"
        parts.append(f"{_spaces(col)} for {what}")
    return "; ".join(parts)


def indentation_hint(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, str] | None:
    """(line, message) when the error is an indentation mistake, else None."""
    mark = exc.problem_mark
    problem = exc.problem or ""
    rows = text.splitlines()
    if mark is None or mark.line >= len(rows):
        return None
    n = mark.line
    row = rows[n]
    col, body = _indent(row), row.strip()
    stack = _levels(rows, n)
    if not stack:
        return None
    above = stack[-1]
    if "mapping values are not allowed" in problem:
        # `key: value` then a line indented deeper: YAML reads it as more of that value
        if not above.item and col > above.col and not _BLOCK_SCALAR.search(rows[above.line - 1]):
            return n + 1, (f"this line is indented more than {above.what} on line {above.line} above it, so it reads "
                           f"as part of that value: {_move(above.col)}, like {above.what}")
        return None
    if not ("expected key" in problem or "expected '-' indicator" in problem or "expected <block end>" in problem):
        return None
    if body.startswith("- ") and any(lv.col == col and not lv.item for lv in stack):
        key = next(lv for lv in reversed(stack) if lv.col == col and not lv.item)
        return n + 1, (f"a list item ('- ') where a key like {key.what} (line {key.line}) was expected: a list "
                       f"goes under a key of its own (`key:` then its '- ' items, indented), or at the "
                       f"indentation of the list it belongs to")
    items = [lv for lv in stack if lv.item and lv.col == col]
    if items and not body.startswith("- "):
        item = items[-1]
        inner = next((lv for lv in stack if lv.line == item.line and not lv.item), None)
        to = f" {_move(inner.col)} to make it a key of that item, like {inner.what}," if inner else ""
        return n + 1, (f"this line lines up with the '- ' of the list item on line {item.line} but does not start "
                       f"with '- ':{to} or start a new item with '- '")
    if all(lv.col != col for lv in stack):
        return n + 1, (f"this line is indented {_spaces(col)}, which lines up with nothing above it: use "
                       + _columns(stack))
    return None
