"""After a build: every built variant's file in output_dir, manifest.json, the gallery and the
published mirror; after a review decision: the review states in manifest.json and the gallery."""

from __future__ import annotations

from pipelines.cache.integrity import export_verified, quarantine_damage
from pipelines.engine.outcome import Outcome
from pipelines.errors import BlobDamaged
from pipelines.outputs.gallery import write_gallery
from pipelines.outputs.manifest import manifest_entries, read_manifest, write_manifest
from pipelines.plan.billing import totals as bill_totals
from pipelines.plan.plan import Plan
from pipelines.plan.project import Project
from pipelines.review import publish
from pipelines.review.project import approvals_of
from pipelines.review.states import review_infos


def write_outputs(project: Project, plan: Plan, outcomes: dict[str, Outcome]) -> publish.PublishReport | None:
    out_dir = project.catalog.output_dir
    # a no-op build still exports any output missing from output_dir (say, after `rm -r out`),
    # verified: a damaged image is quarantined and reported, never exported
    for p in plan.items:
        if p.record is not None and p.key not in outcomes:
            try:
                export_verified(project.store, p.cache_key, p.record, out_dir / p.variant.relpath)
            except BlobDamaged as exc:
                quarantine_damage(project.store, exc)
                where = f" (moved to {exc.quarantined} in the cache)" if exc.quarantined else ""
                outcomes[p.key] = Outcome(p, "failed", error=f"{exc}{where}: not exported; the next build rebuilds it")
    reviews = review_infos(plan, approvals_of(project))
    entries = manifest_entries(plan, outcomes, out_dir, reviews)
    totals = {
        "variants": len(entries),
        "built": sum(1 for o in outcomes.values() if o.status == "built"),
        "cached": sum(1 for e in entries if e.get("path") and e["cached"]),
        "failed": sum(1 for o in outcomes.values() if not o.ok),
        "missing": sum(1 for e in entries if not e.get("path")),
        "cost_usd": round(sum(e["cost_usd"] for e in entries), 4),
        # this build's paid calls: the price table's estimate against what the vendors billed
        "estimate_vs_billed": bill_totals([o.record for o in outcomes.values()
                                           if o.status == "built" and o.record and o.record.get("lane")]),
    }
    write_manifest(out_dir, entries, totals)
    write_gallery(out_dir, entries, title=_title(project))
    return publish.sync(project, plan)


def write_review_states(project: Project, plan: Plan) -> None:
    """After approve/reject: the `review` of each entry of output_dir's manifest and the gallery's
    badges, leaving what the last build did (costs, checks) as it recorded it."""
    out_dir = project.catalog.output_dir
    doc = read_manifest(out_dir)
    if doc is None:
        return  # never built: nothing shows a review state yet
    reviews = review_infos(plan, approvals_of(project))
    for e in doc["variants"]:
        info = reviews.get(e.get("key"))
        if info is not None:
            e["review"] = info.to_json()
    write_manifest(out_dir, doc["variants"], doc.get("totals") or {})
    write_gallery(out_dir, doc["variants"], title=_title(project))


def _title(project: Project) -> str:
    return f"assetpipe: {project.catalog.root.resolve().name}"
