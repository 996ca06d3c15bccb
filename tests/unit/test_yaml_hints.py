"""Indentation mistakes in YAML are explained in plain words with the line to fix (issue #15,
item 10), never PyYAML's "while parsing a block mapping ... did not find expected key"."""

from __future__ import annotations

import pytest

from pipelines.catalog.yamlpos import YamlLoadError, parse_yaml
from tests.helpers.cli import validate_catalog

ASSET = "campaign: a\nassets:\n  - name: mug\n    prompt: a mug\n"
LEVELS = ("use 4 spaces for a key beside `prompt:` (line 4); 2 spaces for a new list item '- ' (like line 3); "
          "0 spaces for a key beside `assets:` (line 2)")

CASES = [
    ("indented-more-than-the-key-above", ASSET + "      size: 1024x1024\n", 5,
     "this line is indented more than `prompt:` on line 4 above it, so it reads as part of that value: "
     "indent it 4 spaces, like `prompt:`"),
    ("indented-more-at-the-top", "campaign: a\n  assets:\n  - name: mug\n", 2,
     "this line is indented more than `campaign:` on line 1 above it, so it reads as part of that value: "
     "move it to the start of the line, like `campaign:`"),
    ("between-two-levels", ASSET + "   size: 1024x1024\n", 5,
     "this line is indented 3 spaces, which lines up with nothing above it: " + LEVELS),
    ("a-misaligned-item", ASSET + " - name: cup\n   prompt: a cup\n", 5,
     "this line is indented 1 space, which lines up with nothing above it: " + LEVELS),
    ("a-key-at-the-dash", "campaign: a\nassets:\n  - name: mug\n  prompt: a mug\n", 4,
     "this line lines up with the '- ' of the list item on line 3 but does not start with '- ': indent it 4 "
     "spaces to make it a key of that item, like `name:`, or start a new item with '- '"),
    ("an-item-among-keys", ASSET + "    - name: cup\n", 5,
     "a list item ('- ') where a key like `prompt:` (line 4) was expected: a list goes under a key of its own "
     "(`key:` then its '- ' items, indented), or at the indentation of the list it belongs to"),
    ("after-a-block-scalar", "campaign: a\nassets:\n  - name: mug\n    prompt: >-\n      A mug\n      on a table\n"
                             "     size: 1024x1024\n", 7,
     "this line is indented 5 spaces, which lines up with nothing above it: use 4 spaces for a key beside "
     "`prompt:` (line 4); 2 spaces for a new list item '- ' (like line 3); 0 spaces for a key beside `assets:` (line 2)"),
]


@pytest.mark.parametrize("text, line, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_an_indentation_mistake_says_what_is_wrong_and_where(text, line, message):
    with pytest.raises(YamlLoadError) as err:
        parse_yaml(text, "c.yaml")
    assert (err.value.issue.line, err.value.issue.message) == (line, "YAML syntax error: " + message)
    assert "while parsing" not in err.value.issue.message


def test_a_colon_in_a_value_is_still_explained_as_one():
    with pytest.raises(YamlLoadError) as err:
        parse_yaml("campaign: a\nassets:\n  - name: mug\n    prompt: Label: BREW LAB\n", "c.yaml")
    assert err.value.issue.line == 4 and "quote a value that contains ': '" in err.value.issue.message


def test_through_validate(tmp_path):
    found = validate_catalog(tmp_path, {"campaigns/a.yaml": ASSET + "      size: 1024x1024\n"})
    assert [(line, msg.split(":")[0]) for _, line, msg in found] == [(5, "YAML syntax error")]
    assert "indented more than `prompt:`" in found[0][2]
