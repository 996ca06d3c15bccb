"""Schedules and reference-image sources for the Dagster code location.

A campaign's `schedule:` becomes a schedule that plans the campaign at tick time and requests a run
of only its missing or changed variants, or skips the tick when there is nothing to do.
Reference images are observable source assets whose data version is the file's sha256, so a
changed reference shows its dependants as changed in the UI.
"""

from __future__ import annotations

import warnings

import dagster as dg

from pipelines.project import Project


def build_schedules(project: Project, job) -> list[dg.ScheduleDefinition]:
    out = []
    for cf in project.catalog.campaigns:
        camp = cf.spec
        if not camp.schedule:
            continue
        out.append(_schedule(project, job, camp.campaign, camp.schedule))
    return out


def _schedule(project: Project, job, campaign: str, cron: str):
    @dg.schedule(name=f"{campaign}_schedule", cron_schedule=cron, job=job,
                 description=f"Build what changed in {campaign} (skips when everything is fresh)")
    def _tick(context: dg.ScheduleEvaluationContext):
        plan = project.plan()
        todo = [p for p in plan.items if p.variant.campaign == campaign and p.status != "fresh"]
        if not todo:
            return dg.SkipReason(f"{campaign}: every variant is fresh")
        cost = sum(p.est_cost for p in todo)
        return dg.RunRequest(
            run_key=None,
            asset_selection=[dg.AssetKey(p.variant.key_path) for p in todo],
            tags={"assetpipe/campaign": campaign, "assetpipe/estimated_cost_usd": f"{cost:.2f}"},
        )

    return _tick


def ref_sources(project: Project) -> list:
    from pipelines.assets import ref_key

    refs = {}
    for v in project.variants:
        for i in v.inputs:
            if i.kind == "file":
                refs[i.ref] = i.path
    out = []
    for ref, path in sorted(refs.items()):
        out.append(_observable(project, ref, path, ref_key(ref)))
    return out


def _observable(project: Project, ref: str, path, key):
    with warnings.catch_warnings():  # observable_source_asset is "beta" in 1.13; it is what we need
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _observable_def(project, ref, path, key)


def _observable_def(project: Project, ref: str, path, key):

    @dg.observable_source_asset(key=key, group_name="refs", description=f"Reference image {ref}")
    def _observe():
        return dg.DataVersion(project.hasher.digest(path))

    return _observe
