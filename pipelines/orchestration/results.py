"""What Dagster records of each built variant: the materialization (preview first, then prompt,
vendor, cost, latency, request id, path, cache key) and its check results."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, Iterator

import dagster as dg
from PIL import Image

from pipelines.engine.outcome import Outcome
from pipelines.engine.render import flatten, load_image
from pipelines.orchestration.keys import variant_key
from pipelines.outputs.preview import thumbnail_data_uri
from pipelines.plan.plan import Planned


def results_of(out: Outcome) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    p: Planned = out.planned
    v, rec = p.variant, out.record
    key = variant_key(v)
    cost = float(rec.get("cost_usd") or 0.0)
    takes = len(out.takes) or 1
    meta: dict[str, Any] = _previews(out.output_path)  # first: the asset page lists them on top
    meta.update({
        "prompt": dg.MetadataValue.text(v.prompt or ""),
        # who made these bytes: a cache hit may come from another vendor than the catalog names now
        "vendor": rec.get("provider") or "", "model": rec.get("model") or v.model,
        **{k: rec[k] for k in ("pool", "lane", "batch_id") if rec.get(k)},  # a pool's member, a batch
        "size": v.params.get("size"), "quality": v.params.get("quality") or "",
        "cost_usd": dg.MetadataValue.float(out.paid_now_usd),  # spent by this run, every take included
        "original_cost_usd": dg.MetadataValue.float(cost),
        "latency_s": dg.MetadataValue.float(float(rec.get("latency_s") or 0.0)),
        "cached": out.status == "cached",
        "request_id": rec.get("request_id") or "",
        "path": dg.MetadataValue.path(str(out.output_path)),
        "cache_key": p.cache_key,
        "sha256": rec["blob"],
    })
    if out.planned.max_takes > 1 or takes > 1:
        meta["takes"] = dg.MetadataValue.int(takes)  # how many takes this build needed
        meta["take"] = dg.MetadataValue.int(out.planned.take + 1)  # which one is the image (1 = the first)
    yield dg.MaterializeResult(asset_key=key, data_version=dg.DataVersion(rec["blob"]), metadata=meta)
    for c in out.checks:
        metadata = {k: _meta_val(val) for k, val in c.metadata.items()}
        if c.skipped:  # not run: never passed; a WARN failure that says so and how to fix it
            metadata["skipped"] = True
        yield dg.AssetCheckResult(
            asset_key=key, check_name=c.name, passed=c.passed and not c.skipped,
            severity=dg.AssetCheckSeverity.ERROR if c.severity == "ERROR" else dg.AssetCheckSeverity.WARN,
            description=f"NOT RUN: {c.description}" if c.skipped else c.description, metadata=metadata,
        )


# The UI shows a markdown value inline only under 1,000 characters (longer ones behind a
# "[Show Markdown]" button): the inline thumbnail is a WebP small enough for that.
INLINE_MD_LIMIT = 1000


def _previews(path: Path) -> dict[str, dg.MetadataValue]:
    try:
        return {"preview": dg.MetadataValue.md(inline_thumbnail_md(path)),
                "preview_256px": dg.MetadataValue.md(f"![preview]({thumbnail_data_uri(path, max_px=256)})")}
    except Exception as exc:  # a preview is a nicety: never fail a build over it
        return {"preview": dg.MetadataValue.text(f"no preview: {exc}")}


def inline_thumbnail_md(path: Path) -> str:
    img = flatten(load_image(path))
    for max_px in (96, 80, 64, 48, 32):
        thumb = img.copy()
        thumb.thumbnail((max_px, max_px), Image.LANCZOS)
        for quality in (60, 40, 25):
            buf = io.BytesIO()
            thumb.save(buf, "WEBP", quality=quality, method=6)
            md = f"![preview](data:image/webp;base64,{base64.b64encode(buf.getvalue()).decode('ascii')})"
            if len(md) < INLINE_MD_LIMIT:
                return md
    return "![preview]()"  # unreachable for real images: 32 px at quality 25 is ~300 bytes


def _meta_val(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)):
        return v
    return dg.MetadataValue.json(v) if isinstance(v, (list, dict)) else str(v)
