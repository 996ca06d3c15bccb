"""`assetpipe validate` and `assetpipe plan`: read-only, and never import Dagster."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pipelines.cache import calibration
from pipelines.catalog.select import select
from pipelines.plan.project import Project


def cmd_validate(catalog_dir: Path, args) -> int:
    project = Project.load(catalog_dir)
    project.validate()
    n = len(project.variants)
    print(f"ok: {len(project.catalog.campaigns)} campaigns, {n} variants")
    for note in outside_notes(project.catalog):
        print(f"note: {note}")
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
    project = Project.load(catalog_dir)
    project.validate()
    plan = project.plan()
    chosen = {v.key for v in select(project.variants, args.select)}
    items = [p for p in plan.items if p.key in chosen]
    history = calibration.summary(project.store)
    if args.json:
        doc = plan.to_json(items)
        doc["calibration"] = history
        json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    width = max((len(p.key) for p in items), default=10)
    print(f"{'STATUS':<8} {'KEY':<{width}}  {'PROVIDER':<11} {'EST':>6}  WHY")
    for p in items:
        cost = "-" if p.status == "fresh" else f"${p.est_cost:.2f}" if not p.held else f"(${p.est_cost:.2f})"
        status = "held" if p.held else p.status
        takes = f" (up to {p.max_takes} takes)" if p.status != "fresh" and p.max_takes > 1 and p.est_cost else ""
        print(f"{status:<8} {p.key:<{width}}  {p.variant.provider or 'local':<11} {cost:>7}  {p.reason}{takes}")
    t = plan.totals(items)
    by = ", ".join(f"{k} ${v:.2f}" for k, v in t["estimated_cost_by_provider_usd"].items() if v)
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
    print(calibration.describe(history))
    return 0
