"""What Dagster records of each built variant: a materialization of its partition (preview first,
then prompt, vendor, cost, latency, request id, path, cache key) and its check evaluations.

Each variant costs a few events whatever the size of the catalog, so each is kept small: the
preview is a link to the image served by `assetpipe ui` (made once per image, when first viewed),
not pixels in the event. Measured: bench/README.md ("Recording").
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster._core.definitions.data_version import (
    DATA_VERSION_IS_USER_PROVIDED_TAG,
    DATA_VERSION_TAG,
)

from pipelines.engine.outcome import Outcome
from pipelines.orchestration.keys import asset_key, partition_key
from pipelines.orchestration.specs import PLAN_CHECK
from pipelines.plan.plan import Planned

# served by the webserver of `assetpipe ui` (pipelines/orchestration/webserver.py)
PREVIEW_PATH = "/assetpipe/preview/"
IMAGE_PATH = "/assetpipe/image/"


def preview_md(blob: str) -> str:
    """A preview large enough to read a headline, linked to the full image."""
    return f"[![preview]({PREVIEW_PATH}{blob})]({IMAGE_PATH}{blob})"


def materialization(out: Outcome) -> dg.AssetMaterialization:
    p: Planned = out.planned
    v, rec = p.variant, out.record
    cost = float(rec.get("cost_usd") or 0.0)
    takes = len(out.takes) or 1
    meta: dict[str, Any] = {
        "preview": dg.MetadataValue.md(preview_md(rec["blob"])),  # first: the page lists it on top
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
    }
    if out.planned.max_takes > 1 or takes > 1:
        meta["takes"] = dg.MetadataValue.int(takes)  # how many takes this build needed
        meta["take"] = dg.MetadataValue.int(out.planned.take + 1)  # which one is the image (1 = the first)
    if v.text:
        meta["expected_text"] = dg.MetadataValue.text(" | ".join(v.text))
    return dg.AssetMaterialization(
        asset_key=asset_key(v), partition=partition_key(v), metadata=meta,
        tags={DATA_VERSION_TAG: rec["blob"], DATA_VERSION_IS_USER_PROVIDED_TAG: "true"},
    )


def check_evaluations(out: Outcome, selected: set[dg.AssetCheckKey] | None = None) -> list[dg.AssetCheckEvaluation]:
    """The variant's checks, for its partition; `selected` leaves out checks the run did not select.
    A run that selected the `plan` check (a UI launch does) says the variant is now fresh."""
    v = out.planned.variant
    key, part = asset_key(v), partition_key(v)
    evals = []
    if selected is not None and dg.AssetCheckKey(key, PLAN_CHECK) in selected:
        evals.append(dg.AssetCheckEvaluation(
            asset_key=key, check_name=PLAN_CHECK, passed=True, partition=part, severity=dg.AssetCheckSeverity.WARN,
            description="fresh: built from the catalog as it is", metadata={"status": "fresh"}))
    for c in out.checks:
        if selected is not None and dg.AssetCheckKey(key, c.name) not in selected:
            continue
        metadata = {k: _meta_val(val) for k, val in c.metadata.items()}
        if c.skipped:  # not run: never passed; a WARN failure that says so and how to fix it
            metadata["skipped"] = True
        evals.append(dg.AssetCheckEvaluation(
            asset_key=key, check_name=c.name, passed=c.passed and not c.skipped, partition=part,
            severity=dg.AssetCheckSeverity.ERROR if c.severity == "ERROR" else dg.AssetCheckSeverity.WARN,
            description=f"NOT RUN: {c.description}" if c.skipped else c.description, metadata=metadata,
            blocking=c.name == "text_ok",
        ))
    return evals


def _meta_val(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)):
        return v
    return dg.MetadataValue.json(v) if isinstance(v, (list, dict)) else str(v)
