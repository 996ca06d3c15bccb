"""manifest.json: every variant of the catalog, what it is, where it is, what it cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.cache.files import atomic_write
from pipelines.engine.outcome import Outcome
from pipelines.plan.plan import Plan, Planned
from pipelines.review.states import ReviewInfo


def manifest_entries(plan: Plan, outcomes: dict[str, Outcome], output_dir: Path,
                     reviews: dict[str, ReviewInfo] | None = None) -> list[dict[str, Any]]:
    """`reviews`: each variant's review state (pipelines.review.states), as `review` per entry."""
    entries = []
    for p in plan.items:
        v = p.variant
        out = outcomes.get(v.key)
        rec = out.record if out and out.record else p.record
        e: dict[str, Any] = {
            "key": v.key, "campaign": v.campaign, "asset": v.asset, "variant": v.vid, "vars": v.values,
            "operation": v.operation, "path": None, "sha256": None, "width": v.width, "height": v.height,
            "format": v.output_format, "cache_key": out.planned.cache_key if out else p.cache_key,
            "model": v.model, "provider": v.provider or "local", "prompt": v.prompt, "text": list(v.text),
            "cost_usd": 0.0, "cached": True, "built_at": None, "request_id": None, "status": p.status,
            "upstream": v.upstream_keys,
        }
        if rec is not None:
            e.update(path=v.relpath, sha256=rec["blob"], provider=rec.get("provider") or e["provider"],
                     model=rec.get("model") or v.model, built_at=rec.get("created_at"),
                     request_id=rec.get("request_id"), status="fresh")
            built_now = out is not None and out.status == "built"
            e["cached"] = not built_now
            e["cost_usd"] = out.paid_now_usd if built_now else 0.0  # a job an earlier build paid for: 0
            e["original_cost_usd"] = float(rec.get("cost_usd") or 0.0)
            if built_now and rec.get("resumed_from_build"):
                e["collected_from_build"] = rec["resumed_from_build"]
            _takes(e, out, p)
            e.update(billing_of(rec))
        if p.batch and rec is None:
            e["batch"] = p.batch  # waiting in an open batch: a later build collects it
        if out is not None and not out.ok:
            e.update(status=out.status, error=out.error, path=None, sha256=None)
            if out.maybe_billed:
                e["maybe_billed"] = True
        if out is not None and out.checks:
            e["checks"] = {c.name: c.summary() for c in out.checks}
        elif out is None and p.last.get("checks"):
            e["checks"] = p.last["checks"]  # what the last build of this very take found
        if reviews is not None and v.key in reviews:
            e["review"] = reviews[v.key].to_json()
        entries.append(e)
    return entries


def _takes(e: dict[str, Any], out: Outcome | None, p: Planned) -> None:
    """How many takes the variant needed (in the build that made its image) and which one it is."""
    planned = out.planned if out is not None else p
    takes = len(out.takes) if out is not None and out.takes else p.last.get("takes")
    if takes or planned.take or planned.max_takes > 1:
        e["takes"] = takes or planned.take - planned.first_take + 1  # after a rejection, takes start later
        e["take"] = planned.take + 1  # 1 = the first


def read_manifest(output_dir: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((output_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("variants"), list) else None


BILLING_KEYS = ("estimate_usd", "billed_usd", "billed_basis", "lane", "pool", "batch_id")


def billing_of(rec: dict[str, Any]) -> dict[str, Any]:
    """How a paid image was made and priced: its estimate, the vendor's bill (and its basis), the
    lane, the pool it was chosen from and its batch. A render or a draft has none of these."""
    return {k: rec[k] for k in BILLING_KEYS if rec.get(k) is not None}


def write_manifest(output_dir: Path, entries: list[dict[str, Any]], totals: dict[str, Any]) -> Path:
    path = output_dir / "manifest.json"
    doc = {"version": 1, "totals": totals, "variants": entries}
    data = json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n"
    if not (path.exists() and path.read_bytes() == data):
        atomic_write(path, data)
    return path
