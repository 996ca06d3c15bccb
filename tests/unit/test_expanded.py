"""The expanded catalog is remembered between commands (pipelines/catalog/expanded.py) only while
nothing it came from changed: each kind of input, changed, expands again and is seen."""

from __future__ import annotations

import os

import pytest

from pipelines.catalog import expanded as expanded_mod
from pipelines.errors import CatalogError
from pipelines.plan.project import Project
from tests.helpers.catalogs import write_catalog

SETTINGS = 'check_text: "off"\ndefault_provider: draft\nproviders:\n  draft: {type: draft}\n'
CAMPAIGN = """campaign: c
locales: [en, de]
assets:
  - name: poster
    matrix: {locale: "{{ locales }}"}
    prompt: 'Poster reading "{{ t.headline }}", {% include "style.j2" %}'
    size: 1024x1024
  - name: loft
    edit: {image: poster, mask: refs/mask.png}
    prompt: Into a loft
"""


@pytest.fixture
def root(tmp_path, monkeypatch):
    write_catalog(tmp_path / "cat", {
        "catalog.yaml": SETTINGS, "campaigns/c.yaml": CAMPAIGN, "partials/style.j2": "matte",
        "locales/en.yaml": "headline: Hello\n", "locales/de.yaml": "headline: Hallo\n", "refs/mask.png": b""})
    monkeypatch.chdir(tmp_path)
    return tmp_path / "cat"


def _load(root, monkeypatch) -> tuple[Project, int]:
    """The project and how many times the catalog was expanded to load it."""
    calls = []
    real = expanded_mod.expanded
    monkeypatch.setattr("pipelines.plan.project.expanded",
                        lambda catalog, expand: real(catalog, lambda c: calls.append(1) or expand(c)))
    return Project.load(root), len(calls)


def _prompts(p: Project) -> dict[str, str]:
    return {v.key: v.prompt for v in p.variants}


def test_an_unchanged_catalog_loads_what_it_expanded_last_time(root, monkeypatch):
    first, n1 = _load(root, monkeypatch)
    again, n2 = _load(root, monkeypatch)
    assert (n1, n2) == (1, 0)
    assert again.variants == first.variants and len(again.variants) == 4


@pytest.mark.parametrize("path, text, key, prompt", [
    ("campaigns/c.yaml", CAMPAIGN.replace("Into a loft", "Into a barn"), "c/loft/en", "Into a barn"),
    ("locales/de.yaml", "headline: Servus\n", "c/poster/de", 'Poster reading "Servus", matte'),
    ("partials/style.j2", "glossy", "c/poster/en", 'Poster reading "Hello", glossy'),
])
def test_a_changed_text_file_expands_again(root, monkeypatch, path, text, key, prompt):
    _load(root, monkeypatch)
    (root / path).write_text(text)
    p, n = _load(root, monkeypatch)
    assert n == 1 and _prompts(p)[key] == prompt


def test_changed_settings_expand_again(root, monkeypatch):
    _load(root, monkeypatch)
    (root / "catalog.yaml").write_text(SETTINGS + "defaults: {quality: high}\n")
    p, n = _load(root, monkeypatch)
    assert n == 1 and {v.params.get("quality") for v in p.variants if v.operation == "generate"} == {"high"}


def test_a_deleted_reference_file_is_reported_again(root, monkeypatch):
    _load(root, monkeypatch)
    (root / "refs" / "mask.png").unlink()
    with pytest.raises(CatalogError, match="missing reference file 'refs/mask.png'"):
        _load(root, monkeypatch)


def test_a_catalog_with_problems_is_never_remembered(root, monkeypatch):
    (root / "locales" / "de.yaml").write_text("tagline: x\n")  # no headline in de
    for _ in range(2):
        with pytest.raises(CatalogError, match="headline"):
            _load(root, monkeypatch)
    assert not list(root.glob(".assetpipe/expanded/*.pickle"))


def test_sources_follow_the_working_directory(root, monkeypatch, tmp_path):
    first, _ = _load(root, monkeypatch)
    os.chdir(root)
    again, n = _load(root, monkeypatch)
    assert n == 1 and again.variants[0].source != first.variants[0].source


def test_a_damaged_file_expands_again(root, monkeypatch):
    _load(root, monkeypatch)
    [stored] = (root / ".assetpipe" / "expanded").glob("*.pickle")
    stored.write_bytes(stored.read_bytes()[:100])
    p, n = _load(root, monkeypatch)
    assert n == 1 and len(p.variants) == 4


def test_a_partial_linked_from_outside_the_catalog_is_never_read_for_the_key(root, monkeypatch, tmp_path):
    outside = tmp_path / "outside.j2"
    outside.write_text("secret")
    (root / "partials" / "link.j2").symlink_to(outside)
    assert expanded_mod._inputs(root) is None  # expanded afresh: the expansion's own rules apply
    (root / "partials" / "link.j2").unlink()
    (root / "partials" / "sub").symlink_to(tmp_path, target_is_directory=True)
    assert expanded_mod._inputs(root) is None
