"""Every kind of catalog mistake, through the CLI's entry function: `path:line: message`, exit 1, no
traceback, every problem at once, on the line a marketer has to edit, in words that say what to do.
The same through the installed script, and plan/build refusing alike:
tests/integration/test_catalog_errors.py."""

from __future__ import annotations

import textwrap

import pytest

from tests.helpers.catalogs import one_campaign
from tests.helpers.cli import validate_catalog

LOCALES = {"locales/en.yaml": "headline: Brewed for Makers\ntagline: Small batch.\n",
           "locales/de.yaml": "headline: Gebrüht für Macher\n"}


def line_of(files: dict, path: str, needle: str) -> int:
    """The 1-based line of `needle` in a catalog file as write_catalog writes it."""
    text = textwrap.dedent(files[path]).lstrip("\n")
    hits = [i + 1 for i, row in enumerate(text.splitlines()) if needle in row]
    assert len(hits) == 1, f"{needle!r} must occur once in {path}"
    return hits[0]


# (case id, files, [(file, needle on the expected line, [substrings of the message])])
CASES = [
    ("yaml-syntax-unclosed-quote", one_campaign("""
        campaign: a
        assets:
          - name: poster
            prompt: "A poster reading BREW LAB
            size: 1024x1536
        """), [("campaigns/a.yaml", "prompt:", ["YAML syntax error", "never closed", "closing quote"])]),
    ("yaml-syntax-colon", one_campaign("""
        campaign: a
        assets:
          - name: poster
            prompt: Label: BREW LAB on a mug
        """), [("campaigns/a.yaml", "prompt:", ["YAML syntax error", "quote a value"])]),
    ("yaml-syntax-tab", one_campaign("campaign: a\nassets:\n\t- name: x\n"),
     [("campaigns/a.yaml", "\t- name", ["tab", "spaces"])]),
    ("unknown-key-typo", one_campaign("""
        campaign: a
        assets:
          - name: mug
            prompt: a mug
            qualty: high
        """), [("campaigns/a.yaml", "qualty", ["asset 'mug'", "unknown key 'qualty'", "did you mean 'quality'"])]),
    ("unknown-key-campaign", one_campaign("""
        campaign: a
        local: [en]
        assets:
          - name: mug
            prompt: a mug
        """), [("campaigns/a.yaml", "local:", ["unknown key 'local'", "did you mean 'locales'"])]),
    ("unknown-key-settings", {"catalog.yaml": """
        check_text: "off"
        providers:
          draft: {type: draft}
          openai: {type: openai, max_concurency: 5}
        """, **one_campaign("campaign: a\nassets: [{name: x, prompt: hi}]\n")},
     [("catalog.yaml", "max_concurency", ["unknown key 'max_concurency'", "did you mean 'max_concurrency'"])]),
    ("wrong-types", one_campaign("""
        campaign: a
        assets:
          - name: mug
            prompt: a mug
            quality: ultra
            revision: next
          - name: poster
            prompt: a poster
            matrix: [en, de]
            text: 5
            compression: 101
        """), [("campaigns/a.yaml", "ultra", ["asset 'mug'", "quality", "'low', 'medium', 'high' or 'auto'", "'ultra'"]),
               ("campaigns/a.yaml", "revision", ["revision", "whole number", "'next'"]),
               ("campaigns/a.yaml", "matrix:", ["asset 'poster'", "matrix", "mapping"]),
               ("campaigns/a.yaml", "text: 5", ["text", "must be a list"]),
               ("campaigns/a.yaml", "compression", ["compression", "100", "101"])]),
    ("wrong-value-in-matrix", one_campaign("""
        campaign: a
        assets:
          - name: mug
            prompt: A mug
            matrix:
              quality: [low, ultra]
              output_format: [png, gif]
        """), [("campaigns/a.yaml", "quality:", ["asset 'mug': matrix quality", "'ultra'",
                                                 "(in 2 variants: ultra/png, ultra/gif)"]),  # once, naming both
               ("campaigns/a.yaml", "output_format:", ["asset 'mug': matrix output_format", "'png', 'jpeg' or 'webp'",
                                                        "'gif'", "(in 2 variants: low/gif, ultra/gif)"])]),
    ("unknown-provider-type", {"catalog.yaml": """
        check_text: "off"
        default_provider: openai
        providers:
          openai: {type: opnai, base_url: "http://127.0.0.1:9/v1"}
        """, **one_campaign("campaign: a\nassets: [{name: x, prompt: hi}]\n")},
     [("catalog.yaml", "opnai", ["providers.openai.type", "unknown provider type 'opnai'", "did you mean 'openai'"])]),
    ("partial-not-found", one_campaign("""
        campaign: a
        assets:
          - name: mug
            prompt: "A mug, {% include 'brand_style.j2' %}"
        """), [("campaigns/a.yaml", "prompt:", ["asset 'mug'", "partial not found: brand_style.j2"])]),
    ("undefined-in-prompt", one_campaign("""
        campaign: a
        vars: {brand: BREW LAB}
        assets:
          - name: mug
            prompt: "A mug with the label {{ brnad }}"
        """), [("campaigns/a.yaml", "prompt:", ["asset 'mug'", "prompt", "undefined variable 'brnad'",
                                                 "did you mean 'brand'"])]),
    ("undefined-in-text", one_campaign("""
        campaign: a
        locales: [en]
        assets:
          - name: poster
            prompt: A poster
            text:
              - "{{ t.headline }}"
              - "{{ slogan }}"
        """, **LOCALES), [("campaigns/a.yaml", "slogan", ["asset 'poster'", "text", "undefined variable 'slogan'"])]),
    ("undefined-in-var", one_campaign("""
        campaign: a
        vars:
          brand: BREW LAB
          style: "shot by {{ photographer }}"
        assets:
          - name: mug
            prompt: "A mug, {{ style }}"
        """), [("campaigns/a.yaml", "style:", ["var 'style'", "asset 'mug'", "undefined variable 'photographer'"])]),
    ("undefined-in-partial", one_campaign("""
        campaign: a
        vars:
          style: "{% include 'brand_style.j2' %}"
        assets:
          - name: mug
            prompt: "A mug, {{ style }}"
        """, **{"partials/brand_style.j2": "warm light,\nin {{ palette }} tones\n"}),
     [("campaigns/a.yaml", "style:", ["var 'style'", "undefined variable 'palette'", "partials/brand_style.j2 line 2"])]),
    ("unknown-upstream", one_campaign("""
        campaign: a
        assets:
          - name: mug_hero
            prompt: A mug
          - name: mug_loft
            edit: {image: mug_hreo}
            prompt: In a loft
          - name: thumb
            render: {from: mug_lofty, size: 600x400}
        """), [("campaigns/a.yaml", "mug_hreo", ["asset 'mug_loft'", "unknown upstream asset 'mug_hreo'",
                                                  "did you mean 'mug_hero'"]),
               ("campaigns/a.yaml", "mug_lofty", ["asset 'thumb'", "unknown upstream asset 'mug_lofty'"])]),
    ("dependency-cycle", one_campaign("""
        campaign: a
        assets:
          - name: day
            edit: night
            prompt: make it day
          - name: night
            edit: day
            prompt: make it night
        """), [("campaigns/a.yaml", "name: day", ["dependency cycle", "a/day -> a/night -> a/day"])]),
    ("pairing-no-match", one_campaign("""
        campaign: a
        locales: [en, de]
        assets:
          - name: poster
            matrix: {locale: "{{ locales }}", size: [1024x1536, 1536x1024]}
            prompt: "{{ t.headline }}"
          - name: story
            render: {from: poster, where: {size: 1080x1920}, size: 1080x1920}
            matrix: {locale: "{{ locales }}"}
        """, **LOCALES), [("campaigns/a.yaml", "render:", ["asset 'story' variant 'en'", "no variant of upstream a/poster",
                                                          "size=1080x1920", "it has en/1024x1536"]),
                          ("campaigns/a.yaml", "render:", ["asset 'story' variant 'de'", "no variant"])]),
    ("pairing-two-matches", one_campaign("""
        campaign: a
        locales: [en, de]
        assets:
          - name: poster
            matrix: {locale: "{{ locales }}", size: [1024x1536, 1536x1024]}
            prompt: "{{ t.headline }}"
          - name: poster_fix
            edit: poster
            matrix: {locale: "{{ locales }}"}
            prompt: sharper
        """, **LOCALES), [("campaigns/a.yaml", "edit: poster", ["asset 'poster_fix' variant 'en'",
                                                                "2 variants of upstream a/poster match locale=en",
                                                                "en/1024x1536, en/1536x1024", "exactly one"]),
                          ("campaigns/a.yaml", "edit: poster", ["variant 'de'", "2 variants"])]),
    ("size-format", one_campaign("""
        campaign: a
        assets:
          - name: mug
            prompt: A mug
            size: 1024*1024
        """), [("campaigns/a.yaml", "size:", ["asset 'mug'", "WxH", "'1024*1024'"])]),
    ("size-format-in-matrix", one_campaign("""
        campaign: a
        assets:
          - name: mug
            prompt: A mug
            matrix: {size: [1024x1024, large]}
        """), [("campaigns/a.yaml", "matrix:", ["asset 'mug'", "large"])]),
    ("size-too-large", one_campaign("""
        campaign: a
        assets:
          - name: billboard
            prompt: A billboard
            size: 7680x4320
        """), [("campaigns/a.yaml", "size:", ["asset 'billboard'", "7680x4320", "larger than gpt-image-2",
                                               "render to upscale"])]),
    ("missing-reference-file", one_campaign("""
        campaign: a
        assets:
          - name: bottle
            edit:
              image: refs/prodcut.png
              mask: refs/mask.png
            prompt: a terrace
        """, **{"refs/product.png": b""}), [
        ("campaigns/a.yaml", "prodcut", ["asset 'bottle'", "missing reference file 'refs/prodcut.png'",
                                          "did you mean 'refs/product.png'"]),
        ("campaigns/a.yaml", "mask:", ["missing reference file 'refs/mask.png'"])]),
    ("duplicate-asset", one_campaign("""
        campaign: a
        assets:
          - name: mug
            prompt: A mug
          - name: mug  # the copy
            prompt: Another mug
        """), [("campaigns/a.yaml", "the copy", ["duplicate asset name 'mug'", "first on line 3"])]),
    ("duplicate-campaign", {"campaigns/a.yaml": "campaign: launch\nassets: [{name: x, prompt: hi}]\n",
                            "campaigns/b.yaml": "campaign: launch\nassets: [{name: y, prompt: hi}]\n"},
     [("campaigns/b.yaml", "campaign:", ["duplicate campaign 'launch'", "campaigns/a.yaml"])]),
    ("duplicate-yaml-key", one_campaign("""
        campaign: a
        assets:
          - name: mug
            prompt: A mug
            size: 1024x1024
            size: 1536x1024
        """), [("campaigns/a.yaml", "1536x1024", ["duplicate key 'size'", "line 5"])]),
    ("unknown-provider", one_campaign("""
        campaign: a
        assets:
          - name: mug
            prompt: A mug
            provider: opneai
        """), [("campaigns/a.yaml", "provider:", ["asset 'mug'", "unknown provider 'opneai'", "draft"])]),
    ("unknown-default-provider", {"catalog.yaml": """
        check_text: "off"
        default_provider: openia
        providers:
          draft: {type: draft}
        """, **one_campaign("campaign: a\nassets: [{name: x, prompt: hi}]\n")},
     [("catalog.yaml", "default_provider", ["default_provider: 'openia' is not one of providers", "draft"])]),
    ("edit-on-vendor-without-edit", {"catalog.yaml": """
        check_text: "off"
        providers:
          draft: {type: draft}
          gptimageapi: {type: gptimageapi, base_url: "http://127.0.0.1:9", api_key_env: GPTIMAGEAPI_API_KEY}
        """, **one_campaign("""
        campaign: a
        provider: gptimageapi
        assets:
          - name: mug
            prompt: A mug
          - name: mug_loft
            edit: mug
            prompt: In a loft
        """)}, [("campaigns/a.yaml", "name: mug_loft", ["gptimageapi", "no edit endpoint", "provider:"])]),
    ("missing-locale-file", one_campaign("""
        campaign: a
        locales: [en, fr]
        assets:
          - name: poster
            matrix: {locale: "{{ locales }}"}
            prompt: "{{ t.headline }}"
        """, **LOCALES), [("campaigns/a.yaml", "matrix:", ["asset 'poster'", "locale 'fr'", "add locales/fr.yaml"])]),
    ("locale-string-typo-once-at-its-line", one_campaign("""
        campaign: a
        locales: [en, de]
        assets:
          - name: poster
            matrix: {locale: "{{ locales }}", size: [1024x1536, 1536x1024]}
            prompt: >-
              A poster with the headline
              "{{ t.headlin }}" in big letters
        """, **LOCALES), [("campaigns/a.yaml", "t.headlin", [  # issue #15 item 9: once, at the expression
            "asset 'poster': in prompt: no locale string 'headlin' (did you mean 'headline'?) (in 4 variants: "
            "en/1024x1536, en/1536x1024, de/1024x1536, de/1536x1024)"])]),
    ("undefined-variable-at-its-line", one_campaign("""
        campaign: a
        vars: {brand: ACME}
        assets:
          - name: poster
            prompt: |
              A poster for {{ brand }}
              with the tagline {{ brnd }} under it
            text: ["{{ brand }}", "{{ tagline }}"]
        """), [("campaigns/a.yaml", "{{ brnd }}", ["asset 'poster': in prompt: undefined variable 'brnd' "
                                                   "(did you mean 'brand'?)"]),
               ("campaigns/a.yaml", "text:", ["in text: undefined variable 'tagline'"])]),
    ("unknown-key-hides-nothing", one_campaign("""
        campaign: a
        vars: {brand: ACME}
        assets:
          - name: hero
            sise: 1536x1024
            prompt: A poster for {{ brnd }}
        """), [("campaigns/a.yaml", "sise:", ["asset 'hero': unknown key 'sise' (did you mean 'size'?)"]),  # item 11
               ("campaigns/a.yaml", "prompt:", ["asset 'hero': in prompt: undefined variable 'brnd'"])]),
    ("hint-to-an-asset-with-errors-of-its-own", one_campaign("""
        campaign: a
        assets:
          - name: banner
            rendr: {from: x}
          - name: thumb
            render: {from: baner, size: 512x512}
        """), [("campaigns/a.yaml", "rendr:", ["unknown key 'rendr'"]),
               ("campaigns/a.yaml", "from: baner", ["unknown upstream asset 'baner' (did you mean 'banner'?)"])]),
    ("oversized-size-once", one_campaign("""
        campaign: a
        locales: [en, de]
        assets:
          - name: big
            matrix: {locale: "{{ locales }}"}
            size: 8000x4000
            prompt: "{{ t.headline }}"
        """, **LOCALES), [("campaigns/a.yaml", "size:", ["asset 'big': size 8000x4000 is larger than gpt-image-2",
                                                         "(in 2 variants: en, de)"])]),
    ("missing-locale-string", one_campaign("""
        campaign: a
        locales: [en, de]
        assets:
          - name: poster
            matrix: {locale: "{{ locales }}"}
            prompt: "{{ t.headline }} / {{ t.tagline }}"
        """, **LOCALES), [("campaigns/a.yaml", "prompt:", ["variant 'de'", "locale 'de' has no string 'tagline'",
                                                           "locales/de.yaml"])]),
]


@pytest.mark.parametrize("files,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_catalog_reports_path_line_message(tmp_path, files, expected):
    found = validate_catalog(tmp_path, files)
    assert len(found) == len(expected), "\n".join(map(str, found))
    remaining = list(found)
    for rel, needle, parts in expected:
        line = line_of(files, rel, needle)
        hit = next((f for f in remaining if f[0].endswith(rel) and f[1] == line and all(p in f[2] for p in parts)), None)
        assert hit is not None, f"no {rel}:{line} with {parts} in:\n" + "\n".join(map(str, found))
        remaining.remove(hit)


