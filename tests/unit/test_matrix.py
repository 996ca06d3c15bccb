"""The catalog language, unit by unit: matrix include/exclude, `{{ locales }}` as a list, upstream
pairing, locale strings `t` and their fallback, the default expected text."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.catalog.loader import load_catalog
from pipelines.catalog.variant import Variant
from pipelines.catalog.variants import expand
from pipelines.errors import CatalogError
from tests.helpers.catalogs import write_catalog
from tests.helpers.paths import EXAMPLE

LOCALES = {"locales/en.yaml": "headline: Brewed for Makers\ntagline: Small batch.\nlegal: {short: TM}\n",
           "locales/de.yaml": "headline: Gebrüht für Macher\n",
           "locales/zh-CN.yaml": "headline: 为创造者而酿\ntagline: 小批量。\n"}


def variants(tmp_path: Path, campaign: str, settings: str = 'check_text: "off"\n', **files: str) -> dict[str, Variant]:
    root = write_catalog(tmp_path / "cat", {"catalog.yaml": settings, "campaigns/a.yaml": campaign, **LOCALES, **files})
    return {v.key.removeprefix("a/"): v for v in expand(load_catalog(root))}


def problems(tmp_path: Path, campaign: str, settings: str = 'check_text: "off"\n') -> list[str]:
    with pytest.raises(CatalogError) as exc:
        variants(tmp_path, campaign, settings)
    return [i.message for i in exc.value.issues]


def test_matrix_is_the_cartesian_product_in_written_order(tmp_path):
    vs = variants(tmp_path, """
        campaign: a
        assets:
          - name: p
            prompt: "{{ locale }} {{ size }}"
            matrix: {locale: [en, de], size: [1024x1536, 1536x1024]}
        """)
    assert list(vs) == ["p/en/1024x1536", "p/en/1536x1024", "p/de/1024x1536", "p/de/1536x1024"]
    v = vs["p/de/1536x1024"]
    assert v.values == {"locale": "de", "size": "1536x1024"} and v.vid == "de/1536x1024"
    assert v.params["size"] == "1536x1024" and v.prompt == "de 1536x1024"  # a field key sets the field
    assert v.key_path == ["a", "p", "de", "1536x1024"]


def test_exclude_removes_every_matching_combination(tmp_path):
    vs = variants(tmp_path, """
        campaign: a
        assets:
          - name: p
            prompt: x
            matrix:
              locale: [en, de, zh-CN]
              size: [1024x1536, 1536x1024]
              exclude:
                - {locale: de, size: 1536x1024}
                - {locale: zh-CN}
        """)
    assert list(vs) == ["p/en/1024x1536", "p/en/1536x1024", "p/de/1024x1536"]


def test_include_adds_a_new_combination_or_extends_matching_ones(tmp_path):
    vs = variants(tmp_path, """
        campaign: a
        assets:
          - name: p
            prompt: x
            matrix:
              locale: [en, de]
              size: [1536x1024]
              include:
                - {locale: en, size: 1024x1024}      # new: appended
                - {locale: de, quality: high}        # extra key: extends the de combinations
                - {locale: en, size: 1536x1024}      # already there: no duplicate
        """)
    assert list(vs) == ["p/en/1536x1024", "p/de/1536x1024/high", "p/en/1024x1024"]
    assert vs["p/de/1536x1024/high"].params["quality"] == "high"
    assert vs["p/en/1536x1024"].params.get("quality") is None


def test_exclude_must_name_matrix_keys(tmp_path):
    msgs = problems(tmp_path, """
        campaign: a
        assets:
          - name: p
            prompt: x
            matrix: {locale: [en], exclude: [{lang: en}]}
        """)
    assert msgs == ["exclude names keys not in the matrix: lang"]


def test_a_matrix_value_written_as_one_expression_is_that_list(tmp_path):
    vs = variants(tmp_path, """
        campaign: a
        locales: [zh-CN, en]
        vars: {sizes: [1024x1024, 1536x1024]}
        assets:
          - name: p
            prompt: "{{ t.headline }}"
            matrix: {locale: "{{ locales }}", size: "{{ sizes }}"}
        """)
    assert list(vs) == ["p/zh-CN/1024x1024", "p/zh-CN/1536x1024", "p/en/1024x1024", "p/en/1536x1024"]
    assert vs["p/zh-CN/1024x1024"].prompt == "为创造者而酿"
    assert vs["p/zh-CN/1024x1024"].tags["locale"] == "zh-CN"


def test_locales_is_a_list_in_templates_too(tmp_path):
    vs = variants(tmp_path, """
        campaign: a
        locales: [en, de]
        assets:
          - name: p
            prompt: "{{ locales | join(', ') }} ({{ locales | length }})"
        """)
    assert vs["p/default"].prompt == "en, de (2)"


def test_t_has_no_fallback_unless_the_catalog_says_so(tmp_path):
    campaign = """
        campaign: a
        locales: [en, de]
        assets:
          - name: p
            matrix: {locale: "{{ locales }}"}
            prompt: "{{ t.headline }} / {{ t.tagline }}"
        """
    msgs = problems(tmp_path, campaign)
    assert len(msgs) == 1 and "locale 'de' has no string 'tagline'" in msgs[0]

    vs = variants(tmp_path / "fb", campaign, settings='check_text: "off"\nlocales: {default: en, fallback: true}\n')
    assert vs["p/de"].prompt == "Gebrüht für Macher / Small batch."
    assert vs["p/en"].prompt == "Brewed for Makers / Small batch."


def test_nested_locale_strings(tmp_path):
    vs = variants(tmp_path, """
        campaign: a
        locales: [en]
        assets:
          - name: p
            matrix: {locale: "{{ locales }}"}
            prompt: "legal {{ t.legal.short }}"
        """)
    assert vs["p/en"].prompt == "legal TM"


def test_default_expected_text_is_the_quoted_strings_of_the_prompt(tmp_path):
    vs = variants(tmp_path, """
        campaign: a
        vars: {brand: BREW LAB}
        locales: [en]
        assets:
          - name: quoted
            prompt: 'A mug labelled "{{ brand }}", a sign “Open daily” and "{{ brand }}" again, 5" tall'
          - name: explicit
            matrix: {locale: "{{ locales }}"}
            prompt: 'A poster reading "{{ t.headline }}"'
            text: ["{{ t.headline }}", "{{ t.tagline }}", ""]
          - name: none
            prompt: A plain product shot
        """)
    assert vs["quoted/default"].text == ("BREW LAB", "Open daily")
    assert vs["explicit/en"].text == ("Brewed for Makers", "Small batch.")  # empty entries dropped
    assert vs["none/default"].text == ()


def test_an_edit_without_a_matrix_takes_its_upstream_variants_one_for_one(tmp_path):
    vs = variants(tmp_path, """
        campaign: a
        locales: [en, de]
        assets:
          - name: poster
            matrix: {locale: "{{ locales }}", size: [1024x1536, 1536x1024]}
            prompt: "{{ t.headline }}"
          - name: fixed
            edit: poster
            prompt: "sharper, in {{ locale }}"
          - name: thumbs
            render: {from: poster, where: {size: 1536x1024}, size: 600x400, format: webp}
        """)
    fixed = [k for k in vs if k.startswith("fixed/")]
    assert fixed == ["fixed/en/1024x1536", "fixed/en/1536x1024", "fixed/de/1024x1536", "fixed/de/1536x1024"]
    assert vs["fixed/de/1536x1024"].upstream_keys == ["a/poster/de/1536x1024"]
    assert vs["fixed/de/1536x1024"].prompt == "sharper, in de"
    assert vs["fixed/de/1536x1024"].params["size"] == "1536x1024"  # a matrix size key sets the edit's size
    thumbs = {k: v for k, v in vs.items() if k.startswith("thumbs/")}
    assert list(thumbs) == ["thumbs/en/1536x1024", "thumbs/de/1536x1024"]
    t = thumbs["thumbs/de/1536x1024"]
    assert t.upstream_keys == ["a/poster/de/1536x1024"] and t.operation == "render" and t.provider is None
    assert (t.params["size"], t.output_format, t.relpath) == ("600x400", "webp", "a/thumbs/de/1536x1024.webp")


def test_pairing_by_shared_keys_and_where(tmp_path):
    vs = variants(tmp_path, """
        campaign: a
        locales: [en, de]
        assets:
          - name: poster
            matrix: {locale: "{{ locales }}", size: [1024x1536, 1536x1024]}
            prompt: "{{ t.headline }}"
          - name: story
            render: {from: poster, where: {size: 1024x1536}, size: 1080x1920}
            matrix: {locale: "{{ locales }}"}
        """)
    assert vs["story/de"].upstream_keys == ["a/poster/de/1024x1536"]
    assert vs["story/en"].upstream_keys == ["a/poster/en/1024x1536"]


def test_expand_returns_upstreams_before_dependants_across_campaigns(tmp_path):
    root = write_catalog(tmp_path / "cat", {
        "campaigns/a.yaml": "campaign: a\nassets:\n  - {name: loft, edit: 'b:hero', prompt: loft}\n",
        "campaigns/b.yaml": "campaign: b\nassets:\n  - {name: hero, prompt: hero}\n"})
    keys = [v.key for v in expand(load_catalog(root))]
    assert keys.index("b/hero/default") < keys.index("a/loft/default")


def test_per_asset_and_per_variant_provider(tmp_path):
    settings = '''
        check_text: "off"
        providers:
          draft: {type: draft}
          other: {type: draft}
        '''
    vs = variants(tmp_path, """
        campaign: a
        assets:
          - name: one
            prompt: x
            provider: other
          - name: many
            prompt: x
            matrix: {provider: [draft, other]}
        """, settings=settings)
    assert vs["one/default"].provider == "other"
    assert [vs["many/draft"].provider, vs["many/other"].provider] == ["draft", "other"]


def test_the_example_catalog_expands_as_documented():
    vs = {v.key: v for v in expand(load_catalog(EXAMPLE))}
    assert len(vs) == 20
    assert vs["brewlab_launch/mug_loft/default"].upstream_keys == ["brewlab_launch/mug_hero/default"]
    assert vs["brewlab_launch/poster_story/zh-CN"].upstream_keys == ["brewlab_launch/launch_poster/zh-CN/1024x1536"]
    assert vs["cold_brew_summer/summer_banner/zh-CN/1536x1024"].text == ("冷泡季节",)
    assert [i.role for i in vs["cold_brew_summer/bottle_on_table/default"].inputs] == ["image", "mask"]
    # the include adds one square English banner, and the renders follow it one for one
    assert "cold_brew_summer/summer_banner/en/1024x1024" in vs
    assert "cold_brew_summer/banner_thumb/en/1024x1024" in vs
    assert "BREW LAB" in vs["cold_brew_summer/summer_banner/en/1536x1024"].prompt  # a macro from a partial


@pytest.mark.parametrize("selection,expected", [
    ("brewlab_launch/launch_poster/de/*", {"brewlab_launch/launch_poster/de/1024x1536",
                                           "brewlab_launch/launch_poster/de/1536x1024"}),
    ("launch_poster/de/*", {"brewlab_launch/launch_poster/de/1024x1536", "brewlab_launch/launch_poster/de/1536x1024"}),
    ("mug_hero+", {"brewlab_launch/mug_hero/default", "brewlab_launch/mug_loft/default"}),
    ("+poster_story/de", {"brewlab_launch/poster_story/de", "brewlab_launch/launch_poster/de/1024x1536"}),
    ("locale=zh-CN size=1536x1024", None),  # a union: checked below
    ("cold_brew_summer", None),
])
def test_select(selection, expected):
    from pipelines.catalog.select import select

    vs = expand(load_catalog(EXAMPLE))
    got = {v.key for v in select(vs, selection)}
    if expected is not None:
        assert got == expected
    elif selection.startswith("locale"):
        assert {k for k in got if "zh-CN" in k} == {v.key for v in vs if v.values.get("locale") == "zh-CN"}
        assert "brewlab_launch/mug_hero/default" in got  # size=1536x1024 by its size field, not a matrix
    else:
        assert got == {v.key for v in vs if v.campaign == "cold_brew_summer"} and len(got) == 9


def test_select_that_matches_nothing_names_the_selector():
    from pipelines.catalog.select import select
    from pipelines.errors import SelectionError

    with pytest.raises(SelectionError, match="'launch_postr' matches no variant"):
        select(expand(load_catalog(EXAMPLE)), ["launch_postr"])
