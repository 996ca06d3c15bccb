"""YAML loading that remembers where every value came from, so errors can say `path:line`.

`load_yaml(path)` returns plain Python data plus a `Lines` map from a value's location (a tuple of
keys/indexes, as pydantic reports `loc`) to its 1-based line. Built on the C loader's node tree when
available: parsing stays fast for large catalogs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipelines.errors import CatalogIssue

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Loc = tuple[Any, ...]


@dataclass
class Lines:
    """Where each value of one YAML document lives."""

    path: str
    lines: dict[Loc, int] = field(default_factory=dict)

    def line(self, loc: Loc) -> int:
        """The line of `loc`, or of its nearest ancestor that has one."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)

    def issue(self, loc: Loc, message: str) -> CatalogIssue:
        return CatalogIssue(self.path, self.line(loc), message)


class YamlLoadError(Exception):
    def __init__(self, issue: CatalogIssue):
        self.issue = issue
        super().__init__(str(issue))


def load_yaml(path: Path, display: str | None = None) -> tuple[Any, Lines]:
    display = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlLoadError(CatalogIssue(display, 1, f"not UTF-8 text: {exc}")) from exc
    return parse_yaml(text, display)


def parse_yaml(text: str, display: str) -> tuple[Any, Lines]:
    lines = Lines(display)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        msg = " ".join(p for p in (exc.context, exc.problem) if p)
        raise YamlLoadError(CatalogIssue(display, line, f"YAML syntax error: {msg}")) from exc
    except yaml.YAMLError as exc:
        raise YamlLoadError(CatalogIssue(display, 1, f"YAML error: {exc}")) from exc
    if node is None:
        return None, lines
    lines.lines[()] = node.start_mark.line + 1
    return _convert(node, (), lines), lines


_constructor = yaml.SafeLoader(" ")  # only used to turn scalar nodes into Python values


def _convert(node: yaml.Node, loc: Loc, lines: Lines) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        _constructor.flatten_mapping(node)  # merge keys (<<: *anchor)
        for key_node, value_node in node.value:
            key = _convert(key_node, loc, lines)
            if isinstance(key, list):
                key = tuple(key)
            if key in out:
                line = key_node.start_mark.line + 1
                raise YamlLoadError(CatalogIssue(lines.path, line, f"duplicate key {key!r}"))
            child = loc + (key,)
            lines.lines[child] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, child, lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            child = loc + (i,)
            lines.lines[child] = item.start_mark.line + 1
            items.append(_convert(item, child, lines))
        return items
    return _constructor.construct_object(node, deep=True)
