"""Is a masked edit of the text region a cheaper repair than a full retake? Priced per vendor.

A retake after a failed text check is one more generation of the same request. The alternative
repair is an edit of the take with a mask over the misspelt text ("fix the headline to read ...").
This prices both with the price table the planner uses (providers/pricing.py): per vendor, size
and quality, the cost of the edit as a multiple of the generation. No network, no timing.

    .venv/bin/python -m bench.repair_cost          # prints the table, writes bench/results/repair_cost.json
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path

from providers.pricing import PRICE_TABLE_VERSION, estimate_usd

VENDORS = ("openai", "eachlabs", "runapi")  # gptimageapi has no edit endpoint at all
SIZES = ((1024, 1024), (1024, 1536), (1536, 1024), (2048, 2048))
QUALITIES = ("low", "medium", "high")
PROMPT_TOKENS = 120  # a poster prompt; the repair prompt is about as long


def rows() -> list[dict]:
    out = []
    for vendor in VENDORS:
        for w, h in SIZES:
            for q in QUALITIES:
                gen = estimate_usd(vendor, "generate", w, h, q, prompt_tokens=PROMPT_TOKENS)
                edit = estimate_usd(vendor, "edit", w, h, q, n_inputs=1, prompt_tokens=PROMPT_TOKENS)
                out.append({"vendor": vendor, "size": f"{w}x{h}", "quality": q, "retake_usd": round(gen, 4),
                            "masked_edit_usd": round(edit, 4), "edit_over_retake": round(edit / gen, 3)})
    return out


def main() -> None:
    table = rows()
    print(f"{'vendor':<9} {'size':<10} {'quality':<7} {'retake':>8} {'edit':>8} {'edit/retake':>11}")
    for r in table:
        print(f"{r['vendor']:<9} {r['size']:<10} {r['quality']:<7} ${r['retake_usd']:>7.4f} "
              f"${r['masked_edit_usd']:>7.4f} {r['edit_over_retake']:>11.3f}")
    cheapest = min(r["edit_over_retake"] for r in table)
    print(f"\nthe cheapest edit costs {cheapest:.3f}x a retake (price table {PRICE_TABLE_VERSION})")
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.platform(),
              "price_table": PRICE_TABLE_VERSION, "rows": table, "min_edit_over_retake": cheapest}
    path = Path(__file__).parent / "results" / "repair_cost.json"
    path.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
