"""EachLabs' pure helpers as tables: the nearest size a schema's enum offers, the input built from
a model's schema, the output shapes read as URLs. Against the emulator:
tests/integration/test_provider_eachlabs.py."""

from __future__ import annotations

import pytest

from providers.base import ImageRequest
from providers.eachlabs import build_input, nearest_enum_size, output_urls
from tests.emulators.eachlabs import edit_schema, text_to_image_schema
from tests.helpers.providers import image_request


@pytest.mark.parametrize(
    "w, h, expect",
    [(1024, 1024, "1024x1024"), (1200, 800, "1536x1024"), (800, 1200, "1024x1536"), (3840, 2160, "1536x1024"),
     (1080, 1920, "1024x1536"), (1100, 1000, "1024x1024"), (2048, 2048, "1024x1024")],
)
def test_nearest_enum_size(w, h, expect):
    assert nearest_enum_size(w, h, ["auto", "1024x1024", "1536x1024", "1024x1536"]) == expect


def test_nearest_enum_size_prefers_area_among_equal_ratios():
    assert nearest_enum_size(2000, 2000, ["1024x1024", "2048x2048"]) == "2048x2048"
    assert nearest_enum_size(1000, 1000, ["square_hd", "auto"]) is None


def test_build_input_tables():
    req = image_request("generate", 1024, 1024, "png", quality="auto", background="transparent")
    inp, size = build_input(text_to_image_schema(), req, [])
    assert inp == {"prompt": req.prompt, "image_size": "1024x1024", "background": "transparent",
                   "output_format": "png", "num_images": 1}  # quality auto is not in the enum: left out
    wrapped = {"input": edit_schema("image_url")}
    inp, _ = build_input(wrapped, ImageRequest("k", "edit", "p", 1024, 1024), ["https://c/x.png"])
    assert inp["image_url"] == "https://c/x.png"


@pytest.mark.parametrize(
    "output, urls",
    [(["https://a/1.png", "https://a/2.png"], ["https://a/1.png", "https://a/2.png"]),
     ("https://a/1.png", ["https://a/1.png"]), ([{"url": "https://a/1.png"}], ["https://a/1.png"]),
     (None, []), ("", []), ([], [])],
)
def test_output_urls(output, urls):
    assert output_urls(output) == urls
