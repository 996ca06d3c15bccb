"""What a paid call estimated and what the vendor said it billed, on its action record, so every
build can show estimate against bill and the calibration history (pipelines.cache.calibration)
can grow from it.

    estimate_usd   the price table's figure for the member that made the image, in its lane
    billed_usd     the vendor's own figure (usage tokens at the table's rates, metrics.cost,
                   usage.cost); None when the vendor reports nothing (cost_usd is then the estimate)
    billed_basis   where billed_usd comes from
    lane           sync | batch;  pool: the pool entry the member was chosen from, when one was
"""

from __future__ import annotations

from typing import Any

from providers.pricing import PRICE_TABLE_VERSION


def bill_fields(estimate_usd: float | None, billed_usd: float | None, billed_basis: str | None, *,
                lane: str = "sync", pool: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "estimate_usd": None if estimate_usd is None else round(float(estimate_usd), 6),
        "billed_usd": None if billed_usd is None else round(float(billed_usd), 6),
        "billed_basis": billed_basis if billed_usd is not None else None,
        "lane": lane,
        "price_table": PRICE_TABLE_VERSION,
    }
    if pool:
        out["pool"] = pool
    return out


def bill_of(record: dict[str, Any]) -> dict[str, Any]:
    """The calibration entry of one action record."""
    return {"provider": record.get("provider"), "lane": record.get("lane") or "sync",
            "estimate_usd": record.get("estimate_usd"), "billed_usd": record.get("billed_usd")}


def totals(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Estimate against bill over the records of one build (the calls with a reported bill)."""
    billed = [r for r in records if r.get("billed_usd") is not None and r.get("estimate_usd") is not None]
    est = sum(float(r["estimate_usd"]) for r in billed)
    bill = sum(float(r["billed_usd"]) for r in billed)
    return {"calls": len(records), "billed_calls": len(billed), "estimated_usd": round(est, 4),
            "billed_usd": round(bill, 4), "billed_over_estimate": round(bill / est, 3) if est > 0 else None}
