"""The price table every cost estimate and `--max-cost` check reads, versioned by month.

Sources (the vendors' pages, August 2026; docs/protocols.md §6) and the assumptions made where no
source says:

- OpenAI-compatible hosts and EachLabs bill gpt-image-2 by tokens: text in $5/M, image in $10/M,
  text out $40/M, image out $30/M. A response's `usage` gives the exact cost (`cost_from_usage`).
- Output image tokens before the call are ESTIMATED from gpt-image-1's published table (1024x1024:
  low 272, medium 1056, high 4160 tokens; 1536x1024 is exactly 1.5x), scaled by the pixel area of
  the size the vendor is asked for (`sizes.nearest_valid`). No public gpt-image-2 table exists.
- `auto` or unset quality is priced as high: an estimate guards a budget, so it must not be low.
- Each input image of an edit is estimated at 1,600 image tokens (inputs are read at high
  fidelity); a prompt at 250 text tokens when its text is unknown, else len(prompt) / 4.
- RunAPI bills per output resolution tier: $0.06 (1k), $0.10 (2k), $0.16 (4k); failures are free.
- gptimageapi.dev bills 2 / 6 / 12 credits for low / medium / high. The USD value of a credit is
  not published: ASSUMED $0.01 (which puts it near the token price of the same image).
- draft is free.
"""

from __future__ import annotations

from typing import Any, Mapping

from providers.sizes import nearest_valid

PRICE_TABLE_VERSION = "2026-08"

# USD per 1M tokens
TOKEN_RATES: dict[str, float] = {"text_in": 5.0, "image_in": 10.0, "text_out": 40.0, "image_out": 30.0}
TOKEN_PRICED = {"openai", "eachlabs"}

# output image tokens for a 1024x1024 image; other sizes scale by area
OUTPUT_TOKENS_1024: dict[str, int] = {"low": 272, "medium": 1056, "high": 4160}
INPUT_IMAGE_TOKENS = 1600
PROMPT_TOKENS = 250

RUNAPI_TIER_USD: dict[str, float] = {"1k": 0.06, "2k": 0.10, "4k": 0.16}

GPTIMAGEAPI_CREDITS: dict[str, int] = {"low": 2, "medium": 6, "high": 12}
GPTIMAGEAPI_USD_PER_CREDIT = 0.01  # assumption, see above

FREE = {"draft"}


def priced_quality(quality: str | None) -> str:
    q = (quality or "auto").lower()
    return q if q in OUTPUT_TOKENS_1024 else "high"


def output_tokens(width: int, height: int, quality: str | None) -> int:
    """Estimated image output tokens for one gpt-image-2 image of (the nearest valid size to) WxH."""
    w, h = nearest_valid(width, height)
    return round(OUTPUT_TOKENS_1024[priced_quality(quality)] * (w * h) / (1024 * 1024))


def runapi_tier(width: int, height: int, ratio: str | None = None) -> str:
    """The smallest RunAPI output_resolution at least as large as WxH (by longest edge: 1k up to
    1536, 2k up to 2560, 4k beyond). 1:1 has no 4k tier, so it stays at 2k."""
    edge = max(width, height)
    tier = "1k" if edge <= 1536 else "2k" if edge <= 2560 else "4k"
    if tier == "4k" and (ratio == "1:1" or (ratio is None and width == height)):
        tier = "2k"
    return tier


def tokens_usd(text_in: float = 0, image_in: float = 0, text_out: float = 0, image_out: float = 0) -> float:
    r = TOKEN_RATES
    return (text_in * r["text_in"] + image_in * r["image_in"] + text_out * r["text_out"]
            + image_out * r["image_out"]) / 1_000_000


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
) -> float:
    """USD estimate for one call making `n` images of WxH (no network)."""
    n = max(1, int(n))
    if provider_type in FREE:
        return 0.0
    if provider_type in TOKEN_PRICED:
        inputs = n_inputs if operation == "edit" else 0
        return tokens_usd(text_in=prompt_tokens, image_in=INPUT_IMAGE_TOKENS * inputs,
                          image_out=n * output_tokens(width, height, quality))
    if provider_type == "runapi":
        return n * RUNAPI_TIER_USD[runapi_tier(width, height)]
    if provider_type == "gptimageapi":
        return n * GPTIMAGEAPI_CREDITS[priced_quality(quality)] * GPTIMAGEAPI_USD_PER_CREDIT
    raise ValueError(f"no prices for provider type {provider_type!r} in price table {PRICE_TABLE_VERSION}")


def estimate(provider_type: str, req: Any) -> float:
    """estimate_usd for an ImageRequest (its prompt length stands in for text tokens)."""
    return estimate_usd(provider_type, req.operation, req.width, req.height, req.quality, req.n,
                        len(req.images), prompt_tokens=max(1, len(req.prompt) // 4))


def _int(v: Any) -> int:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0


def cost_from_usage(usage: Mapping[str, Any]) -> float:
    """USD for an Images API `usage` record. Without the per-kind details, input tokens count as
    text and output tokens as image (what an image call's output is)."""
    din = usage.get("input_tokens_details") or {}
    dout = usage.get("output_tokens_details") or {}
    input_total, output_total = _int(usage.get("input_tokens")), _int(usage.get("output_tokens"))
    if din:
        image_in = _int(din.get("image_tokens"))
        text_in = _int(din.get("text_tokens")) if "text_tokens" in din else max(0, input_total - image_in)
    else:
        image_in, text_in = 0, input_total
    if dout:
        text_out = _int(dout.get("text_tokens"))
        image_out = _int(dout.get("image_tokens")) if "image_tokens" in dout else max(0, output_total - text_out)
    else:
        text_out, image_out = 0, output_total
    return tokens_usd(text_in, image_in, text_out, image_out)


def token_cost(usage: Mapping[str, Any] | None, model: str = "gpt-image-2") -> float | None:
    """cost_from_usage, or None when the record has no tokens at all (the cost is then unknown)."""
    if not usage or not any(_int(usage.get(k)) for k in ("input_tokens", "output_tokens", "total_tokens")):
        return None
    return cost_from_usage(usage)
