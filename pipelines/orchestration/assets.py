"""Every catalog asset as a Dagster asset partitioned by its variants, in subsettable multi_assets
whose bodies drive the engine: one multi_asset per step (a group of whole catalog assets,
pipelines.plan.steps) in the code location, one of every catalog asset for the CLI.

Why a multi_asset per step rather than a step per variant: provider calls are I/O bound (40-100 s
each) and vendors allow ~10 in flight per key. Dagster's multiprocess executor costs ~1-6 s of
process start per step and the in-process executor runs steps one at a time; one async step driving
every selected variant of its group keeps the calls at the vendor's limit, and a variant starts the
moment its upstream variants are done, across the catalog assets of the step. Several steps (the
code location's job) let an executor spread a run over processes or machines; vendor slots and
leases are shared through the coordination.

What a run builds (`requested`): the variants of its partition or partition range (a UI launch or
backfill of some variants), the worklist of its selection terms (`SELECT_TAG`: schedules), or every
variant of the selected assets, less what waits for an open batch. The CLI hands its own worklist
and an engine already running (`CliRun`, pipelines/orchestration/run.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Collection

import dagster as dg

from pipelines.engine.engine import Engine
from pipelines.engine.outcome import Outcome
from pipelines.orchestration.keys import MULTI_ASSET, REFRESH_TAG, RETRY_TAG, SELECT_TAG, variant_of
from pipelines.orchestration.outcomes import Outcomes
from pipelines.orchestration.plan_checks import sync_plan_checks
from pipelines.orchestration.recorder import Recorder
from pipelines.orchestration.results import check_evaluations, materialization
from pipelines.orchestration.review import after_run
from pipelines.orchestration.specs import asset_specs
from pipelines.plan.lanes import drop_pending
from pipelines.plan.plan import Plan, Planned
from pipelines.plan.project import Project
from pipelines.plan.worklist import held_closure, plan_build


@dataclass
class CliRun:
    """An in-process run of the CLI: its worklist, the engine's outcomes (already started) and a
    hook that sees each outcome as it lands."""
    to_build: list[Planned]
    outcomes: Outcomes
    on_outcome: Callable[[Outcome], None]


def variants_asset(project: Project, cli: CliRun | None = None, assets: Collection[str] | None = None,
                   name: str = MULTI_ASSET, computed: dict | None = None) -> dg.AssetsDefinition:
    """The multi_asset of the catalog assets `assets` (ids `campaign/asset`; all by default): a
    step. `computed`: the catalog's `specs_by_asset`, computed once for all the steps."""
    specs, checks = asset_specs(project, assets, computed)

    @dg.multi_asset(name=name, specs=specs, check_specs=checks, can_subset=True,
                    backfill_policy=dg.BackfillPolicy.single_run())  # a UI backfill: one run per range
    def assetpipe_variants(context):  # (no annotation: Dagster inspects it, and annotations are strings here)
        if cli is not None:
            to_build, outcomes, hook = cli.to_build, cli.outcomes, cli.on_outcome
        else:
            plan, to_build = run_worklist(context, project)
            tags = context.run.tags
            force = {p.key for p in to_build} if tags.get(REFRESH_TAG) == "true" else set()
            engine = Engine(project.catalog, project.store, project.planner(), project.pool, refresh=force,
                            log=context.log.info, build=context.run.run_id,
                            retry_maybe_billed=tags.get(RETRY_TAG) == "true")
            outcomes, hook = Outcomes(engine, to_build, plan.by_key), None
        failed, blocked = record(context, outcomes, hook)
        after = None
        if cli is None:  # the CLI does this itself, with the plan it writes the manifest from
            after = project.plan()
            sync_plan_checks(context.instance, project, after)
        # publish approved takes; count what awaits review in the run's campaign(s)
        after_run(context, project, {k.to_user_string() for k in context.selected_asset_keys}, after)
        if failed or blocked:  # the run turns red, as `assetpipe build` exits 1
            raise dg.Failure(
                description=f"{len(failed)} of {len(to_build)} variants did not build, "
                            f"{len(blocked)} failed a blocking check",
                metadata={"failed": "\n".join(f"{o.key}: {o.status}: {o.error}" for o in failed[:200]),
                          "blocking checks failed": "\n".join(blocked[:200])},
            )
        yield from ()  # a generator with nothing to yield: the events are recorded as they land

    return assetpipe_variants


def record(context, outcomes: Outcomes, hook) -> tuple[list[Outcome], list[str]]:
    """Write each outcome's materialization and checks as it lands; (failed, blocking check failures)."""
    recorder = Recorder(context)
    selected_checks = set(context.selected_asset_check_keys)
    failed: list[Outcome] = []
    blocked: list[str] = []

    def landed(out: Outcome) -> None:
        if hook is not None:
            hook(out)
        if not out.ok:
            failed.append(out)
            context.log.error(f"{out.key}: {out.status}: {out.error}")
            return
        recorder.materialization(materialization(out))  # first: the checks target it
        for evaluation in check_evaluations(out, selected_checks):
            recorder.check(evaluation)
        blocked.extend(f"{out.key}: {c.name}: {c.description}" for c in out.checks if c.blocks)

    try:
        for out in outcomes:
            landed(out)
            if not outcomes.waiting():  # a batch is what has landed so far
                recorder.flush()
    finally:
        # the run was interrupted between two results (Dagster closes this generator): the calls
        # in flight still land in the store within the grace period, and are recorded and reported
        for out in outcomes.drain():
            landed(out)
        recorder.flush()
    return failed, blocked


def run_worklist(context, project: Project) -> tuple[Plan, list[Planned]]:
    """The plan at run time (the store may have moved since the definitions loaded) and what this
    run builds, in dependency order: never a variant of an asset outside the run's selection."""
    selected = {k.to_user_string() for k in context.selected_asset_keys}
    wanted = requested(context)
    terms = context.run.tags.get(SELECT_TAG)
    if terms:  # a schedule's run: what is missing or changed in its selection, planned now
        plan, items, _ = plan_build(project, json.loads(terms))
        if context.run.tags.get(RETRY_TAG) != "true":  # may have been billed: a person decides
            held = held_closure(plan, items)
            items = [p for p in items if p.key not in held]
    else:  # this step's own variants and their upstream, not the whole catalog (each plan reads the store)
        plan = project.plan([v.key for v in project.variants
                             if v.asset_id in selected and (wanted is None or v.key in wanted)])
        items = plan.items
    mine = [p for p in items if p.variant.asset_id in selected and (wanted is None or p.key in wanted)]
    # a key in an open batch waits for a build to collect it: never paid for twice (nor what needs it)
    to_build, waiting = drop_pending(mine)
    for p in waiting:
        context.log.info(f"{p.key}: waits for batch {(p.batch or {}).get('batch_id') or 'upstream'}")
    return plan, to_build


def requested(context) -> set[str] | None:
    """The variant keys of a partitioned run (one partition, or a range per asset), else None."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    rng = context.partition_key_range
    out = set()
    for key in context.selected_asset_keys:
        parts = context.assets_def.specs_by_key[key].partitions_def
        out.update(variant_of(key, pk) for pk in parts.get_partition_keys_in_range(rng))
    return out
