"""The limits under the hostile-catalog corpus, one layer down: YAML aliases, tags and numbers,
contained reads of catalog files, the Jinja budget, matrix lists. (tests/integration/
test_hostile_catalogs.py runs the whole corpus through the CLI.)"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pipelines.catalog.sources import SourceMissing, SourceProblem, read_text, regular_file
from pipelines.catalog.spec import Limits, cron_problem
from pipelines.catalog.templating import TemplateProblem, Templates
from pipelines.catalog.yamllimits import MAX_ALIAS_DEPTH, MAX_ALIAS_VALUES
from pipelines.catalog.yamlpos import YamlLoadError, parse_yaml
from pipelines.errors import CatalogIssue

# -- YAML ---------------------------------------------------------------------------------------------

def laughs(levels: int, fanout: int) -> str:
    rows = ["l0: &l0 [" + ", ".join(["x"] * fanout) + "]"]
    rows += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * fanout) + "]" for i in range(1, levels)]
    return "\n".join(rows) + "\n"


def test_an_alias_bomb_is_refused_before_it_is_expanded() -> None:
    t0 = time.monotonic()
    with pytest.raises(YamlLoadError) as e:
        parse_yaml(laughs(9, 10), "f.yaml")
    assert time.monotonic() - t0 < 2
    assert f"more than {MAX_ALIAS_VALUES:,} values" in str(e.value)
    assert e.value.issue.line == 5  # l4: 10 uses of l3 (11,111 values each) cross the limit


def test_aliases_nested_too_deep_are_refused_even_when_small() -> None:
    chain = "l0: &l0 [x]\n" + "".join(f"l{i}: &l{i} [*l{i - 1}]\n" for i in range(1, MAX_ALIAS_DEPTH + 2))
    with pytest.raises(YamlLoadError, match=f"nested more than {MAX_ALIAS_DEPTH} deep") as e:
        parse_yaml(chain, "f.yaml")
    assert e.value.issue.line == MAX_ALIAS_DEPTH + 2
    data, _ = parse_yaml(chain.rsplit("\n", 2)[0] + "\n", "f.yaml")  # one level less is fine
    assert data[f"l{MAX_ALIAS_DEPTH}"] == [[[[[[[[[[["x"]]]]]]]]]]]


def test_ordinary_aliases_and_merge_keys_still_work() -> None:
    data, lines = parse_yaml("base: &b {quality: high, size: 1024x1024}\n"
                             "a: {<<: *b, size: 1536x1024}\n"
                             "sizes: &s [1024x1024, 1536x1024]\n"
                             "m: {size: *s}\n", "f.yaml")
    assert data["a"] == {"quality": "high", "size": "1536x1024"}  # an own key overrides a merged one
    assert data["m"] == {"size": ["1024x1024", "1536x1024"]}
    assert lines.line(("a", "size")) == 2 and not lines.problems


def test_an_alias_loop_is_a_problem_at_its_line() -> None:
    with pytest.raises(YamlLoadError, match="refers to the value that contains it") as e:
        parse_yaml("x: 1\nloop: &a [x, *a]\n", "f.yaml")
    assert e.value.issue.line == 2


@pytest.mark.parametrize("text, line, shown", [
    ("a: 1\nprompt: !!python/name:os.system\n", 2, "!!python/name:os.system"),
    ("prompt: !foo A mug\n", 1, "!foo"),
    ("vars: !include ../x.yaml\n", 1, "!include"),
    ("x: 1\nowners: !!set {a, b}\n", 2, "!!set"),
    ("cmd: !!python/object/apply:os.system [touch /tmp/x]\n", 1, "!!python/object/apply:os.system"),
    ("prompt: !!binary QSBtdWc=\n", 1, "!!binary"),
])
def test_custom_tags_are_reported_never_constructed(text: str, line: int, shown: str) -> None:
    data, lines = parse_yaml(text, "f.yaml")
    assert [(p.line, shown in p.message) for p in lines.problems] == [(line, True)]
    assert None in data.values()  # the value is dropped; the rest of the file is still read


def test_absurd_integers_are_reported_at_their_line() -> None:
    data, lines = parse_yaml("a: 12345\nrevision: 1" + "0" * 4400 + "\n", "f.yaml")
    assert data["a"] == 12345 and data["revision"] is None
    assert lines.problems == [CatalogIssue("f.yaml", 2, "a number with 4,401 digits is too large (at most 19 digits)")]


def test_a_control_character_is_reported_on_its_own_line() -> None:
    with pytest.raises(YamlLoadError) as e:
        parse_yaml("a: 1\nb: 2\nc: x\x00y\n", "f.yaml")
    assert e.value.issue.line == 3 and "0x00" in e.value.issue.message and "\x00" not in e.value.issue.message


def test_unhashable_keys_are_problems() -> None:
    data, lines = parse_yaml("k: {{a: 1}: x, ok: y}\n", "f.yaml")
    assert data == {"k": {"ok": "y"}} and "mapping key" in lines.problems[0].message


def test_issues_are_printed_without_raw_control_or_invisible_characters() -> None:
    shown = str(CatalogIssue("campaigns/x\u202elmay.yaml", 1, "bra\u200bnd \x1b[31m\x00 ok é 中"))
    assert shown == "campaigns/x\\u202elmay.yaml:1: bra\\u200bnd \\x1b[31m\\x00 ok é 中"


# -- catalog files ------------------------------------------------------------------------------------

@pytest.fixture
def cat(tmp_path: Path) -> Path:
    root = tmp_path / "cat"
    (root / "partials").mkdir(parents=True)
    (root / "partials" / "ok.j2").write_text("warm light\n")
    (tmp_path / "cat_evil").mkdir()
    (tmp_path / "cat_evil" / "x.j2").write_text("secret\n")
    return root


def test_a_path_outside_the_catalog_is_refused_naming_its_real_target(cat: Path) -> None:
    (cat / "partials" / "link.j2").symlink_to(cat.parent / "cat_evil" / "x.j2")
    with pytest.raises(SourceProblem, match=f"resolves to {cat.parent / 'cat_evil' / 'x.j2'}, outside"):
        read_text(cat / "partials" / "link.j2", cat, 1000)
    # `cat_evil` starts with `cat`: a string prefix test would let it through
    with pytest.raises(SourceProblem, match="outside the catalog"):
        read_text(cat / ".." / "cat_evil" / "x.j2", cat, 1000)
    assert read_text(cat / "partials" / "ok.j2", cat, 1000) == "warm light\n"


def test_a_symlink_inside_the_catalog_is_fine(cat: Path) -> None:
    (cat / "partials" / "alias.j2").symlink_to("ok.j2")
    assert read_text(cat / "partials" / "alias.j2", cat, 1000) == "warm light\n"


@pytest.mark.parametrize("make, message", [
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: os.mkfifo(p), "is a named pipe"),
    (lambda p: p.symlink_to("gone.yaml"), "which does not exist"),
    (lambda p: (p.symlink_to(p.with_name("b.yaml")), p.with_name("b.yaml").symlink_to(p.name)), "symlink loop"),
    (lambda p: p.write_bytes(b"x" * 2000), "the limit is 1,000 bytes"),
    (lambda p: p.write_bytes(b"a: 1\nb: caf\xe9\n"), "not UTF-8"),
])
def test_what_is_not_a_readable_small_text_file_is_a_clear_problem(cat: Path, make, message: str) -> None:
    path = cat / "a.yaml"
    make(path)
    t0 = time.monotonic()
    with pytest.raises(SourceProblem, match=message) as e:
        read_text(path, cat, 1000)
    assert time.monotonic() - t0 < 1  # a pipe never blocks
    assert e.value.line == (2 if message == "not UTF-8" else 1)


def test_nothing_there_is_missing_not_a_problem(cat: Path) -> None:
    with pytest.raises(SourceMissing):
        regular_file(cat / "nope.png", cat, 1000)


def test_dev_zero_is_outside_and_never_read(cat: Path) -> None:
    (cat / "zero.yaml").symlink_to("/dev/zero")
    with pytest.raises(SourceProblem, match="/dev/zero, outside"):
        read_text(cat / "zero.yaml", cat, 1000)


# -- templates ----------------------------------------------------------------------------------------

def loops(levels: int, n: int, body: str) -> str:
    return "".join(f"{{% for i{i} in range({n}) %}}" for i in range(levels)) + body + "{% endfor %}" * levels


FAST = Limits(template_seconds=0.5, template_chars=100_000)


@pytest.mark.parametrize("source, message", [
    ("A" + loops(5, 100, ""), "took longer than 0.5 s"),
    ("A" + loops(3, 1000, "x"), "over the limit of 100,000"),
    ("{{ 'x' * 1000000000 }}", "a repeated value would be 1,000,000,000"),
    ("{% macro f(n) %}{% if n < 40 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}", "took longer"),
    ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "without end"),
    ("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", "nested too deeply"),
    ("{{ '{:>999999999}'.format(1) }}", "a formatted value"),
    ("{{ '%0999999999d' % 1 }}", "a formatted value"),
    ("{{ 'x'.rjust(10**9) }}", "str.rjust()"),
    ("{{ 'x'|center(1000000000) }}", "the center filter"),
    ("{{ [1]|batch(10**9, 'x')|list|length }}", "the batch filter"),
    ("{{ ('x' * 1000)|replace('x', 'y' * 1000) }}", "the replace filter"),
    ("{% set ns = namespace(x='x') %}{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}", "over the limit"),
    ("{% set s %}{% for i in range(1000) %}{{ 'y' * 90000 }}{% endfor %}{% endset %}{{ s|length }}", "over the limit"),
    ("{{ lipsum(100000) }}", "lipsum()"),
    ("{{ 7 ** 100000 }}", "bits is not allowed"),
])
def test_a_template_that_would_hang_or_explode_is_stopped(source: str, message: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(TemplateProblem, match=message):
        Templates(None, limits=FAST).render(source, {})
    assert time.monotonic() - t0 < 3


def test_ordinary_templates_render_as_before(tmp_path: Path) -> None:
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "style.j2").write_text("{% macro hue(c) %}<{{ c }}>{% endmacro %}warm light")
    tpl = Templates(tmp_path / "partials", root=tmp_path, limits=FAST)
    src = ("{% import 'style.j2' as s %}{% for l in locales %}{{ loop.index }}{{ l }}{% else %}none{% endfor %}"
           " {{ s.hue('red') }} {% include 'style.j2' %} {{ 'ab' * 3 }} {{ '%05d' % 42 }} {{ items|join(', ') }}")
    assert tpl.render(src, {"locales": ["en", "de"], "items": [1, 2]}) == "1en2de <red> warm light ababab 00042 1, 2"
    assert tpl.evaluate("{{ range(100000) | list }}", {})[-1] == 99999


def test_a_template_over_a_limit_is_not_tried_again() -> None:
    tpl = Templates(None, limits=FAST)
    for _ in range(2):
        t0 = time.monotonic()
        with pytest.raises(TemplateProblem, match="took longer"):
            tpl.render("A" + loops(5, 100, ""), {})
    assert time.monotonic() - t0 < 0.2  # the second time it is refused at once


def test_a_partial_outside_the_catalog_is_refused_naming_the_target(cat: Path) -> None:
    (cat / "partials" / "brand.j2").symlink_to("/etc/passwd")
    tpl = Templates(cat / "partials", root=cat)
    with pytest.raises(TemplateProblem, match="partial 'brand.j2' resolves to /etc/passwd, outside the catalog"):
        tpl.render("A mug, {% include 'brand.j2' %}", {})


# -- matrices and schedules ----------------------------------------------------------------------------

@pytest.mark.parametrize("expr, ok", [("0 6 * * 1", True), ("*/15 0-23/2 1,15 jan-mar mon-fri", True),
                                      ("0 0 * * 7", True), ("99 99 * * banana", False), ("0 6 * *", False),
                                      ("*/0 * * * *", False), ("1-2-3 * * * *", False), ("0 24 * * *", False)])
def test_schedules_are_real_cron_expressions(expr: str, ok: bool) -> None:
    assert (cron_problem(expr) is None) == ok
