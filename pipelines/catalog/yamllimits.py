"""A composed YAML node tree turned into plain Python data, within limits, remembering lines.

A YAML alias re-uses an anchored value: `&a [x, x]` used ten times in `&b [*a, *a ...]`, nested
nine deep, is a 10^9-value "billion laughs" in a few hundred bytes. The node tree holds each anchor
once; an alias is counted at its full expanded size *before* it is expanded, so a bomb is refused
after a bounded amount of work:

    MAX_ALIAS_VALUES   values produced by alias expansion in one file (count)
    MAX_ALIAS_DEPTH    an alias inside an aliased value inside ... (depth)
    MAX_DEPTH          nesting of mappings and lists, aliases expanded
    MAX_INT_DIGITS     a longer integer is refused (Python's int parser stops at 4,300 digits;
                       no catalog field needs more than 64 bits)

Only the plain-data tags of YAML's core schema are accepted: a custom tag (`!include`,
`!!python/...`, `!!binary`, `!!set` ...) is reported at its line, never silently dropped or
constructed. Bombs, loops and over-deep nesting stop the file (YamlLimit); a bad tag or number is a
problem of its own (`problems`) and the rest of the file is still checked.
"""

from __future__ import annotations

from typing import Any, Callable

import yaml

from pipelines.errors import CatalogIssue

MAX_ALIAS_VALUES = 100_000
MAX_ALIAS_DEPTH = 10
MAX_DEPTH = 100
MAX_INT_DIGITS = 19

_Y = "tag:yaml.org,2002:"
MAP, SEQ, STR, INT = _Y + "map", _Y + "seq", _Y + "str", _Y + "int"
SCALAR_TAGS = {_Y + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_constructor = yaml.SafeLoader(" ")  # only its scalar constructors and flatten_mapping are used


class YamlLimit(Exception):
    def __init__(self, line: int, message: str):
        self.line = line
        super().__init__(message)


class Converter:
    """One document's node tree -> Python data; `lines[loc]` gets each value's 1-based line."""

    def __init__(self, path: str, lines: dict, problems: list[CatalogIssue], ends: dict | None = None):
        self.path, self.lines, self.problems = path, lines, problems
        self.ends = ends if ends is not None else {}  # loc -> the value's last line (a prompt over several lines)
        self.memo: dict[int, tuple[int, int]] = {}  # id(collection) -> (expanded values, alias depth)
        self.open: set[int] = set()
        self.count = 0  # values made so far, alias expansions counted at their full size
        self.alias_values = 0
        self.replaying = 0  # > 0 while expanding an alias (already counted)
        self.adepth: list[int] = []  # alias depth found so far in each collection being converted

    def convert(self, node: yaml.Node, loc: tuple, depth: int, line: int) -> Any:
        if depth > MAX_DEPTH:
            raise YamlLimit(line, f"mappings and lists nested more than {MAX_DEPTH} deep")
        if isinstance(node, yaml.ScalarNode):
            self.count += 1
            return self._scalar(node, line)
        nid = id(node)
        if nid in self.open:
            raise YamlLimit(line, "an alias refers to the value that contains it (a loop): an *alias can only "
                                  "repeat a value defined before it")
        if self.replaying:
            return self._collection(node, loc, depth, line)
        if nid in self.memo:  # a second use of this node: an alias
            return self._alias(node, loc, depth, line)
        self.open.add(nid)
        self.adepth.append(0)
        start = self.count
        try:
            value = self._collection(node, loc, depth, line)
        finally:
            self.open.discard(nid)
            inner = self.adepth.pop()
        self.count += 1
        self.memo[nid] = (self.count - start, inner)
        if self.adepth:
            self.adepth[-1] = max(self.adepth[-1], inner)
        return value

    def _alias(self, node: yaml.Node, loc: tuple, depth: int, line: int) -> Any:
        size, inner = self.memo[id(node)]
        self.alias_values += size
        self.count += size
        if self.alias_values > MAX_ALIAS_VALUES:
            raise YamlLimit(line, f"YAML aliases in this file expand to more than {MAX_ALIAS_VALUES:,} values "
                                  "(an alias bomb?): write the values out or use fewer aliases")
        if inner + 1 > MAX_ALIAS_DEPTH:
            raise YamlLimit(line, f"YAML aliases nested more than {MAX_ALIAS_DEPTH} deep (an alias inside an "
                                  "aliased value inside ...): write the values out")
        if self.adepth:
            self.adepth[-1] = max(self.adepth[-1], inner + 1)
        self.replaying += 1
        try:
            return self._collection(node, loc, depth, line)
        finally:
            self.replaying -= 1

    def _collection(self, node: yaml.Node, loc: tuple, depth: int, line: int) -> Any:
        problem = tag_problem(node)
        if problem:
            self._problem(line, problem)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                child = loc + (i,)
                # an alias item has its anchor's mark; the list's own line is the closest honest place
                item_line = item.start_mark.line + 1
                item_line = line if item_line < line else item_line
                self.lines[child] = item_line
                self.ends[child] = max(item_line, item.end_mark.line + 1)
                items.append(self.convert(item, child, depth + 1, item_line))
            return items if not problem else None
        out = self._mapping(node, loc, depth, line)
        return out if not problem else None

    def _mapping(self, node: yaml.MappingNode, loc: tuple, depth: int, line: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        own = {id(k) for k, _ in node.value if k.tag != _Y + "merge"}  # merged keys may be overridden
        try:
            _constructor.flatten_mapping(node)  # merge keys (<<: *anchor): merged pairs first, then own
        except yaml.YAMLError as exc:
            raise YamlLimit(line, f"a merge key (<<) needs a mapping: {getattr(exc, 'problem', exc)}") from None
        explicit: set[Any] = set()
        for key_node, value_node in node.value:
            kline = key_node.start_mark.line + 1
            kline = line if kline < line else kline
            key = self.convert(key_node, loc, depth + 1, kline)
            if isinstance(key, list):
                key = tuple(key)
            if not _hashable_key(key):
                self._problem(kline, "a mapping key must be text or a number")
                continue
            child = loc + (key,)
            if key in explicit and id(key_node) in own:
                raise YamlLimit(kline, f"duplicate key {key!r} (first set on line {self.lines.get(child, '?')}): "
                                       "keep one of them")
            if id(key_node) in own:
                explicit.add(key)
            self.lines[child] = kline
            self.ends[child] = max(kline, value_node.end_mark.line + 1)
            out[key] = self.convert(value_node, child, depth + 1, kline)
        return out

    def _scalar(self, node: yaml.ScalarNode, line: int) -> Any:
        if node.tag == STR:  # most values: no constructor call
            return node.value
        here = max(line, node.start_mark.line + 1)
        problem = tag_problem(node) or (int_problem(node.value) if node.tag == INT else None)
        if problem:
            return self._problem(here, problem)
        construct: Callable = _constructor.yaml_constructors[node.tag]
        try:  # the constructor itself, not construct_object: that one remembers every node it built
            return construct(_constructor, node)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            return self._problem(here, f"not a valid value: {exc}")

    def _problem(self, line: int, message: str) -> None:
        if not self.replaying:  # an alias repeats its anchor's problems: say them once
            self.problems.append(CatalogIssue(self.path, line, message, masks_line=True))
        return None


def _hashable_key(key: Any) -> bool:
    if isinstance(key, tuple):
        return all(isinstance(k, (str, int, float, bool)) or k is None for k in key)
    return not isinstance(key, (dict, list, set))


def tag_problem(node: yaml.Node) -> str | None:
    """Why `node`'s tag is not accepted, or None."""
    tag = node.tag
    ok = tag == MAP if isinstance(node, yaml.MappingNode) else tag == SEQ if isinstance(node, yaml.SequenceNode) \
        else tag in SCALAR_TAGS
    if ok:
        return None
    shown = "!!" + tag[len(_Y):] if tag.startswith(_Y) else tag
    return (f"YAML tag {shown} is not supported: a catalog is plain data (text, numbers, lists, mappings); "
            "remove the tag")


def int_problem(value: str) -> str | None:
    digits = sum(ch.isdigit() for ch in value)
    if digits > MAX_INT_DIGITS:
        return f"a number with {digits:,} digits is too large (at most {MAX_INT_DIGITS} digits)"
    return None
