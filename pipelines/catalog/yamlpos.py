"""YAML loading that remembers where every value came from, so errors can say `path:line`.

`load_yaml(path)` returns plain Python data plus a `Lines` map from a value's location (a tuple of
keys/indexes, as pydantic reports `loc`) to its 1-based line. Built on the C loader's node tree when
available: parsing stays fast for large catalogs.
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipelines.catalog.sources import SourceProblem, read_text
from pipelines.catalog.yamlhints import indentation_hint
from pipelines.catalog.yamllimits import Converter, YamlLimit
from pipelines.errors import CatalogIssue

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Loc = tuple[Any, ...]


@dataclass
class Lines:
    """Where each value of one YAML document lives."""

    path: str
    lines: dict[Loc, int] = field(default_factory=dict)
    problems: list[CatalogIssue] = field(default_factory=list)  # found while loading; the rest still loaded
    ends: dict[Loc, int] = field(default_factory=dict)  # the last line of a value (block scalars span lines)
    text: list[str] = field(default_factory=list)

    def line(self, loc: Loc) -> int:
        """The line of `loc`, or of its nearest ancestor that has one."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)

    def find(self, loc: Loc, pattern: re.Pattern[str]) -> int:
        """The first line of the value at `loc` that matches `pattern` (the expression an error is
        about, in a prompt written over several lines), else the value's own line."""
        start = self.line(loc)
        end = self.ends.get(tuple(loc), start)
        for n in range(start, min(end, len(self.text)) + 1):
            if pattern.search(self.text[n - 1]):
                return n
        return start

    def issue(self, loc: Loc, message: str) -> CatalogIssue:
        return CatalogIssue(self.path, self.line(loc), message)


class YamlLoadError(Exception):
    def __init__(self, issue: CatalogIssue):
        self.issue = issue
        super().__init__(str(issue))


def load_yaml(path: Path, display: str, *, root: Path, max_bytes: int) -> tuple[Any, Lines]:
    """A YAML file of the catalog at `root` (contained, a regular file, at most `max_bytes`)."""
    try:
        text = read_text(path, root, max_bytes)
    except SourceProblem as exc:
        raise YamlLoadError(CatalogIssue(display, exc.line, f"this file {exc}")) from None
    return parse_yaml(text, display)


def parse_yaml(text: str, display: str) -> tuple[Any, Lines]:
    lines = Lines(display, text=text.splitlines())
    gc_was = gc.isenabled()
    gc.disable()  # a node tree is all new objects: collecting while it grows makes parsing quadratic
    try:
        node = _compose(text, display)
        if node is None:
            return None, lines
        line = node.start_mark.line + 1
        lines.lines[()] = line
        return Converter(display, lines.lines, lines.problems, lines.ends).convert(node, (), 0, line), lines
    except YamlLimit as exc:
        raise YamlLoadError(CatalogIssue(display, exc.line, str(exc))) from None
    finally:
        if gc_was:
            gc.enable()


def _compose(text: str, display: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        line, msg = _explain(exc, text)
        raise YamlLoadError(CatalogIssue(display, line, f"YAML syntax error: {msg}")) from None
    except yaml.reader.ReaderError as exc:  # a control character such as NUL: say where, not what raw
        line = text.count("\n", 0, max(0, exc.position)) + 1
        raise YamlLoadError(CatalogIssue(display, line, f"a control character (0x{exc.character:02x}) is not "
                                                        "allowed in YAML: remove it")) from None
    except yaml.YAMLError as exc:
        raise YamlLoadError(CatalogIssue(display, 1, f"YAML error: {exc}")) from None
    except RecursionError:
        raise YamlLoadError(CatalogIssue(display, 1, "YAML nested too deeply")) from None


def _explain(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, str]:
    """The line to fix and a message a marketer can act on. PyYAML often notices a problem lines
    after its cause (an unclosed quote is found at the end of the file): point at the cause."""
    problem, context = exc.problem or "", exc.context or ""
    at = exc.problem_mark or exc.context_mark
    line = at.line + 1 if at else 1
    opened = exc.context_mark.line + 1 if exc.context_mark else line
    raw = " ".join(p for p in (context, problem) if p)
    if "quoted scalar" in context and "end of stream" in problem:
        return opened, "a quoted value that starts on this line is never closed: add the closing quote"
    if "flow sequence" in context:
        return opened, "a [ list ] that starts on this line is not closed with ']' (or lacks a ',' between items)"
    if "flow mapping" in context:
        return opened, "a { mapping } that starts on this line is not closed with '}' (or lacks a ',' between items)"
    if "flow node" in context and "expected node content" in problem:
        rows = text.splitlines()[:line]
        opened = next((i + 1 for i in range(len(rows) - 1, -1, -1)
                       if rows[i].count("[") + rows[i].count("{") > rows[i].count("]") + rows[i].count("}")), line)
        return opened, "a [ list ] or { mapping } that starts on this line is not closed (or ends with a ',')"
    hint = indentation_hint(exc, text)
    if hint is not None:
        return hint
    if "mapping values are not allowed" in problem:
        return line, ("unexpected ':' on this line: quote a value that contains ': ' "
                      "(prompt: \"Label: BREW LAB\"), or check the indentation of this line")
    if "cannot start any token" in problem and exc.problem_mark is not None:
        lines = text.splitlines()
        row = lines[exc.problem_mark.line] if exc.problem_mark.line < len(lines) else ""
        ch = row[exc.problem_mark.column:exc.problem_mark.column + 1]
        if ch == "\t":
            return line, "a tab character: YAML indents with spaces only"
        if ch:
            return line, f"a value cannot start with {ch!r}: put the value in quotes"
    if "undefined alias" in problem:
        return line, f"{problem} (an *alias needs a matching &anchor above it)"
    return line, raw
