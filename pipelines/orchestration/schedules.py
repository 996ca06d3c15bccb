"""A campaign's `schedule:` as a Dagster schedule that builds only what is missing or changed.

Each scheduled campaign gets its own job, `<campaign>_build`, over its assets and the upstream
assets they read (a missing upstream in another campaign comes along, as with `assetpipe build
--select <campaign>`), so the UI lists the schedule on those assets only. Dagster refuses a job
over assets with different partitions definitions (each catalog asset has its own variants) except
for its implicit job of all assets; `CampaignJob` is a job resolved the way that one is.

At each tick the schedule plans the campaign and requests a run of the assets with something to
do, tagged with the campaign's selection: the run plans again when it starts and builds exactly
the missing or changed variants. When every variant is fresh the tick skips, saying so.

A code location reads the catalog once, when it loads. A tick that finds the YAML on disk no longer
matching what was loaded skips, saying so: requesting a run from the old reading could pay for
variants that were edited or removed since. `assetpipe ui` reloads the code location itself when
the catalog changes on disk.
"""

from __future__ import annotations

import hashlib
import json

import dagster as dg
from dagster._core.definitions.assets.job.asset_job import build_asset_job, get_asset_graph_for_job
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from pipelines.errors import CatalogError
from pipelines.orchestration.keys import (
    CAMPAIGN_TAG,
    ESTIMATE_TAG,
    SELECT_TAG,
    asset_key_of,
    job_name,
    schedule_name,
)
from pipelines.plan.keys import key_doc
from pipelines.plan.project import Project
from pipelines.plan.worklist import held_closure, plan_build


class CampaignJob(UnresolvedAssetJobDefinition):
    """An asset job over assets with different partitions definitions, resolved as Dagster resolves
    its implicit job of all assets (`allow_different_partitions_defs=True`)."""

    def resolve(self, asset_graph, default_executor_def=None, resource_defs=None):
        return build_asset_job(
            self.name, asset_graph=get_asset_graph_for_job(asset_graph, self.selection, allow_different_partitions_defs=True),
            description=self.description, tags=self.tags, run_tags=self.run_tags,
            executor_def=self.executor_def or default_executor_def, resource_defs=resource_defs,
            allow_different_partitions_defs=True)


def campaign_assets(project: Project, campaign: str) -> list[str]:
    """The campaign's catalog assets and every upstream asset they read, transitively."""
    ups: dict[str, set[str]] = {}
    for v in project.variants:
        ups.setdefault(v.asset_id, set()).update("/".join(i.ref.split("/", 2)[:2]) for i in v.inputs
                                                 if i.kind == "upstream")
    todo = [a for a in ups if a.split("/", 1)[0] == campaign]
    seen = set(todo)
    while todo:
        for up in ups.get(todo.pop(), ()):
            if up not in seen:
                seen.add(up)
                todo.append(up)
    return [a for a in ups if a in seen]  # catalog order


def build_schedules(project: Project) -> tuple[list, list[dg.ScheduleDefinition]]:
    """(the scheduled campaigns' jobs, their schedules)."""
    loaded = spec_fingerprint(project)
    jobs, schedules = [], []
    for cf in project.catalog.campaigns:
        if not cf.spec.schedule:
            continue
        campaign = cf.spec.campaign
        job = CampaignJob(name=job_name(campaign), description=f"Build {campaign} (and the upstream assets it reads)",
                          selection=dg.AssetSelection.assets(*[asset_key_of(a) for a in campaign_assets(project, campaign)]))
        jobs.append(job)
        schedules.append(_schedule(project, job, campaign, cf.spec.schedule, loaded))
    return jobs, schedules


def spec_fingerprint(project: Project) -> str:
    """What the loaded definitions depend on: every variant's recipe with its inputs named rather
    than hashed (a changed ref file is the plan's business, not a reason to reload)."""
    docs = [(v.key, v.source, v.description, v.owners, v.tags, key_doc(v, [i.ref for i in v.inputs]))
            for v in project.variants]
    return hashlib.sha256(json.dumps(docs, sort_keys=True, default=str).encode()).hexdigest()


def _schedule(project: Project, job, campaign: str, cron: str, loaded: str):
    # RUNNING by default: writing `schedule:` in the catalog is the switch (the UI can still pause it)
    @dg.schedule(name=schedule_name(campaign), cron_schedule=cron, job=job,
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description=f"Build what is missing or changed in {campaign}; skips when all is fresh")
    def _tick(context: dg.ScheduleEvaluationContext):
        stale = reload_needed(project, loaded)
        if stale:
            return dg.SkipReason(stale)
        terms = [f"{campaign}/*"]
        # the batch lane first: finished batches into the store, then what goes into batches now;
        # the run below only gets what the sync engine does (cache hits, renders, the sync lane)
        try:
            todo, estimate, note, held = batch_tick(project, terms)
        except CatalogError as exc:  # approvals.yaml (read at every plan) does not parse
            return dg.SkipReason(f"{len(exc.issues)} problem(s), first: {exc.issues[0]}; fix it")
        if not todo:
            if held:
                return dg.SkipReason(f"{campaign}: {len(held)} variant(s) held as maybe billed "
                                     "(see `assetpipe plan`); nothing else to build" + (f"; {note}" if note else ""))
            return dg.SkipReason(note or f"{campaign}: all {_count(project, campaign)} variants are fresh")
        return dg.RunRequest(
            asset_selection=[asset_key_of(a) for a in dict.fromkeys(p.variant.asset_id for p in todo)],
            tags={CAMPAIGN_TAG: campaign, ESTIMATE_TAG: f"{estimate:.2f}", SELECT_TAG: json.dumps(terms),
                  "assetpipe/variants": str(len(todo))},
        )

    return _tick


def batch_tick(project: Project, selection: list[str]) -> tuple[list, float, str, set[str]]:
    """(what the run builds, its estimate, what the batch lane did, the held variants): a tick
    collects finished batches, submits the campaign's batch-lane variants and runs the rest; a
    variant that may have been billed already is held for a person to decide."""
    from pipelines.batch.lane import BatchLane

    said: list[str] = []
    lane = BatchLane(project, said.append)
    lane.collect()
    plan, todo, _estimate = plan_build(project, selection)
    held = held_closure(plan, todo)  # may have been billed: a person decides (build --retry-maybe-billed)
    now, ready, _waiting = lane.split([p for p in todo if p.key not in held])
    if ready:
        project.check_shared()  # the cache (an S3 bucket) and the coordination work before a batch is paid
    lane.submit(ready)
    return now, round(sum(p.est_cost for p in now), 4), "; ".join(said), held


def reload_needed(project: Project, loaded: str) -> str | None:
    """Why the loaded definitions no longer match the catalog on disk, or None."""
    try:
        on_disk = Project.load(project.catalog.root)
    except CatalogError as exc:
        return f"the catalog on disk has {len(exc.issues)} problem(s), first: {exc.issues[0]}; fix it and reload"
    if spec_fingerprint(on_disk) != loaded:
        return ("the catalog changed on disk since this code location loaded it; reload the code "
                "location (Deployment > Reload) so the UI and this schedule see the edit")
    return None


def _count(project: Project, campaign: str) -> int:
    return sum(v.campaign == campaign for v in project.variants)
