"""A catalog's Dagster definitions, assembled: the variants' multi_asset, the reference images
as observable sources, the build job and the campaigns' schedules."""

from __future__ import annotations

from typing import Callable

import dagster as dg

from pipelines.engine.outcome import Outcome
from pipelines.orchestration import patches
from pipelines.orchestration.assets import variants_asset
from pipelines.orchestration.keys import BUILD_JOB
from pipelines.orchestration.refs import ref_sources
from pipelines.orchestration.schedules import build_schedules
from pipelines.plan.project import Project


def build_definitions(project: Project, on_outcome: Callable[[Outcome], None] | None = None,
                      refresh: set[str] | None = None, retry_maybe_billed: bool = False) -> dg.Definitions:
    """`on_outcome`, `refresh` and `retry_maybe_billed` are the CLI's hooks into an in-process run."""
    patches.install()  # one multi_asset of thousands of outputs: keep Dagster's bookkeeping linear
    variants = variants_asset(project, on_outcome, refresh, retry_maybe_billed)
    job = dg.define_asset_job(BUILD_JOB, selection=dg.AssetSelection.assets(variants),
                              description="Build catalog variants (cache hits never call a provider)")
    return dg.Definitions(assets=[variants, *ref_sources(project)], jobs=[job],
                          schedules=build_schedules(project, job))
