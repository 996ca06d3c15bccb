"""Locale -> OCR language, and what a check says when it cannot run (never "passed")."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from pipelines.text import ocr
from pipelines.text.check import check_text, note_key
from pipelines.text.locales import LANGUAGES, language
from tests.text_samples import HEADLINES


@pytest.mark.parametrize("locale,code,package", [
    ("de", "deu", "tesseract-ocr-deu"), ("de-AT", "deu", "tesseract-ocr-deu"),
    ("zh-CN", "chi_sim", "tesseract-ocr-chi-sim"), ("zh-TW", "chi_tra", "tesseract-ocr-chi-tra"),
    ("zh-Hant-HK", "chi_tra", "tesseract-ocr-chi-tra"), ("zh_HK", "chi_tra", "tesseract-ocr-chi-tra"),
    ("pt-BR", "por", "tesseract-ocr-por"), (None, "eng", "tesseract-ocr-eng"),
])
def test_a_locale_maps_to_its_language_and_package(locale, code, package):
    lang = language(locale)
    assert (lang.code, lang.package) == (code, package)
    assert lang.install == f"apt-get install {package}"


def test_every_sample_locale_has_a_language():
    assert all(language(loc) is not None for loc in HEADLINES)
    assert len(set(LANGUAGES.values())) >= 45


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buf, "PNG")
    return buf.getvalue()


def test_missing_language_data_is_not_run_with_the_command(monkeypatch, tmp_path):
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))  # an empty tessdata directory
    verdict = check_text(_png(), ["Größer"], "de")
    assert verdict.status == "not_run" and verdict.language == "deu"
    assert "apt-get install tesseract-ocr-deu" in verdict.fix and "TESSDATA_PREFIX" in verdict.fix
    assert verdict.describe().startswith("text not checked: ")


def test_a_locale_without_a_language_is_not_run_saying_so():
    verdict = check_text(_png(), ["Habari"], "sw")
    assert verdict.status == "not_run" and "pipelines/text/locales.py" in verdict.fix


@pytest.mark.skipif(ocr.missing_language(language("en")) is not None,
                    reason="Tesseract's English data is not installed (apt-get install tesseract-ocr-eng)")
def test_a_blank_image_fails_with_what_was_read():
    verdict = check_text(_png(), ["BREW LAB"], "en")
    assert verdict.status == "failed" and verdict.missing == ["BREW LAB"]
    assert len(verdict.readings) >= 1  # what each pass of the ladder read is kept


def test_verdicts_are_keyed_by_image_text_and_locale():
    a = note_key("b" * 64, ["x"], "de")
    assert a != note_key("b" * 64, ["x"], "de-AT") != note_key("c" * 64, ["x"], "de")
    assert note_key("b" * 64, ("x",), "de") == a
