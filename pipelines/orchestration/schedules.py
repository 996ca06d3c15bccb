"""A campaign's `schedule:` as a Dagster schedule that builds only what is missing or changed.

At each tick the schedule plans the campaign (as `assetpipe build --select <campaign>` would, so a
missing upstream in another campaign comes along) and requests a run of exactly those variants,
or skips the tick with the reason when every variant is fresh.

A code location reads the catalog once, when it loads. A tick that finds the YAML on disk no longer
matching what was loaded skips, saying so: requesting a run from the old reading could pay for
variants that were edited or removed since. Reloading the code location (UI: Deployment > Reload,
or "Reload definitions" on the asset graph) makes the UI and the schedules see the edit.
"""

from __future__ import annotations

import hashlib
import json

import dagster as dg

from pipelines.errors import CatalogError
from pipelines.orchestration.keys import (
    CAMPAIGN_TAG,
    ESTIMATE_TAG,
    schedule_name,
    variant_key,
)
from pipelines.plan.keys import key_doc
from pipelines.plan.project import Project
from pipelines.plan.worklist import held_closure, plan_build


def build_schedules(project: Project, job) -> list[dg.ScheduleDefinition]:
    loaded = spec_fingerprint(project)
    return [_schedule(project, job, cf.spec.campaign, cf.spec.schedule, loaded)
            for cf in project.catalog.campaigns if cf.spec.schedule]


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
        # the batch lane first: finished batches into the store, then what goes into batches now;
        # the run below only gets what the sync engine does (cache hits, renders, the sync lane)
        try:
            todo, estimate, note, held = batch_tick(project, [f"{campaign}/*"])
        except CatalogError as exc:  # approvals.yaml (read at every plan) does not parse
            return dg.SkipReason(f"{len(exc.issues)} problem(s), first: {exc.issues[0]}; fix it")
        if not todo:
            if held:
                return dg.SkipReason(f"{campaign}: {len(held)} variant(s) held as maybe billed "
                                     "(see `assetpipe plan`); nothing else to build" + (f"; {note}" if note else ""))
            return dg.SkipReason(note or f"{campaign}: all {_count(project, campaign)} variants are fresh")
        return dg.RunRequest(
            asset_selection=[variant_key(p.variant) for p in todo],
            tags={CAMPAIGN_TAG: campaign, ESTIMATE_TAG: f"{estimate:.2f}"},
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
