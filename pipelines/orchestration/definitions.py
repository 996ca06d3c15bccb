"""A catalog's Dagster definitions, assembled: the catalog assets (partitioned by variant) in one
multi_asset, the reference images as observable sources, and each scheduled campaign's job and
schedule. Runs that are not a campaign's (the CLI's, the UI's launches) use Dagster's implicit
job of all assets."""

from __future__ import annotations

import dagster as dg

from pipelines.orchestration import patches
from pipelines.orchestration.assets import CliRun, variants_asset
from pipelines.orchestration.refs import ref_sources
from pipelines.orchestration.schedules import build_schedules
from pipelines.plan.project import Project


def build_definitions(project: Project, cli: CliRun | None = None) -> dg.Definitions:
    """`cli` is the CLI's in-process run (its worklist and its engine, already started)."""
    patches.install()  # Dagster 1.13 fixes for one multi_asset of many partitioned assets
    variants = variants_asset(project, cli)
    jobs, schedules = build_schedules(project)
    return dg.Definitions(assets=[variants, *ref_sources(project)], jobs=jobs, schedules=schedules)
