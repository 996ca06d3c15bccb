"""OCR reads the headline of draft posters in every script the issue names, and a rendition whose
expected text has one letter dropped, swapped or changed fails its check; so does a crop that
cuts the headline. One build of a test catalog through the CLI (the checks run in parallel)."""

from __future__ import annotations

import json

import pytest

from pipelines.text.compare import find
from tests.helpers.catalogs import manifest, write_catalog
from tests.helpers.cli import run_cli
from tests.text_samples import HEADLINES, mutations, needs_ocr

LOCALES = ["de", "fr", "pl", "ru", "el", "zh-CN", "zh-TW", "ja", "ko", "ar", "he", "th", "hi"]
pytestmark = [pytest.mark.slow, needs_ocr(*LOCALES)]
KINDS = ["drop", "swap", "change"]


def _wrong(locale: str) -> tuple[str, str]:
    kind = KINDS[LOCALES.index(locale) % 3]
    return kind, mutations(HEADLINES[locale])[kind]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    files = {
        "catalog.yaml": "check_text: auto\n",
        "campaigns/world.yaml": f"""
            campaign: world
            locales: {json.dumps(LOCALES)}
            assets:
              - name: poster
                matrix: {{locale: "{{{{ locales }}}}"}}
                prompt: A poster reading "{{{{ t.headline }}}}"
                size: 1024x1536
              - name: misspelt
                render: {{from: poster, size: 512x768, fit: cover}}
                text: ["{{{{ t.wrong }}}}"]
              - name: strip
                render: {{from: poster, where: {{locale: de}}, size: 200x1536, fit: cover}}
            """,
    }
    for loc in LOCALES:
        files[f"locales/{loc}.yaml"] = (f"headline: {json.dumps(HEADLINES[loc], ensure_ascii=False)}\n"
                                        f"wrong: {json.dumps(_wrong(loc)[1], ensure_ascii=False)}\n")
    cat = write_catalog(tmp_path_factory.mktemp("world") / "catalog", files)
    code, out, err = run_cli("build", catalog=cat, timeout=600)
    return cat, code, out, err, {e["key"]: e for e in manifest(cat)["variants"]}


@pytest.mark.parametrize("locale", LOCALES)
def test_the_headline_of_a_draft_poster_is_read(built, locale):
    _, _, out, err, entries = built
    check = entries[f"world/poster/{locale}"]["checks"]["text_ok"]
    assert check["status"] == "passed", (check, err[-2000:])


@pytest.mark.parametrize("locale", LOCALES)
def test_a_rendition_expecting_one_wrong_letter_fails(built, locale):
    _, code, out, err, entries = built
    kind, wrong = _wrong(locale)
    check = entries[f"world/misspelt/{locale}"]["checks"]["text_ok"]
    assert check["status"] == "failed", (kind, wrong, check)
    assert code == 1 and f"world/misspelt/{locale}: text_ok" in err


def test_a_crop_that_cuts_the_headline_fails(built):
    _, _, out, err, entries = built
    assert entries["world/strip/de"]["checks"]["text_ok"]["status"] == "failed"


@pytest.mark.parametrize("locale", LOCALES)
def test_no_mistake_of_one_letter_passes_on_what_ocr_read(built, locale):
    # every kind of mistake, against every reading of the passing poster (no OCR needed again)
    _, _, _, _, entries = built
    check = entries[f"world/misspelt/{locale}"]["checks"]["text_ok"]
    readings = [r["lines"] for r in check.get("readings", [])]
    assert readings
    for kind, wrong in mutations(HEADLINES[locale]).items():
        assert not any(find(wrong, lines, locale).ok for lines in readings), (kind, wrong)
