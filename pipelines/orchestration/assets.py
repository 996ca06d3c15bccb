"""The variants of a group of catalog assets (a step: pipelines.plan.steps) as the assets of one
subsettable multi_asset; the CLI's in-process build has one group of everything.

Why one multi_asset per step rather than one step per variant: provider calls are I/O bound
(40-100 s each) and vendors allow ~10 in flight per key. Dagster's multiprocess executor costs ~1-6 s
of process start per step and the in-process executor runs steps one at a time; one async step
driving every selected variant of its group keeps the calls at the vendor's limit while the UI
still shows (and can select) every variant as its own asset. Several steps (the code location's job) let an executor spread a run over
processes or machines; vendor slots and leases are shared through the coordination.
"""

from __future__ import annotations

from typing import Callable

import dagster as dg

from pipelines.engine.engine import Engine
from pipelines.engine.outcome import Outcome
from pipelines.orchestration.keys import MULTI_ASSET, REFRESH_TAG, RETRY_TAG, variant_key
from pipelines.orchestration.results import results_of
from pipelines.orchestration.review import after_run
from pipelines.orchestration.specs import check_specs, variant_spec
from pipelines.plan.lanes import drop_pending
from pipelines.plan.project import Project
from pipelines.plan.steps import StepGroup


def variants_asset(project: Project, group: StepGroup | None = None,
                   on_outcome: Callable[[Outcome], None] | None = None,
                   refresh: set[str] | None = None, retry_maybe_billed: bool = False,
                   recipes: dict[str, str] | None = None,
                   checks: list[dg.AssetCheckSpec] | None = None) -> dg.AssetsDefinition:
    """The step of `group`'s variants (None: every variant, one step named MULTI_ASSET).
    `recipes` and `checks` of the whole catalog may be given, computed once for all the steps.
    `on_outcome`, `refresh` and `retry_maybe_billed` are the CLI's hooks into an in-process run
    (a run launched elsewhere says the last two with the REFRESH_TAG and RETRY_TAG tags)."""
    by_key = {v.key: v for v in project.variants}
    variants = [v for v in project.variants if group is None or group.holds(v)]
    recipes = recipes if recipes is not None else project.planner().recipes(project.variants)
    specs = [variant_spec(v, recipes[v.key], by_key, project.catalog.root) for v in variants]
    key_of = {tuple(variant_key(v).path): v.key for v in variants}
    checks = [c for c in (check_specs(project) if checks is None else checks) if tuple(c.asset_key.path) in key_of]
    name = MULTI_ASSET if group is None else f"{MULTI_ASSET}_{group.name}"

    @dg.multi_asset(name=name, specs=specs, check_specs=checks, can_subset=True)
    def assetpipe_variants(context):  # (no annotation: Dagster inspects it, and annotations are strings here)
        selected = {key_of[tuple(k.path)] for k in context.selected_asset_keys}
        plan = project.plan(selected)  # at run time (the store may have moved): these and their upstream
        # a key in an open batch waits for a build to collect it: never paid for twice
        to_build, waiting = drop_pending([p for p in plan.items if p.key in selected])
        for p in waiting:
            context.log.info(f"{p.key}: waits for batch {(p.batch or {}).get('batch_id') or 'upstream'}")
        force = set(refresh or ())
        tags = context.run.tags
        if tags.get(REFRESH_TAG) == "true":
            force |= selected
        engine = Engine(project.catalog, project.store, project.planner(), project.pool, refresh=force,
                        log=context.log.info, build=context.run.run_id,
                        retry_maybe_billed=retry_maybe_billed or tags.get(RETRY_TAG) == "true")
        failed: list[Outcome] = []

        def landed(out: Outcome) -> bool:
            if on_outcome is not None:
                on_outcome(out)
            if not out.ok:
                failed.append(out)
                context.log.error(f"{out.key}: {out.status}: {out.error}")
            return out.ok

        try:
            for out in engine.stream(to_build, plan.by_key):
                if landed(out):
                    yield from results_of(out)
        finally:
            # the run was interrupted between two results (Dagster closes this generator): the
            # calls in flight still land in the store within the grace period, and are reported
            for out in engine.drain():
                landed(out)
        after_run(context, project, selected)  # publish approved takes; count what awaits review
        if failed:
            raise dg.Failure(
                description=f"{len(failed)} of {len(to_build)} variants did not build",
                metadata={"failed": "\n".join(f"{o.key}: {o.status}: {o.error}" for o in failed)},
            )

    return assetpipe_variants
