"""A catalog's Dagster definitions, assembled: the catalog assets (partitioned by variant) in
multi_assets, one per step (pipelines.plan.steps), the reference images as observable sources, the
build job of every step, and each scheduled campaign's job and schedule. The CLI's in-process runs
have one step of every catalog asset and use Dagster's implicit job of all assets."""

from __future__ import annotations

import dagster as dg

from pipelines.orchestration import patches
from pipelines.orchestration.assets import CliRun, variants_asset
from pipelines.orchestration.executors import build_executor, step_variants
from pipelines.orchestration.keys import BUILD_JOB, MULTI_ASSET
from pipelines.orchestration.refs import ref_sources
from pipelines.orchestration.schedules import CampaignJob, build_schedules
from pipelines.orchestration.specs import specs_by_asset
from pipelines.plan.project import Project
from pipelines.plan.steps import step_groups


def build_definitions(project: Project, cli: CliRun | None = None, split: bool = True) -> dg.Definitions:
    """The code location's definitions: the build job's steps are groups of whole catalog assets
    (pipelines.plan.steps) for an executor to spread over processes or machines (the executor:
    pipelines.orchestration.executors), for every job of the location (the build job, the
    campaigns' jobs, the implicit job of UI launches). `split=False`: one step of every catalog
    asset, for `cli`, the CLI's in-process run (its worklist and its engine, already started)."""
    patches.install()  # Dagster 1.13 fixes for multi_assets of many partitioned assets
    computed = specs_by_asset(project)  # once for every step
    if split:
        steps = [variants_asset(project, cli, g.assets, f"{MULTI_ASSET}_{g.name}", computed)
                 for g in step_groups(project.variants, step_variants())]
        executor = build_executor()
    else:
        steps, executor = [variants_asset(project, cli, None, MULTI_ASSET, computed)], None
    # catalog assets have different partitions definitions: a job Dagster resolves as its implicit one
    build = CampaignJob(name=BUILD_JOB, selection=dg.AssetSelection.assets(*steps),
                        description="Build catalog variants (cache hits never call a provider)")
    jobs, schedules = build_schedules(project)
    return dg.Definitions(assets=[*steps, *ref_sources(project)], jobs=[build, *jobs], schedules=schedules,
                          executor=executor)
