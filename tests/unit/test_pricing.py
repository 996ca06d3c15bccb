"""The price table: rates, estimates per vendor, usage costs."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers import pricing
from providers.base import ImageRequest, InputImage


def test_table_version_and_rates():
    assert pricing.PRICE_TABLE_VERSION == "2026-08"
    assert pricing.TOKEN_RATES == {"text_in": 5.0, "image_in": 10.0, "text_out": 40.0, "image_out": 30.0}
    assert pricing.RUNAPI_TIER_USD == {"1k": 0.06, "2k": 0.10, "4k": 0.16}
    assert pricing.GPTIMAGEAPI_CREDITS == {"low": 2, "medium": 6, "high": 12}


@pytest.mark.parametrize(
    "w,h,quality,tokens",
    [
        (1024, 1024, "low", 272),
        (1024, 1024, "medium", 1056),
        (1024, 1024, "high", 4160),
        (1536, 1024, "medium", 1584),  # area x1.5, as gpt-image-1's table
        (1024, 1536, "high", 6240),
        (1024, 1024, "auto", 4160),  # auto is priced as high: never under-estimate a budget
        (1024, 1024, None, 4160),
        (1000, 1000, "low", 264),  # asked as the nearest valid size, 1008x1008
        (500, 500, "low", 173),  # below the pixel floor: asked as 816x816
    ],
)
def test_output_tokens(w, h, quality, tokens):
    assert pricing.output_tokens(w, h, quality) == tokens


@pytest.mark.parametrize(
    "ptype,op,w,h,q,n,inputs,usd",
    [
        ("draft", "generate", 1024, 1024, "high", 1, 0, 0.0),
        ("draft", "edit", 4096, 4096, "high", 4, 3, 0.0),
        # 250 prompt tokens x $5/M + 1056 image tokens x $30/M
        ("openai", "generate", 1024, 1024, "medium", 1, 0, (250 * 5 + 1056 * 30) / 1e6),
        ("eachlabs", "generate", 1024, 1024, "high", 1, 0, (250 * 5 + 4160 * 30) / 1e6),
        ("openai", "generate", 1024, 1024, "low", 3, 0, (250 * 5 + 3 * 272 * 30) / 1e6),
        # edits add 1600 image tokens per input image at $10/M
        ("openai", "edit", 1024, 1024, "low", 1, 2, (250 * 5 + 2 * 1600 * 10 + 272 * 30) / 1e6),
        ("openai", "generate", 1024, 1024, "low", 1, 5, (250 * 5 + 272 * 30) / 1e6),  # inputs only count for edits
        ("runapi", "generate", 1024, 1024, "high", 1, 0, 0.06),
        ("runapi", "generate", 1536, 1024, None, 1, 0, 0.06),
        ("runapi", "edit", 2048, 1152, None, 1, 2, 0.10),
        ("runapi", "generate", 3840, 2160, "low", 1, 0, 0.16),
        ("runapi", "generate", 3072, 3072, None, 1, 0, 0.10),  # 1:1 has no 4k tier
        ("runapi", "generate", 1024, 1024, None, 2, 0, 0.12),
        ("gptimageapi", "generate", 1024, 1024, "low", 1, 0, 0.02),
        ("gptimageapi", "generate", 1536, 1024, "medium", 1, 0, 0.06),
        ("gptimageapi", "generate", 1024, 1024, "high", 2, 0, 0.24),
        ("gptimageapi", "generate", 1024, 1024, None, 1, 0, 0.12),
    ],
)
def test_estimate_usd(ptype, op, w, h, q, n, inputs, usd):
    assert pricing.estimate_usd(ptype, op, w, h, q, n, inputs) == pytest.approx(usd)


def test_estimate_unknown_type_names_it():
    with pytest.raises(ValueError, match="nanobanana"):
        pricing.estimate_usd("nanobanana", "generate", 1024, 1024, "low")


@pytest.mark.parametrize(
    "w,h,ratio,tier",
    [
        (1024, 1024, None, "1k"),
        (1536, 1024, "3:2", "1k"),
        (1537, 1024, None, "2k"),
        (2560, 1440, "16:9", "2k"),
        (2561, 1440, None, "4k"),
        (3840, 2160, "16:9", "4k"),
        (3840, 3840, "1:1", "2k"),
        (3000, 3000, None, "2k"),
    ],
)
def test_runapi_tier(w, h, ratio, tier):
    assert pricing.runapi_tier(w, h, ratio) == tier


def test_runapi_tier_agrees_with_the_runapi_provider():
    runapi = pytest.importorskip("providers.runapi")
    for w, h in [(1024, 1024), (1536, 1024), (1600, 900), (2560, 1440), (2600, 1000), (3840, 2160), (3840, 3840)]:
        ratio = runapi.aspect_ratio(w, h)
        assert pricing.runapi_tier(w, h, ratio) == runapi.output_resolution(w, h, ratio), (w, h)


@pytest.mark.parametrize(
    "usage,usd",
    [
        ({}, 0.0),
        ({"input_tokens": 100, "output_tokens": 1000}, (100 * 5 + 1000 * 30) / 1e6),
        (
            {"input_tokens": 1700, "output_tokens": 4200, "total_tokens": 5900,
             "input_tokens_details": {"text_tokens": 100, "image_tokens": 1600},
             "output_tokens_details": {"text_tokens": 40, "image_tokens": 4160}},
            (100 * 5 + 1600 * 10 + 40 * 40 + 4160 * 30) / 1e6,
        ),
        ({"input_tokens": 1700, "output_tokens": 500, "input_tokens_details": {"image_tokens": 1600}},
         (100 * 5 + 1600 * 10 + 500 * 30) / 1e6),
        ({"input_tokens": "lots", "output_tokens": None}, 0.0),
    ],
)
def test_cost_from_usage(usage, usd):
    assert pricing.cost_from_usage(usage) == pytest.approx(usd)


def test_token_cost_none_without_tokens():
    assert pricing.token_cost(None) is None
    assert pricing.token_cost({}) is None
    assert pricing.token_cost({"input_tokens": 0, "output_tokens": 0}) is None
    assert pricing.token_cost({"input_tokens": 10, "output_tokens": 0}) == pytest.approx(50 / 1e6)


def test_estimate_from_a_request_uses_the_prompt_length():
    img = InputImage(Path("a.png"), "0" * 64, "a.png")
    req = ImageRequest(cache_key="k", operation="edit", prompt="x" * 400, width=1024, height=1024, quality="low",
                       images=(img, img))
    assert pricing.estimate("openai", req) == pytest.approx((100 * 5 + 2 * 1600 * 10 + 272 * 30) / 1e6)
