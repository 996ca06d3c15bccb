"""`assetpipe validate` and `assetpipe plan`: read-only, and never import Dagster."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pipelines.batch.lane import BatchLane
from pipelines.cache import calibration
from pipelines.cache.batches import load_open
from pipelines.catalog.notes import size_notes
from pipelines.catalog.select import select
from pipelines.plan.credentials import key_warnings
from pipelines.plan.lanes import lane_of, stays_sync, takes_left
from pipelines.plan.project import Project
from pipelines.review.checks import entry_problems
from pipelines.review.project import approvals_of, load_project
from pipelines.review.states import counts, review_infos


def counted(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def cmd_validate(catalog_dir: Path, args) -> int:
    project = load_project(catalog_dir)  # approvals.yaml too: a broken one is a path:line error
    project.validate()
    print(f"ok: {counted(len(project.catalog.campaigns), 'campaign')}, {counted(len(project.variants), 'variant')}")
    for note in outside_notes(project.catalog):
        print(f"note: {note}")
    for line in key_warnings(project.pool, project.variants, "building the catalog") + size_notes(project.variants):
        print(line, file=sys.stderr)
    return 0


def outside_notes(catalog) -> list[str]:
    """output_dir and cache may live outside the catalog (teams share caches): allowed, but said."""
    root = Path(os.path.realpath(catalog.root))
    notes = []
    out = Path(os.path.realpath(catalog.output_dir))
    if not out.is_relative_to(root):
        notes.append(f"output_dir {out} is outside the catalog directory: builds write there")
    url = catalog.cache_url
    if "://" in url and not url.startswith("file://"):
        notes.append(f"cache {url} is outside the catalog directory (shared storage): builds read and write there")
    elif not Path(os.path.realpath(url.removeprefix("file://"))).is_relative_to(root):
        notes.append(f"cache {os.path.realpath(url.removeprefix('file://'))} is outside the catalog directory: "
                     "builds read and write there")
    return notes


def cmd_plan(catalog_dir: Path, args) -> int:
    project = load_project(catalog_dir)
    project.lane = getattr(args, "lane", None)
    project.validate()
    lane = BatchLane(project, (lambda m: print(m, file=sys.stderr)) if args.json else print)
    lane.collect()  # finished batches into the store: the plan then shows them in the cache
    plan = project.plan()
    entries = approvals_of(project)
    reviews = review_infos(plan, entries)
    problems = entry_problems(project, plan, entries)
    chosen = {v.key for v in select(project.variants, args.select)}
    items = [p for p in plan.items if p.key in chosen]
    history = calibration.summary(project.store)
    for line in key_warnings(project.pool, [p.variant for p in items if p.status != "fresh" and not p.held],
                             "the build") + size_notes([p.variant for p in items]):
        print(line, file=sys.stderr)
    if args.json:
        doc = plan.to_json(items)
        for row in doc["variants"]:
            row["review"] = reviews[row["key"]].to_json()
        doc["totals"]["review"] = counts(reviews[p.key] for p in items)
        doc["totals"]["review_problems"] = [str(i) for i in problems]  # the top level stays {variants, totals}
        doc["totals"]["calibration"] = history
        doc["totals"]["batches"] = batches_json(project, items)
        json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    width = max((len(p.key) for p in items), default=10)
    print(f"{'STATUS':<8} {'REVIEW':<9} {'KEY':<{width}}  {'PROVIDER':<11} {'EST':>7}  WHY")
    for p in items:
        cost = "-" if p.status == "fresh" else f"${p.est_cost:.2f}" if not p.held else f"(${p.est_cost:.2f})"
        status = "held" if p.held else p.status
        takes = f" (up to {p.max_takes} takes)" if p.status != "fresh" and p.max_takes > 1 and p.est_cost else ""
        print(f"{status:<8} {reviews[p.key].state:<9} {p.key:<{width}}  {p.variant.provider or 'local':<11} "
              f"{cost:>7}  {p.reason}{takes}")
    t = plan.totals(items)
    by = ", ".join(f"{k} ${v:.2f}" for k, v in t["estimated_cost_by_provider_usd"].items() if v)
    r = counts(reviews[p.key] for p in items)
    print(f"\n{t['variants']} variants: {t['fresh']} fresh, {t['missing']} missing, {t['changed']} changed; "
          f"to build: {t['to_build']}, estimated ${t['estimated_cost_usd']:.2f}" + (f" ({by})" if by else ""))
    if t["resumed"]:
        print(f"{t['resumed']} job(s) an earlier build sent are collected at no new charge")
    if t["maybe_billed"]:
        print(f"{t['maybe_billed']} variant(s) held: in flight when their build stopped, they may have been billed "
              f"once already (up to ${t['maybe_billed_usd']:.2f}); not re-sent. "
              f"`assetpipe build --retry-maybe-billed` re-sends them for about ${t['maybe_billed_usd']:.2f} more")
    if plan.elsewhere:
        print(f"{len(plan.elsewhere)} call(s) sent for an earlier version of a variant never landed (may have been "
              "billed; never re-sent): " + ", ".join(sorted({f'{e.variant} (build {e.short_build})'
                                                             for e in plan.elsewhere})))
    if any(p.status != "fresh" and p.max_takes > 1 and p.est_cost for p in items):
        print("estimates are the worst case: a take whose text check fails is retaken, up to 1 + retakes takes")
    print(f"review: {r['approved']} approved, {r['pending']} pending, {r['changed']} changed, {r['rejected']} rejected")
    for issue in problems:
        print(f"warning: {issue}", file=sys.stderr)
    saving = lane_saving(project, items)
    if saving:
        print(f"the batch lane: ${saving[0]:.2f} for {saving[2]} variant(s) that cost ${saving[1]:.2f} in the sync lane "
              f"(saving ${saving[1] - saving[0]:.2f})")
    print(calibration.describe(history))
    return 0


def lane_saving(project: Project, items) -> tuple[float, float, int] | None:
    """(batch price, sync price, count) of the variants to build in the batch lane."""
    todo = [p for p in items if p.status != "fresh" and not p.batch and not stays_sync(p)
            and lane_of(project, p.variant) == "batch"]
    if not todo:
        return None
    sync = sum(project.sync_estimate(p.variant) * takes_left(p) for p in todo)  # retakes are sync in both
    return round(sum(p.est_cost for p in todo), 4), round(sync, 4), len(todo)


def batches_json(project: Project, items) -> dict:
    saving = lane_saving(project, items)
    return {"open": [{"record": r["id"], "batch_id": r.get("batch_id"), "provider": r["provider"],
                      "status": r.get("status") or r["state"], "variants": len(r["items"]),
                      "created_at": r["created_at"]} for r in load_open(project.store)],
            "batch_lane": None if saving is None else {"estimated_usd": saving[0], "sync_lane_usd": saving[1],
                                                       "saving_usd": round(saving[1] - saving[0], 4),
                                                       "variants": saving[2]}}
