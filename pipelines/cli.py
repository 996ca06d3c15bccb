"""The `assetpipe` command line: validate, plan, build, ui.

Exit codes: 0 success; 1 a catalog error, a refused or failed build; 2 a usage error.
`validate`, `plan` and a build with nothing to do never import Dagster (~0.7 s saved).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pipelines.catalog import CATALOG_ENV, default_catalog_dir
from pipelines.errors import AssetpipeError, BudgetExceeded, CatalogError


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="assetpipe", description="Build generated image catalogs, cached by content hash.")
    ap.add_argument("--catalog", type=Path, default=None,
                    help=f"catalog directory (default: ${CATALOG_ENV} or ./assets_spec)")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("validate", help="check the catalog; print every problem as path:line: message")
    p = sub.add_parser("plan", help="what a build would do: status, why, estimated cost")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--select", nargs="*", metavar="SEL", help="campaign, campaign/asset, key glob, locale=de, +sel, sel+")
    b = sub.add_parser("build", help="materialize missing and changed variants through Dagster")
    b.add_argument("--select", nargs="*", metavar="SEL")
    b.add_argument("--max-cost", type=float, metavar="USD", help="refuse (spend nothing) if the estimate is higher")
    b.add_argument("--refresh", action="store_true", help="pay for a new take of the selected variants, even if cached")
    b.add_argument("--dry-run", action="store_true", help="print what would be built and its cost; build nothing")
    u = sub.add_parser("ui", help="the Dagster UI (webserver + daemon) on this catalog")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    catalog_dir = args.catalog or default_catalog_dir()
    try:
        return COMMANDS[args.command](catalog_dir, args)
    except CatalogError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        n = len(exc.issues)
        print(f"{n} problem{'s' if n != 1 else ''} in the catalog", file=sys.stderr)
        return 1
    except BudgetExceeded as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    except AssetpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # --select that matches nothing, and the like
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished variants are kept in the cache", file=sys.stderr)
        return 130


def _load(catalog_dir: Path):
    from pipelines.project import Project

    return Project.load(catalog_dir)


def cmd_validate(catalog_dir: Path, args) -> int:
    project = _load(catalog_dir)
    project.validate()
    n = len(project.variants)
    print(f"ok: {len(project.catalog.campaigns)} campaigns, {n} variants")
    return 0


def cmd_plan(catalog_dir: Path, args) -> int:
    from pipelines.select import select

    project = _load(catalog_dir)
    project.validate()
    plan = project.plan()
    chosen = {v.key for v in select(project.variants, args.select)}
    items = [p for p in plan.items if p.key in chosen]
    if args.json:
        json.dump(plan.to_json(items), sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    width = max((len(p.key) for p in items), default=10)
    print(f"{'STATUS':<8} {'KEY':<{width}}  {'PROVIDER':<11} {'EST':>6}  WHY")
    for p in items:
        cost = f"${p.est_cost:.2f}" if p.status != "fresh" else "-"
        print(f"{p.status:<8} {p.key:<{width}}  {p.variant.provider or 'local':<11} {cost:>6}  {p.reason}")
    t = plan.totals(items)
    by = ", ".join(f"{k} ${v:.2f}" for k, v in t["estimated_cost_by_provider_usd"].items() if v)
    print(f"\n{t['variants']} variants: {t['fresh']} fresh, {t['missing']} missing, {t['changed']} changed; "
          f"to build: {t['to_build']}, estimated ${t['estimated_cost_usd']:.2f}" + (f" ({by})" if by else ""))
    return 0


def cmd_build(catalog_dir: Path, args) -> int:
    from pipelines.build import build

    project = _load(catalog_dir)
    project.validate()
    report = build(project, selection=args.select, max_cost=args.max_cost, refresh=args.refresh,
                   dry_run=args.dry_run)
    if args.dry_run:
        for p in report.to_build:
            print(f"  would build {p.key:<55} {p.variant.provider or 'local':<10} {p.status} ({p.reason or 'refresh'})")
        print(f"dry run: {len(report.to_build)} variant(s), estimated ${report.estimate_usd:.2f}; nothing was built")
        return 0
    outs = report.outcomes.values()
    built = sum(o.status == "built" for o in outs)
    failed = report.failed
    out_dir = project.catalog.output_dir
    if not report.to_build:
        print(f"nothing to do: all {len(project.variants)} variants are fresh")
    else:
        print(f"\nbuilt {built} (paid ${report.paid_usd:.2f}), reused {sum(o.status == 'cached' for o in outs)} "
              f"from the cache, failed {sum(o.status == 'failed' for o in outs)}, "
              f"skipped {sum(o.status == 'skipped' for o in outs)} in {report.elapsed_s:.1f}s"
              + (f"; run {report.run_id[:8]} (see `assetpipe ui`)" if report.run_id else ""))
    print(f"outputs in {_rel(out_dir)}/  manifest {_rel(out_dir / 'manifest.json')}  gallery {_rel(out_dir / 'index.html')}")
    bad_checks = [o for o in outs if o.ok and any(c.blocks for c in o.checks)]
    for o in bad_checks:
        names = ", ".join(f"{c.name}: {c.description}" for c in o.checks if c.blocks)
        print(f"check failed: {o.key}: {names}", file=sys.stderr)
    billed = [o for o in failed if o.maybe_billed]
    if billed:
        print(f"warning: {len(billed)} failed call(s) may have been billed by the vendor: "
              + ", ".join(o.key for o in billed), file=sys.stderr)
    return 1 if failed or bad_checks else 0


def cmd_ui(catalog_dir: Path, args) -> int:
    from pipelines.dagster_home import ensure_home

    # every catalog mistake here, as path:line, rather than as a code location error in the UI
    catalog = _load(catalog_dir).catalog
    home = ensure_home(catalog)
    env = dict(os.environ, ASSETPIPE_CATALOG=str(catalog.root.resolve()), DAGSTER_HOME=str(home.resolve()))
    cmd = [sys.executable, "-m", "dagster", "dev", "-m", "pipelines.definitions", "-h", args.host, "-p", str(args.port)]
    print(f"Dagster UI on http://{args.host}:{args.port} (instance {_rel(home)}); Ctrl-C to stop", flush=True)
    os.execve(sys.executable, cmd, env)
    return 0  # pragma: no cover


def _rel(p: Path) -> str:
    try:
        rel = os.path.relpath(p)
    except ValueError:
        return str(p)
    return rel if not rel.startswith("..") else str(p)


COMMANDS = {"validate": cmd_validate, "plan": cmd_plan, "build": cmd_build, "ui": cmd_ui}

if __name__ == "__main__":
    sys.exit(main())
