"""The in-image text check: normalization and matching tables, and the message when the OCR engine is
missing. Real OCR of posters drawn with Pillow: tests/integration/test_ocr.py."""

from __future__ import annotations

import sys

import pytest

from pipelines.engine import ocr
from pipelines.engine.ocr import normalize, text_check
from pipelines.errors import OcrUnavailable
from tests.helpers.images import draw_poster


@pytest.mark.parametrize(
    "expected, found",
    [
        (["BREW LAB"], ["BREWLAB"]),  # the engine drops spaces between capitals
        (["brew lab"], ["BREW  LAB"]),  # case and runs of spaces
        (["Fresh coffee, daily."], ["Fresh coffee ,daily ."]),  # spacing around punctuation
        (["Fresh coffee, daily."], ["Fresh coffee,", "daily."]),  # one string split over two boxes
        (["BREW LAB", "Fresh"], ["BREW LAB Fresh"]),  # two strings merged into one box
        (["“Good” – morning"], ['"Good" - morning']),  # typographic quotes and dashes
        (["ＡＢＣ１２３"], ["ABC123"]),  # NFKC: full-width forms
        (["新鲜咖啡，每天。"], ["新鲜咖啡,每天."]),  # CJK: no spaces, full-width punctuation
        (["Frisch gebrüht"], ["Frisch gebruht"]),  # diacritics the model cannot read
        (["Größer"], ["GroBer"]),  # ß read as B
        (["Straße"], ["STRASSE"]),  # ß case-folds to ss
        (["Fresh coffee, daily."], ["Fresh coffee daily"]),  # lost punctuation is not spelling
    ],
)
def test_text_check_accepts(expected, found):
    ok, details = text_check(expected, found)
    assert ok, details
    assert details["missing"] == []


@pytest.mark.parametrize(
    "expected, found",
    [
        (["BREW LAB"], ["BREW LBA"]),  # transposed letters
        (["Fresh coffee"], ["Fresh cofee"]),  # a dropped letter
        (["Frisch gebrüht"], ["Frisch gebrut"]),  # a dropped letter next to an umlaut
        (["新鲜咖啡"], ["新鮮咖啡"]),  # a traditional character in a simplified string
        (["SALE 50%"], ["SALE 5O%"]),  # O is not 0
        (["BREW LAB", "Fresh"], ["BREW LAB"]),  # one of two strings absent
        (["anything"], []),  # nothing read at all
        (["!!!"], ["hello"]),  # punctuation-only text must still be seen
    ],
)
def test_text_check_rejects(expected, found):
    ok, details = text_check(expected, found)
    assert not ok
    assert details["missing"]


def test_details_say_where_and_what_was_relaxed():
    ok, details = text_check(["Frisch gebrüht", "BREW LAB"], ["BREW LAB", "Frisch", "gebruht"])
    assert ok
    by_text = {r["expected"]: r for r in details["results"]}
    assert by_text["BREW LAB"] == {"expected": "BREW LAB", "match": "exact", "where": "line 1"}
    assert by_text["Frisch gebrüht"]["match"] == "loose"
    assert by_text["Frisch gebrüht"]["where"] == "joined"
    assert any("ü" in note for note in by_text["Frisch gebrüht"]["relaxed"])


def test_normalize():
    assert normalize("  Brew\u00a0LAB ,\tdaily ") == "brewlab,daily"
    assert normalize("ﬁne") == "fine"


def test_unavailable_engine_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # import now raises ImportError
    monkeypatch.setattr(ocr, "_engine", None)
    assert not ocr.available()
    with pytest.raises(OcrUnavailable, match=r"assetpipe\[ocr\]"):
        ocr.read_text(draw_poster(["x"]))


