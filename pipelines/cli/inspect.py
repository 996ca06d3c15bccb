"""`assetpipe validate` and `assetpipe plan`: read-only, and never import Dagster."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pipelines.catalog.notes import size_notes
from pipelines.catalog.select import select
from pipelines.plan.credentials import key_warnings
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
    project.validate()
    plan = project.plan()
    entries = approvals_of(project)
    reviews = review_infos(plan, entries)
    problems = entry_problems(project, plan, entries)
    chosen = {v.key for v in select(project.variants, args.select)}
    items = [p for p in plan.items if p.key in chosen]
    for line in key_warnings(project.pool, [p.variant for p in items if p.status != "fresh" and not p.held],
                             "the build") + size_notes([p.variant for p in items]):
        print(line, file=sys.stderr)
    if args.json:
        doc = plan.to_json(items)
        for row in doc["variants"]:
            row["review"] = reviews[row["key"]].to_json()
        doc["totals"]["review"] = counts(reviews[p.key] for p in items)
        doc["totals"]["review_problems"] = [str(i) for i in problems]  # the top level stays {variants, totals}
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
    return 0
