"""Real OCR (rapidocr on onnxruntime, seconds per image) of posters drawn with Pillow: it reads
what was drawn, fails a misspelled poster, reads transparent, JPEG and path inputs."""

from __future__ import annotations

import pytest

from pipelines.engine import ocr
from pipelines.engine.ocr import text_check
from tests.helpers.images import draw_poster

needs_engine = pytest.mark.skipif(not ocr.available(), reason="rapidocr-onnxruntime not installed: pip install 'assetpipe[ocr]'")


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
    found = ocr.read_text(draw_poster(drawn))
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
    found = ocr.read_text(draw_poster(drawn))
    assert found, "the engine read nothing, so this test would prove nothing"
    ok, details = text_check(expected, found)
    assert not ok, details
    assert details["missing"] == expected


@needs_engine
def test_ocr_reads_transparent_jpeg_and_path_inputs(tmp_path):
    # Transparent PNGs are read on white (black-on-transparent would vanish on a black matte).
    found = ocr.read_text(draw_poster(["BREW LAB"], mode="RGBA"))
    assert text_check(["BREW LAB"], found)[0], found
    path = tmp_path / "poster.jpg"
    path.write_bytes(draw_poster(["BREW LAB"], fmt="JPEG"))
    assert text_check(["BREW LAB"], ocr.read_text(path))[0]


@needs_engine
def test_ocr_of_a_blank_image_is_empty():
    assert ocr.read_text(draw_poster([])) == []
