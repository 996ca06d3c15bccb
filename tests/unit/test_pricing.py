"""The price table: rates, estimates per vendor, usage costs, and the published examples pinned."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers import pricing
from providers.base import ImageRequest, InputImage
from providers.sizes import nearest_valid

# a realistic prompt (about 25 tokens): the published per-image figures are output only, and an
# estimate of a real call adds its prompt
PROMPT = "A minimalist poster of a ceramic mug reading 'Fresh', soft studio light, muted palette"


def test_table_version_date_and_rates():
    assert pricing.PRICE_TABLE_VERSION == "2026-12" and pricing.PRICES_CHECKED == "2026-12-01"
    assert pricing.TOKEN_RATES["openai"] == {"text_in": 5.0, "text_in_cached": 1.25, "image_in": 8.0,
                                             "image_in_cached": 2.0, "text_out": 40.0, "image_out": 30.0}
    assert pricing.TOKEN_RATES["eachlabs"]["image_in"] == 10.0
    assert pricing.RUNAPI_TIER_USD == {"1k": 0.06, "2k": 0.10, "4k": 0.16}
    assert pricing.GPTIMAGEAPI_CREDITS == {"low": 2, "medium": 6, "high": 12}
    assert pricing.BATCH_FACTOR == {"openai": 0.5}


def test_every_figure_has_its_source_in_the_module():
    doc = pricing.__doc__
    for needle in ("ai-primer.com", "yingtu.ai", "robotsatlas.com", "headsupai.io", "developers.openai.com",
                   "seed 000", "seed 001", "seed 003", "ASSUMED", "2026-12-01"):
        assert needle in doc, needle


@pytest.mark.parametrize("model,w,h", sorted(pricing.PUBLISHED_PER_IMAGE))
@pytest.mark.parametrize("qi,quality", list(enumerate(pricing.QUALITIES)))
def test_published_examples_are_estimated_within_10_percent(model, w, h, qi, quality):
    published = pricing.PUBLISHED_PER_IMAGE[(model, w, h)][qi]
    req = ImageRequest(cache_key="k", operation="generate", prompt=PROMPT, width=w, height=h, quality=quality)
    est = pricing.estimate("openai", req)
    assert est == pytest.approx(published, rel=0.10), (w, h, quality, est, published)
    # the output part alone is the published figure (to the token)
    assert pricing.output_tokens(w, h, quality) * 30 / 1e6 == pytest.approx(published, abs=0.00002)


@pytest.mark.parametrize("tier,usd", [("1k", 0.06), ("2k", 0.10), ("4k", 0.16)])
def test_runapi_published_tiers_exactly(tier, usd):
    size = {"1k": (1024, 1024), "2k": (2048, 1152), "4k": (3840, 2160)}[tier]
    assert pricing.estimate_usd("runapi", "generate", *size, "high") == pytest.approx(usd)
    assert pricing.estimate_usd("runapi", "edit", *size, "low", n_inputs=2) == pytest.approx(usd)


SIZES = [(1024, 1024), (1024, 1536), (1536, 1024), (1280, 720), (2048, 2048), (3840, 2160), (1000, 1000),
         (512, 512), (2560, 1440)]


@pytest.mark.parametrize("ptype", ["openai", "eachlabs", "runapi", "gptimageapi"])
@pytest.mark.parametrize("w,h", SIZES)
def test_auto_is_never_priced_below_high(ptype, w, h):
    for q in ("auto", None):
        assert pricing.estimate_usd(ptype, "generate", w, h, q) >= pricing.estimate_usd(ptype, "generate", w, h, "high")


@pytest.mark.parametrize("w,h", SIZES)
def test_unpublished_sizes_are_priced_at_the_highest_published_rate_per_pixel(w, h):
    vw, vh = nearest_valid(w, h)
    for q in pricing.QUALITIES:
        per_pixel = pricing.output_tokens(w, h, q) / (vw * vh)
        assert per_pixel >= min(t[q] / (a * b) for (a, b), t in pricing.OUTPUT_TOKENS.items()) - 1e-9
        if (vw, vh) not in pricing.OUTPUT_TOKENS:
            assert per_pixel == pytest.approx(pricing.OUTPUT_TOKENS[(1024, 1024)][q] / 1024 ** 2, rel=0.01)


@pytest.mark.parametrize(
    "w,h,quality,tokens",
    [
        (1024, 1024, "low", 200),
        (1024, 1024, "medium", 1767),
        (1024, 1024, "high", 7033),
        (1536, 1024, "medium", 1367),  # published: cheaper than the square
        (1024, 1536, "high", 5500),
        (1024, 1024, "auto", 7033),  # auto is priced as high: never under-estimate a budget
        (1024, 1024, None, 7033),
        (1000, 1000, "low", 194),  # asked as the nearest valid size, 1008x1008: the square's rate by area
        (500, 500, "low", 127),  # below the pixel floor: asked as 816x816
    ],
)
def test_output_tokens(w, h, quality, tokens):
    assert pricing.output_tokens(w, h, quality) == tokens


def test_batch_lane_is_half_and_only_where_a_vendor_has_one():
    sync = pricing.estimate_usd("openai", "edit", 1024, 1024, "medium", n_inputs=2)
    assert pricing.estimate_usd("openai", "edit", 1024, 1024, "medium", n_inputs=2, lane="batch") == pytest.approx(sync / 2)
    assert pricing.estimate_usd("draft", "generate", 1024, 1024, "high", lane="batch") == 0.0
    for ptype in ("runapi", "eachlabs", "gptimageapi"):
        with pytest.raises(ValueError, match="no batch lane"):
            pricing.estimate_usd(ptype, "generate", 1024, 1024, "high", lane="batch")
    usage = {"input_tokens": 100, "output_tokens": 1767}
    assert pricing.cost_from_usage(usage, lane="batch") == pytest.approx(pricing.cost_from_usage(usage) / 2)


@pytest.mark.parametrize(
    "ptype,op,w,h,q,n,inputs,usd",
    [
        ("draft", "generate", 1024, 1024, "high", 1, 0, 0.0),
        ("draft", "edit", 4096, 4096, "high", 4, 3, 0.0),
        # 250 prompt tokens x $5/M + 1767 image tokens x $30/M
        ("openai", "generate", 1024, 1024, "medium", 1, 0, (250 * 5 + 1767 * 30) / 1e6),
        ("eachlabs", "generate", 1024, 1024, "high", 1, 0, (250 * 5 + 7033 * 30) / 1e6),
        ("openai", "generate", 1024, 1024, "low", 3, 0, (250 * 5 + 3 * 200 * 30) / 1e6),
        # edits add 1600 image tokens per input image: $8/M at OpenAI, $10/M at EachLabs
        ("openai", "edit", 1024, 1024, "low", 1, 2, (250 * 5 + 2 * 1600 * 8 + 200 * 30) / 1e6),
        ("eachlabs", "edit", 1024, 1024, "low", 1, 2, (250 * 5 + 2 * 1600 * 10 + 200 * 30) / 1e6),
        ("openai", "generate", 1024, 1024, "low", 1, 5, (250 * 5 + 200 * 30) / 1e6),  # inputs only count for edits
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
            (100 * 5 + 1600 * 8 + 40 * 40 + 4160 * 30) / 1e6,
        ),
        ({"input_tokens": 1700, "output_tokens": 500, "input_tokens_details": {"image_tokens": 1600}},
         (100 * 5 + 1600 * 8 + 500 * 30) / 1e6),
        # cached tokens at the cached rates, shared out between text and image in proportion
        ({"input_tokens": 1700, "output_tokens": 0,
          "input_tokens_details": {"text_tokens": 100, "image_tokens": 1600, "cached_tokens": 850}},
         (50 * 5 + 50 * 1.25 + 800 * 8 + 800 * 2) / 1e6),
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
    assert pricing.estimate("openai", req) == pytest.approx((100 * 5 + 2 * 1600 * 8 + 200 * 30) / 1e6)
