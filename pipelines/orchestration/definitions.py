"""A catalog's Dagster definitions, assembled: the variants' multi_assets (one per step), the
reference images as observable sources, the build job and the campaigns' schedules."""

from __future__ import annotations

from typing import Callable

import dagster as dg

from pipelines.engine.outcome import Outcome
from pipelines.orchestration import patches
from pipelines.orchestration.assets import variants_asset
from pipelines.orchestration.executors import build_executor, step_variants
from pipelines.orchestration.keys import BUILD_JOB
from pipelines.orchestration.refs import ref_sources
from pipelines.orchestration.schedules import build_schedules
from pipelines.orchestration.specs import check_specs
from pipelines.plan.project import Project
from pipelines.plan.steps import step_groups


def build_definitions(project: Project, on_outcome: Callable[[Outcome], None] | None = None,
                      refresh: set[str] | None = None, retry_maybe_billed: bool = False,
                      split: bool = True) -> dg.Definitions:
    """The code location's definitions: the build job's steps are groups of whole catalog assets
    (pipelines.plan.steps) for an executor to spread over processes or machines (the executor:
    pipelines.orchestration.executors). `split=False`: one step of every variant, for the CLI's
    in-process run, whose hooks are `on_outcome`, `refresh` and `retry_maybe_billed`."""
    patches.install()  # multi_assets of thousands of outputs: keep Dagster's bookkeeping linear
    if split:
        recipes = project.planner().recipes(project.variants)
        checks = check_specs(project)
        steps = [variants_asset(project, g, on_outcome, refresh, retry_maybe_billed, recipes=recipes, checks=checks)
                 for g in step_groups(project.variants, step_variants())]
        executor = build_executor()
    else:
        steps, executor = [variants_asset(project, None, on_outcome, refresh, retry_maybe_billed)], None
    job = dg.define_asset_job(BUILD_JOB, selection=dg.AssetSelection.assets(*steps), executor_def=executor,
                              description="Build catalog variants (cache hits never call a provider)")
    return dg.Definitions(assets=[*steps, *ref_sources(project)], jobs=[job],
                          schedules=build_schedules(project, job))
