"""The price table every cost estimate and `--max-cost` check reads: versioned, dated, sourced.

An estimate guards a budget (`--max-cost` trusts it), so wherever a source is missing the table
takes the higher figure and says so. What vendors report they billed is recorded next to every
estimate (pipelines.cache.calibration), so `plan` can say how far the two have been apart.

Table 2026-12, compiled 2026-12-01 from the vendors' pages as stored by the research (dated 2026-04
to 2026-08; not re-read live on that day): every figure below names its source and its date.

- gpt-image-2 on OpenAI-compatible hosts is billed by tokens. Rates per 1M tokens from OpenAI's
  pricing page as reported by ai-primer.com (2026-04,
  https://www.ai-primer.com/engineer/stories/openai-gpt-image-2-api-pricing) and yingtu.ai
  (2026-05-06, https://yingtu.ai/en/blog/gpt-image-2-cost-per-image): text in $5.00 (cached
  $1.25, https://robotsatlas.com/ai-models/chatgpt-images-2-0), image in $8.00 (cached $2.00),
  image out $30.00. Text out is unpublished for gpt-image-2 ($10 on robotsatlas, $40 on EachLabs):
  $40, the higher.
- Output image tokens per image come from OpenAI's published per-image prices (its calculator and
  image-generation guide, as quoted by yingtu.ai 2026-05-06 and issue 13): 1024x1024 low / medium /
  high $0.006 / $0.053 / $0.211; 1024x1536 and 1536x1024 $0.005 / $0.041 / $0.165. At $30 per 1M
  that is 200 / 1767 / 7033 and 167 / 1367 / 5500 tokens. Those figures are output only (no
  prompt): `PUBLISHED_PER_IMAGE` keeps them, and tests/unit/test_pricing.py pins the estimate of
  every one of them within 10%. Sizes OpenAI does not publish are priced at the square's rate per
  pixel times their area (the highest rate published), so they are over-, never under-estimated.
- `auto` (or unset) quality is priced as `high`: the model may choose high.
- An input image of an edit: 1,600 image tokens. gpt-image-2 reads inputs at high fidelity
  (EachLabs' gpt-image-v2 page, seed 000) and publishes no count: an assumption, which the
  calibration checks against `usage.input_tokens_details.image_tokens` of real answers.
- OpenAI's Batch API bills 50% of the synchronous price for image models (OpenAIDevs, "50% lower
  cost", https://headsupai.io/updates/openai-batch-api-now-supports-gpt-image-models-at-half-cost;
  the gpt-image-2 model page lists `v1/batch` as supported,
  https://developers.openai.com/api/docs/models/gpt-image-2.md): `BATCH_FACTOR`.
- EachLabs bills its own token rates: text in $5, image in $10, text out $40, image out $30 per 1M
  (its gpt-image-v2 pages, seeds 000/002, eachlabs.ai, 2026-08) and reports `metrics.cost`.
- RunAPI bills per output resolution tier: $0.06 (1k), $0.10 (2k), $0.16 (4k) per image,
  generations and edits alike; failed generations are free (runapi.ai GPT Image 2 page, seed 003,
  2026-08). It reports `usage.cost`.
- gptimageapi.dev bills 2 / 6 / 12 credits for low / medium / high (its docs, seed 001, 2026-08).
  The USD value of a credit is not published: ASSUMED $0.01 (near the token price of the image).
- draft is free.
"""

from __future__ import annotations

from typing import Any, Mapping

from providers.sizes import nearest_valid

PRICE_TABLE_VERSION = "2026-12"
PRICES_CHECKED = "2026-12-01"

# USD per 1M tokens, per provider type (sources in the module docstring)
TOKEN_RATES: dict[str, dict[str, float]] = {
    "openai": {"text_in": 5.0, "text_in_cached": 1.25, "image_in": 8.0, "image_in_cached": 2.0,
               "text_out": 40.0, "image_out": 30.0},
    "eachlabs": {"text_in": 5.0, "text_in_cached": 5.0, "image_in": 10.0, "image_in_cached": 10.0,
                 "text_out": 40.0, "image_out": 30.0},
}
TOKEN_PRICED = set(TOKEN_RATES)

# gpt-image-2 output image tokens per image = the published USD per image / $30 per 1M
OUTPUT_TOKENS: dict[tuple[int, int], dict[str, int]] = {
    (1024, 1024): {"low": 200, "medium": 1767, "high": 7033},  # $0.006 / $0.053 / $0.211
    (1024, 1536): {"low": 167, "medium": 1367, "high": 5500},  # $0.005 / $0.041 / $0.165
    (1536, 1024): {"low": 167, "medium": 1367, "high": 5500},  # $0.005 / $0.041 / $0.165
}
SQUARE = (1024, 1024)  # the highest published rate per pixel: unpublished sizes scale it by area
QUALITIES = ("low", "medium", "high")

# (model, width, height) -> USD per image for low / medium / high, as OpenAI publishes them
PUBLISHED_PER_IMAGE: dict[tuple[str, int, int], tuple[float, float, float]] = {
    ("gpt-image-2", 1024, 1024): (0.006, 0.053, 0.211),
    ("gpt-image-2", 1024, 1536): (0.005, 0.041, 0.165),
    ("gpt-image-2", 1536, 1024): (0.005, 0.041, 0.165),
}

INPUT_IMAGE_TOKENS = 1600  # per input image of an edit: an assumption (see above)
PROMPT_TOKENS = 250  # a prompt whose text is unknown

# the Batch API's price as a share of the synchronous one, per provider type (others have no batch)
BATCH_FACTOR: dict[str, float] = {"openai": 0.5}

RUNAPI_TIER_USD: dict[str, float] = {"1k": 0.06, "2k": 0.10, "4k": 0.16}

GPTIMAGEAPI_CREDITS: dict[str, int] = {"low": 2, "medium": 6, "high": 12}
GPTIMAGEAPI_USD_PER_CREDIT = 0.01  # assumption, see above

FREE = {"draft"}
LANES = ("sync", "batch")


def priced_quality(quality: str | None) -> str:
    q = (quality or "auto").lower()
    return q if q in QUALITIES else "high"


def output_tokens(width: int, height: int, quality: str | None) -> int:
    """Image output tokens for one gpt-image-2 image of (the nearest valid size to) WxH."""
    w, h = nearest_valid(width, height)
    q = priced_quality(quality)
    table = OUTPUT_TOKENS.get((w, h))
    if table is not None:
        return table[q]
    return round(OUTPUT_TOKENS[SQUARE][q] * (w * h) / (SQUARE[0] * SQUARE[1]))


def runapi_tier(width: int, height: int, ratio: str | None = None) -> str:
    """The smallest RunAPI output_resolution at least as large as WxH (by longest edge: 1k up to
    1536, 2k up to 2560, 4k beyond). 1:1 has no 4k tier, so it stays at 2k."""
    edge = max(width, height)
    tier = "1k" if edge <= 1536 else "2k" if edge <= 2560 else "4k"
    if tier == "4k" and (ratio == "1:1" or (ratio is None and width == height)):
        tier = "2k"
    return tier


def rates(provider_type: str = "openai") -> dict[str, float]:
    return TOKEN_RATES.get(provider_type, TOKEN_RATES["openai"])


def tokens_usd(text_in: float = 0, image_in: float = 0, text_out: float = 0, image_out: float = 0, *,
               text_in_cached: float = 0, image_in_cached: float = 0, provider_type: str = "openai") -> float:
    r = rates(provider_type)
    return (text_in * r["text_in"] + text_in_cached * r["text_in_cached"] + image_in * r["image_in"]
            + image_in_cached * r["image_in_cached"] + text_out * r["text_out"]
            + image_out * r["image_out"]) / 1_000_000


def lane_factor(provider_type: str, lane: str = "sync") -> float:
    """The share of the synchronous price a lane costs; ValueError for a lane the type lacks."""
    if lane == "sync" or provider_type in FREE:
        return 1.0
    if lane == "batch" and provider_type in BATCH_FACTOR:
        return BATCH_FACTOR[provider_type]
    raise ValueError(f"provider type {provider_type!r} has no {lane} lane in price table {PRICE_TABLE_VERSION}")


def estimate_usd(
    provider_type: str,
    operation: str,
    width: int,
    height: int,
    quality: str | None,
    n: int = 1,
    n_inputs: int = 0,
    *,
    prompt_tokens: int = PROMPT_TOKENS,
    lane: str = "sync",
) -> float:
    """USD estimate for one call making `n` images of WxH (no network)."""
    n = max(1, int(n))
    if provider_type in FREE:
        return 0.0
    factor = lane_factor(provider_type, lane)
    if provider_type in TOKEN_PRICED:
        inputs = n_inputs if operation == "edit" else 0
        usd = tokens_usd(text_in=prompt_tokens, image_in=INPUT_IMAGE_TOKENS * inputs,
                         image_out=n * output_tokens(width, height, quality), provider_type=provider_type)
    elif provider_type == "runapi":
        usd = n * RUNAPI_TIER_USD[runapi_tier(width, height)]
    elif provider_type == "gptimageapi":
        usd = n * GPTIMAGEAPI_CREDITS[priced_quality(quality)] * GPTIMAGEAPI_USD_PER_CREDIT
    else:
        raise ValueError(f"no prices for provider type {provider_type!r} in price table {PRICE_TABLE_VERSION}")
    return usd * factor


def prompt_tokens_of(prompt: str) -> int:
    return max(1, len(prompt) // 4)


def estimate(provider_type: str, req: Any, lane: str = "sync") -> float:
    """estimate_usd for an ImageRequest (its prompt length stands in for text tokens)."""
    return estimate_usd(provider_type, req.operation, req.width, req.height, req.quality, req.n,
                        len(req.images), prompt_tokens=prompt_tokens_of(req.prompt), lane=lane)


def _int(v: Any) -> int:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0


def _split_cached(text: int, image: int, cached: int) -> tuple[int, int, int, int]:
    """(text, text cached, image, image cached): `cached_tokens` is not split by kind in the
    vendors' usage records, so it is shared out in proportion."""
    total = text + image
    cached = min(cached, total)
    if not cached or not total:
        return text, 0, image, 0
    text_cached = round(cached * text / total)
    image_cached = cached - text_cached
    return text - text_cached, text_cached, image - image_cached, image_cached


def cost_from_usage(usage: Mapping[str, Any], provider_type: str = "openai", lane: str = "sync") -> float:
    """USD for an Images API `usage` record. Without the per-kind details, input tokens count as
    text and output tokens as image (what an image call's output is); `cached_tokens` are billed at
    the cached rates."""
    din = usage.get("input_tokens_details") or {}
    dout = usage.get("output_tokens_details") or {}
    input_total, output_total = _int(usage.get("input_tokens")), _int(usage.get("output_tokens"))
    if din:
        image_in = _int(din.get("image_tokens"))
        text_in = _int(din.get("text_tokens")) if "text_tokens" in din else max(0, input_total - image_in)
    else:
        image_in, text_in = 0, input_total
    text_in, text_cached, image_in, image_cached = _split_cached(text_in, image_in, _int(din.get("cached_tokens")))
    if dout:
        text_out = _int(dout.get("text_tokens"))
        image_out = _int(dout.get("image_tokens")) if "image_tokens" in dout else max(0, output_total - text_out)
    else:
        text_out, image_out = 0, output_total
    usd = tokens_usd(text_in, image_in, text_out, image_out, text_in_cached=text_cached,
                     image_in_cached=image_cached, provider_type=provider_type)
    return usd * lane_factor(provider_type, lane)


def token_cost(usage: Mapping[str, Any] | None, model: str = "gpt-image-2", *, provider_type: str = "openai",
               lane: str = "sync") -> float | None:
    """cost_from_usage, or None when the record has no tokens at all (the cost is then unknown)."""
    if not usage or not any(_int(usage.get(k)) for k in ("input_tokens", "output_tokens", "total_tokens")):
        return None
    return cost_from_usage(usage, provider_type, lane)
