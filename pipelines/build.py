"""`assetpipe build`: plan, refuse what is over budget, run what changed through Dagster, then
write the manifest and the gallery. A build with nothing to do never imports Dagster."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from pipelines.engine import Outcome
from pipelines.errors import BudgetExceeded, BuildError
from pipelines.plan import Plan, Planned
from pipelines.project import Project
from pipelines.select import select


@dataclass
class BuildReport:
    plan: Plan
    to_build: list[Planned]
    estimate_usd: float
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    elapsed_s: float = 0.0
    run_id: str | None = None
    dry_run: bool = False

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes.values() if not o.ok]

    @property
    def paid_usd(self) -> float:
        return sum(float(o.record.get("cost_usd") or 0) for o in self.outcomes.values() if o.status == "built")


def plan_build(project: Project, selection=None, refresh: bool = False) -> tuple[Plan, list[Planned], float]:
    """What a build would do: the selected variants that are not fresh (all selected with refresh),
    plus any missing upstream variant they need. Returns (plan, to_build in dependency order, USD)."""
    plan = project.plan()
    chosen = {v.key for v in select(project.variants, selection)}
    want = {k for k in chosen if refresh or plan.by_key[k].status != "fresh"}
    stack = list(want)
    while stack:  # an edit cannot run without its upstream: build missing upstreams too
        for up in plan.by_key[stack.pop()].variant.upstream_keys:
            if up not in want and plan.by_key[up].status != "fresh":
                want.add(up)
                stack.append(up)
    to_build = [p for p in plan.items if p.key in want]
    # a refresh pays for every selected variant, even one whose image is in the cache
    estimate = sum(project.estimate(p.variant) if refresh else p.est_cost for p in to_build)
    return plan, to_build, round(estimate, 4)


def build(project: Project, *, selection=None, max_cost: float | None = None, refresh: bool = False,
          dry_run: bool = False, echo: Callable[[str], None] = print) -> BuildReport:
    t0 = time.monotonic()
    plan, to_build, estimate = plan_build(project, selection, refresh)
    report = BuildReport(plan, to_build, estimate, dry_run=dry_run)
    if max_cost is not None and estimate > max_cost + 1e-9:
        raise BudgetExceeded(estimate, max_cost)
    if dry_run:
        return report
    preflight(project, to_build)
    if to_build:
        echo(f"building {len(to_build)} variant(s), estimated ${estimate:.2f}")
        report.run_id = _run_dagster(project, to_build, refresh, report, echo)
        plan = project.plan()  # final state, for the manifest
        report.plan = plan
    write_outputs(project, plan, report.outcomes)
    report.elapsed_s = time.monotonic() - t0
    return report


def preflight(project: Project, to_build: list[Planned]) -> None:
    """Refuse before anything runs when a vendor's key is not exported."""
    missing: dict[str, list[str]] = {}
    for p in to_build:
        name = p.variant.provider
        if name is None:
            continue
        provider = project.pool.get(name)
        env = provider.config.api_key_env
        if getattr(provider, "needs_key", True) and not (env and os.environ.get(env)):
            missing.setdefault(f"{name} needs {env or 'api_key_env in catalog.yaml'}", []).append(p.key)
    if missing:
        lines = [f"{what} (for {len(keys)} variant(s), e.g. {keys[0]})" for what, keys in missing.items()]
        raise BuildError("missing API key; export it and build again:\n  " + "\n  ".join(lines))


def _run_dagster(project: Project, to_build: list[Planned], refresh: bool, report: BuildReport, echo) -> str:
    from pipelines.assets import BUILD_JOB, build_definitions, variant_key
    from pipelines.dagster_home import instance
    from pipelines.refs import observe_refs

    def on_outcome(out: Outcome) -> None:
        report.outcomes[out.key] = out
        echo(format_outcome(out))

    refresh_keys = {p.key for p in to_build} if refresh else set()
    defs = build_definitions(project, on_outcome=on_outcome, refresh=refresh_keys)
    job = defs.resolve_job_def(BUILD_JOB)
    inst = instance(project.catalog)
    observe_refs(project, inst)  # before the run, so its provenance names the ref hashes it read
    result = job.execute_in_process(
        instance=inst,
        asset_selection=[variant_key(p.variant) for p in to_build],
        raise_on_error=False,
        tags={"assetpipe/source": "cli"},
        # our own per-variant lines and summary are the CLI's output; Dagster's log is in the UI
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    unexplained = [p for p in to_build if p.key not in report.outcomes]
    if not result.success and unexplained:
        # the run failed outside our engine (a Dagster or definitions problem): say so loudly.
        # (With an outcome for every variant, the failure is ours to report: a failed variant, or
        # a failed blocking text check, which fails the Dagster step too.)
        for ev in result.all_events:
            if ev.is_step_failure:
                err = ev.step_failure_data.error
                print(err.to_string() if err else ev.message, file=sys.stderr)
            elif ev.is_run_failure:
                print(ev.message, file=sys.stderr)
        for p in unexplained:
            report.outcomes[p.key] = Outcome(p, "failed", error="the Dagster run failed; see above")
    return result.run_id


def format_outcome(out: Outcome) -> str:
    v = out.planned.variant
    if out.ok:
        rec = out.record or {}
        cost = f"${float(rec.get('cost_usd') or 0):.2f}" if out.status == "built" else "cache"
        failed_checks = [c.name for c in out.checks if not c.passed and not c.skipped]
        note = f"  CHECK FAILED: {', '.join(failed_checks)}" if failed_checks else ""
        return f"  {out.status:<7} {v.key:<55} {rec.get('provider') or '':<10} {cost:>7}{note}"
    return f"  {out.status.upper():<7} {v.key:<55} {out.error}"


def write_outputs(project: Project, plan: Plan, outcomes: dict[str, Outcome]) -> None:
    from pipelines.gallery import write_gallery
    from pipelines.manifest import manifest_entries, write_manifest

    out_dir = project.catalog.output_dir
    # a no-op build still exports any output missing from output_dir (say, after `rm -r out`)
    for p in plan.items:
        if p.record is not None and p.key not in outcomes:
            project.store.export_blob(p.record["blob"], out_dir / p.variant.relpath)
    entries = manifest_entries(plan, outcomes, out_dir)
    totals = {
        "variants": len(entries),
        "built": sum(1 for o in outcomes.values() if o.status == "built"),
        "cached": sum(1 for e in entries if e.get("path") and e["cached"]),
        "failed": sum(1 for o in outcomes.values() if not o.ok),
        "missing": sum(1 for e in entries if not e.get("path")),
        "cost_usd": round(sum(e["cost_usd"] for e in entries), 4),
    }
    write_manifest(out_dir, entries, totals)
    write_gallery(out_dir, entries, title=f"assetpipe: {project.catalog.root.resolve().name}")
