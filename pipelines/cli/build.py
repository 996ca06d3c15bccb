"""`assetpipe build`: plan, refuse what is over budget, run what changed through Dagster, then
write the manifest and the gallery.

A build with nothing to do never imports Dagster (~0.7 s, and most builds are no-ops): the
orchestration layer is imported here, at the one place that needs it, only when there is work."""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipelines.batch.lane import BatchLane
from pipelines.cli.paths import shown
from pipelines.cli.progress import Progress
from pipelines.cli.signals import SignalLog
from pipelines.engine.outcome import Outcome
from pipelines.engine.stop import forget_stops, last_stop
from pipelines.errors import BudgetExceeded, BuildError
from pipelines.outputs.write import write_outputs
from pipelines.plan.billing import totals as bill_totals
from pipelines.plan.credentials import describe, key_warnings, missing_keys
from pipelines.plan.plan import Plan, Planned
from pipelines.plan.project import Project
from pipelines.plan.worklist import plan_build
from pipelines.review.checks import entry_problems
from pipelines.review.project import approvals_of, load_project
from pipelines.review.publish import PublishReport
from pipelines.review.states import counts, review_infos


@dataclass
class BuildReport:
    plan: Plan
    to_build: list[Planned]
    estimate_usd: float
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    elapsed_s: float = 0.0
    run_id: str | None = None
    dry_run: bool = False
    published: PublishReport | None = None
    batch: BatchLane | None = None

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes.values() if not o.ok]

    @property
    def paid_usd(self) -> float:
        """What this build paid: not a cache hit, not a job an earlier build paid for."""
        return sum(o.paid_now_usd for o in self.outcomes.values())

    @property
    def collected(self) -> list[Outcome]:
        """Built from a job an earlier build sent (and paid for)."""
        return [o for o in self.outcomes.values() if o.status == "built" and o.paid_now_usd == 0
                and (o.record or {}).get("resumed_from_build")]

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes.values())


def build(project: Project, *, selection=None, max_cost: float | None = None, refresh: bool = False,
          dry_run: bool = False, retry_maybe_billed: bool = False, lane: str | None = None, wait: bool = False,
          echo: Callable[[str], None] = print) -> BuildReport:
    t0 = time.monotonic()
    project.lane = "sync" if refresh else lane  # a refresh pays for a new take now, in the sync lane
    batch = BatchLane(project, echo, refresh=refresh, retry_maybe_billed=retry_maybe_billed)
    if not dry_run:
        batch.collect()  # finished batches into the store first: collected, never paid again
    plan, to_build, estimate = plan_build(project, selection, refresh, retry_maybe_billed)
    report = BuildReport(plan, to_build, estimate, dry_run=dry_run, batch=batch)
    if max_cost is not None and estimate > max_cost + 1e-9:
        raise BudgetExceeded(estimate, max_cost)
    if dry_run:
        return report
    preflight(project, to_build)

    if to_build:
        held = [p for p in to_build if p.held]
        note = ""
        if held:
            possibly = sum(p.est_cost for p in held)
            note = (f"; {len(held)} of them may have been billed once already (up to ${possibly:.2f}): "
                    + ("re-sent, counted in the estimate" if retry_maybe_billed else "held, not re-sent"))
        echo(f"building {len(to_build)} variant(s), estimated ${estimate:.2f}{note}")
    with Progress(len(to_build), estimate, in_flight=project.pool.in_flight) as progress:
        def on_outcome(out: Outcome) -> None:
            if out.status == "cached" and out.key in batch.collected:
                out.status = "built"  # collected from its batch by this build: paid for here
            report.outcomes[out.key] = out
            progress.outcome(out, format_outcome(out))

        selected = [selection] if isinstance(selection, str) else selection
        runs = 0
        for sync_now in batch.rounds(selection, to_build, wait=wait):
            from pipelines.orchestration.run import (
                run_variants,  # Dagster: only when there is work
            )

            if runs:  # a later round of the batch lane: batches were collected or submitted since
                plan = project.plan()
            # (and the plan after the run, for the manifest)
            report.run_id, plan = run_variants(project, plan, sync_now, refresh=refresh, on_outcome=on_outcome,
                                               selection=selected, retry_maybe_billed=retry_maybe_billed)
            runs += 1
            if last_stop() is not None:  # a stop signal: no new round, no new batch
                break
    if (to_build or batch.collected) and (runs != 1 or batch.submits or batch.collected):
        plan = project.plan()  # final state, for the manifest (one plain run returned it already)
    report.plan = plan
    for key, f in batch.failed.items():
        if key in plan.by_key and key not in report.outcomes:
            report.outcomes[key] = Outcome(plan.by_key[key], "failed", error=f["error"], maybe_billed=f["billed"])
    report.published = write_outputs(project, plan, report.outcomes)
    report.elapsed_s = time.monotonic() - t0
    return report


def bill_line(report: BuildReport) -> str | None:
    """Estimate against bill for this build's paid calls whose cost the vendor reported."""
    t = bill_totals([o.record for o in report.outcomes.values() if o.status == "built" and o.record
                     and o.record.get("lane")])
    if not t["billed_calls"]:
        return None
    return (f"estimate vs bill: {t['billed_calls']} call(s) estimated ${t['estimated_usd']:.4f}, vendors billed "
            f"${t['billed_usd']:.4f}" + (f" ({t['billed_over_estimate']}x)" if t["billed_over_estimate"] else ""))


def preflight(project: Project, to_build: list[Planned]) -> None:
    """Refuse before anything runs when a vendor's key is not exported, or the cache or the
    coordination cannot be used."""
    missing = missing_keys(project.pool, [p.variant for p in to_build])
    if missing:
        raise BuildError("missing API key; export it and build again:\n  " + "\n  ".join(describe(missing)))
    if to_build:  # a bucket that is missing, refused credentials, an unreachable coordination database
        project.check_shared()
        # a deployment's DAGSTER_HOME that cannot work, before the first vendor call (which starts
        # before Dagster does)
        from pipelines.orchestration.home import check_deployment_home, deployment_home

        home = deployment_home(project.catalog)
        if home is not None:
            check_deployment_home(home)


def shown_status(out: Outcome) -> str:
    """The word a person reads: a local rendition is `rendered`, not `built`."""
    return "rendered" if out.status == "built" and out.planned.variant.operation == "render" else out.status


def format_outcome(out: Outcome) -> str:
    v = out.planned.variant
    if out.ok:
        rec = out.record or {}
        paid = out.paid_now_usd
        cost = "cache" if out.status != "built" else f"${paid:.2f}" if paid > 0 else "free"
        if rec.get("resumed_from_build") and out.status == "built":
            cost += f"  (collected: job {rec.get('request_id')} of build {rec['resumed_from_build'][:8]}, paid then)"
        failed_checks = [c.name for c in out.checks if c.status == "failed"]
        note = f"  CHECK FAILED: {', '.join(failed_checks)}" if failed_checks else ""
        if len(out.takes) > 1:
            note += f"  ({len(out.takes)} takes)"
        if any(c.status == "not_run" for c in out.checks):
            note += "  text not checked"
        note += f"  ({out.note})" if out.note else ""
        return f"  {shown_status(out):<8} {v.key:<55} {rec.get('provider') or '':<10} {cost:>7}{note}"
    return f"  {out.status.upper():<8} {v.key:<55} {out.error}"


def report_unchecked(outs) -> None:
    """Say which variants' text was not checked, and the fix: never let it pass for checked."""
    keys: list[str] = []
    packages: set[str] = set()
    other: dict[str, None] = {}
    for o in outs:
        for c in o.checks:
            if c.name == "text_ok" and c.status == "not_run":
                keys.append(o.key)
                if c.metadata.get("package"):
                    packages.add(c.metadata["package"])
                else:
                    other[c.metadata.get("fix") or c.description] = None
    if not keys:
        return
    fixes = ([f"apt-get install {' '.join(sorted(packages))} (Debian/Ubuntu), or set TESSDATA_PREFIX to a "
              "directory that has their .traineddata"] if packages else []) + list(other)
    shown_keys = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    print(f"text not checked on {len(keys)} variant(s): {shown_keys} (fix: {'; '.join(fixes)})", file=sys.stderr)


def _print_review(project: Project, report: BuildReport) -> None:
    entries = approvals_of(project)
    r = counts(review_infos(report.plan, entries).values())
    if r["pending"] + r["changed"]:
        print(f"review: {r['pending'] + r['changed']} variant(s) await review ({r['pending']} pending, "
              f"{r['changed']} changed); see `assetpipe review` or `assetpipe plan`")
    warnings = [str(i) for i in entry_problems(project, report.plan, entries)]
    pub = report.published
    if pub is not None:
        print(f"published: {pub.published} approved variant(s) in {shown(pub.dir)}/")
        warnings += [p for p in pub.problems if p not in warnings]
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def cmd_build(catalog_dir: Path, args) -> int:
    project = load_project(catalog_dir)
    project.lane = "sync" if args.refresh else getattr(args, "lane", None)  # validated in that lane
    project.validate()
    forget_stops()
    with SignalLog() as signals:
        report = build(project, selection=args.select, max_cost=args.max_cost, refresh=args.refresh,
                       dry_run=args.dry_run, retry_maybe_billed=args.retry_maybe_billed,
                       lane=getattr(args, "lane", None), wait=getattr(args, "wait", False))
    if args.dry_run:
        sent = [p.variant for p in report.to_build if args.retry_maybe_billed or not p.held]
        for line in key_warnings(project.pool, sent, "this build"):
            print(line, file=sys.stderr)
        for p in report.to_build:
            what = "held (may have been billed)" if p.held and not args.retry_maybe_billed else p.status
            print(f"  would build {p.key:<55} {p.variant.provider or 'local':<10} {what} ({p.reason or 'refresh'})")
        print(f"dry run: {len(report.to_build)} variant(s), estimated ${report.estimate_usd:.2f}; nothing was built")
        return 0
    out_dir = project.catalog.output_dir
    pending = [p for p in report.plan.items if p.batch]
    if not report.to_build and not report.outcomes and not pending:
        print(f"nothing to do: all {len(project.variants)} variants are fresh")
    elif not report.outcomes:
        print(f"\nnothing built now; {len(pending)} variant(s) in open batches "
              "(`assetpipe build` collects them when they finish, `--wait` waits for them)")
    else:
        print(summary_line(report))
    bills = bill_line(report)
    if bills:
        print(bills)
    print(f"outputs in {shown(out_dir)}/  manifest {shown(out_dir / 'manifest.json')}  gallery {shown(out_dir / 'index.html')}")
    _print_review(project, report)
    bad_checks = _report_problems(report, args.retry_maybe_billed)
    if last_stop() is not None:
        print(stop_line(report, signals), file=sys.stderr)
        return signals.exit_code()
    return 1 if report.failed or bad_checks else 0


def summary_line(report: BuildReport) -> str:
    """built (by a provider), rendered (locally), cached: and `paid` only for money spent."""
    rendered = sum(1 for o in report.outcomes.values() if shown_status(o) == "rendered")
    built = report.count("built") - rendered
    n = len(report.collected)
    notes = ([f"paid ${report.paid_usd:.2f}"] if report.paid_usd > 0 else ["free"] if built > n else []) + \
        ([f"{n} collected from earlier builds, paid then"] if n else [])
    made = f"built {built}" + (f" ({'; '.join(notes)})" if notes else "") + (f", rendered {rendered}" if rendered else "")
    extra = "".join(f", {word} {report.count(status)}" for status, word in (("held", "held"), ("stopped", "stopped"))
                    if report.count(status))
    return (f"\n{made}, reused "
            f"{report.count('cached')} from the cache, failed {report.count('failed')}{extra}, "
            f"skipped {report.count('skipped')} in {report.elapsed_s:.1f}s"
            + (f"; run {report.run_id[:8]} (see `assetpipe ui`)" if report.run_id else ""))


def _report_problems(report: BuildReport, retried: bool) -> list[Outcome]:
    outs = list(report.outcomes.values())
    bad_checks = [o for o in outs if o.ok and any(c.blocks for c in o.checks)]
    for o in bad_checks:
        names = ", ".join(f"{c.name}: {c.description}" for c in o.checks if c.blocks)
        print(f"check failed: {o.key}: {names}", file=sys.stderr)
    report_unchecked(outs)
    held = [o for o in outs if o.status == "held"]
    if held:
        print(f"held {len(held)} variant(s): an earlier build's call may have been billed once already, so they "
              "were not re-sent (`assetpipe build --retry-maybe-billed` re-sends them): "
              + ", ".join(o.key for o in held), file=sys.stderr)
    if retried:
        was_held = {p.key for p in report.to_build if p.held}
        again = [o for o in outs if o.status == "built" and o.key in was_held]
        if again:
            print(f"re-sent {len(again)} variant(s) that may have been billed once already: "
                  + ", ".join(o.key for o in again), file=sys.stderr)
    for o in report.failed:  # found after the run (a damaged cached image is not exported): say them too
        if o.key not in {p.key for p in report.to_build}:
            print(format_outcome(o), file=sys.stderr)
    billed = [o for o in outs if o.maybe_billed and o.status in ("failed", "stopped")]
    if billed:
        print(f"warning: {len(billed)} failed call(s) may have been billed by the vendor: "
              + ", ".join(o.key for o in billed), file=sys.stderr)
    return bad_checks


def stop_line(report: BuildReport, signals: SignalLog) -> str:
    stopped = [o for o in report.outcomes.values() if o.status == "stopped"]
    in_flight = sum(1 for o in stopped if o.in_flight)
    names = ", then ".join(signal.Signals(s).name for s in signals.received()) or "a signal"
    return (f"stopped by {names}: {report.count('built')} result(s) landed and were stored; {in_flight} call(s) "
            f"still in flight were journaled (the next build collects the jobs it can and holds the rest as "
            f"maybe billed: see `assetpipe plan`); {len(stopped) - in_flight} not sent")
