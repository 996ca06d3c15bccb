"""The in-image text check: normalization tables, then real OCR of posters drawn with Pillow."""

from __future__ import annotations

import io
import sys

import pytest
from PIL import Image, ImageDraw, ImageFont

from pipelines.engine import ocr
from pipelines.engine.ocr import normalize, text_check
from pipelines.errors import OcrUnavailable


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
        ocr.read_text(_poster(["x"]))


# ---- real OCR --------------------------------------------------------------------------------

needs_engine = pytest.mark.skipif(not ocr.available(), reason="rapidocr-onnxruntime not installed: pip install 'assetpipe[ocr]'")


def _font(px: int):
    fonts = pytest.importorskip("cvttf_NotoSansCJK_Regular", reason="the Noto Sans CJK font package is missing")
    return ImageFont.truetype(fonts.get_TTF_path(), px)


def _poster(lines: list[str], size=(768, 512), px=56, mode="RGB", fmt="PNG") -> bytes:
    bg = (0, 0, 0, 0) if mode == "RGBA" else (240, 232, 220)
    im = Image.new(mode, size, bg)
    draw = ImageDraw.Draw(im)
    font = _font(px)
    for i, line in enumerate(lines):
        draw.text((40, 60 + i * int(px * 1.8)), line, font=font, fill=(30, 30, 30) if mode != "RGBA" else (30, 30, 30, 255))
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


@needs_engine
@pytest.mark.parametrize(
    "drawn",
    [
        ["BREW LAB", "Fresh coffee, daily."],
        ["Frisch gebrüht.", "Größer, süßer, mehr Öl"],
        ["新鲜咖啡", "每天早晨的第一杯。"],
    ],
    ids=["en", "de", "zh-CN"],
)
def test_ocr_reads_what_was_drawn(drawn):
    found = ocr.read_text(_poster(drawn))
    ok, details = text_check(drawn, found)
    assert ok, details


@needs_engine
@pytest.mark.parametrize(
    "drawn, expected",
    [
        (["BREW LBA"], ["BREW LAB"]),
        (["Frisch gebrüt."], ["Frisch gebrüht."]),
        (["新鲜咖非"], ["新鲜咖啡"]),
    ],
    ids=["en", "de", "zh-CN"],
)
def test_ocr_fails_a_misspelled_poster(drawn, expected):
    found = ocr.read_text(_poster(drawn))
    assert found, "the engine read nothing, so this test would prove nothing"
    ok, details = text_check(expected, found)
    assert not ok, details
    assert details["missing"] == expected


@needs_engine
def test_ocr_reads_transparent_jpeg_and_path_inputs(tmp_path):
    # Transparent PNGs are read on white (black-on-transparent would vanish on a black matte).
    found = ocr.read_text(_poster(["BREW LAB"], mode="RGBA"))
    assert text_check(["BREW LAB"], found)[0], found
    path = tmp_path / "poster.jpg"
    path.write_bytes(_poster(["BREW LAB"], fmt="JPEG"))
    assert text_check(["BREW LAB"], ocr.read_text(path))[0]


@needs_engine
def test_ocr_of_a_blank_image_is_empty():
    assert ocr.read_text(_poster([])) == []
