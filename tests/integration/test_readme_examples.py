"""The README's examples against what the CLI really prints (issue #15, item 18): every reason the
`plan` bullet lists is produced by the change it names on the example catalog, every `--select`
example selects something, and a second build has nothing to do. The examples are read from
README.md, so a README edit that drifts from the output fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.catalogs import copy_built
from tests.helpers.cli import plan_json, run_cli
from tests.helpers.images import make_image
from tests.helpers.paths import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def bullet(start: str) -> str:
    """The text of the README bullet that starts with `start`, its lines joined."""
    m = re.search(r"^- " + re.escape(start) + r".*?(?=^- |^\n|^```|\Z)", README, re.M | re.S)
    assert m, f"README has no bullet starting {start!r}"
    return " ".join(m.group(0).split())


def ticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def plan_reasons() -> list[str]:
    text = bullet("`plan` prints one row per variant")
    why = text.split("*why* it changed (", 1)[1].split("), the provider and the estimated cost", 1)[0]
    return [t for t in ticked(why) if not t.startswith("--")]


def select_examples() -> list[str]:
    text = bullet("`--select` takes")
    return [t for t in ticked(text) if "sel" not in t and not t.startswith("--") and "matches no variant" not in t]


def pattern(example: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(example).replace("…", ".+") + "$")


def kind(reason: str) -> str:
    """A reason with the variant it names left out: `upstream … (changed)`."""
    return re.sub(r"^upstream \S+", "upstream …", reason)


@pytest.fixture
def catalog(draft_example_built, tmp_path) -> Path:
    return copy_built(draft_example_built[0], tmp_path / "catalog")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def reasons(catalog: Path) -> set[str]:
    return {r for row in plan_json(catalog, env={"OPENAI_API_KEY": ""}).values() for r in row["reasons"]}


def test_every_reason_the_readme_lists_is_printed_by_the_change_it_names(catalog):
    examples = plan_reasons()
    assert len(examples) >= 7, examples  # the parse found the list
    seen: set[str] = set()
    campaign = catalog / "campaigns" / "brewlab_launch.yaml"
    edit(campaign, 'with the label "{{ brand }}", {{ style }}', 'with the label "{{ brand }}" on oak, {{ style }}')
    seen |= reasons(catalog)  # prompt; the loft's upstream is changed too
    code, out, err = run_cli("build", "--select", "brewlab_launch/mug_hero", catalog=catalog)
    assert code == 0, out + err
    seen |= reasons(catalog)  # the loft's upstream was rebuilt since
    edit(campaign, "    size: 1536x1024\n", "    size: 1024x1536\n    revision: 1\n")
    (catalog / "refs" / "product.png").write_bytes(make_image(1024, 1024, "png", color=(20, 160, 90)))
    edit(catalog / "catalog.yaml", "default_provider: draft", "default_provider: openai")
    seen |= reasons(catalog)  # size, revision, input image, model
    for example in examples:
        assert any(pattern(example).match(r) for r in seen), f"README reason {example!r} is never printed: {sorted(seen)}"
    kinds = {kind(e) for e in examples}
    for r in seen:  # and every kind of reason these changes print is in the README
        assert kind(r) in kinds, f"{r!r} is printed, the README lists {examples}"


def test_every_select_example_selects_something(draft_example_built):
    catalog = draft_example_built[0]
    examples = select_examples()
    assert {"brewlab_launch", "locale=de"} <= set(examples), examples
    for sel in examples:
        rows = plan_json(catalog, "--select", sel)
        assert rows, sel


def test_the_readme_hint_for_a_select_typo_is_what_the_cli_prints(draft_example_built):
    text = bullet("`--select` takes")
    [example] = [t for t in ticked(text) if t.startswith("'winter_sael'")]
    catalog = draft_example_built[0]
    edit_free = example.replace("winter_sael", "brewlab_lanch").replace("winter_sale", "brewlab_launch")
    code, out, err = run_cli("plan", "--select", "brewlab_lanch", catalog=catalog)
    assert code == 2 and err.strip() == f"error: {edit_free}", err


def test_a_second_build_has_nothing_to_do(catalog):  # a copy: even a no-op build rewrites the manifest
    assert "Run `.venv/bin/assetpipe build` again: *nothing to do*" in " ".join(README.split())
    code, out, err = run_cli("build", catalog=catalog)
    assert code == 0 and out.startswith("nothing to do"), out + err
