"""Review decisions as Dagster sees them: the one module where review meets Dagster.

- `record_decisions`: approve / reject record a runless observation on the variant's partition of
  its asset (metadata: review_state, reviewer, note, sha256, take), so its timeline shows who
  approved or rejected which take. Observations carry no data version: they never touch staleness.
- `after_run`: at the end of every run of the variants (CLI, UI, schedule) the published mirror is
  brought in line with approvals.yaml, and the run reports how many variants of its campaign(s)
  await review: in its log and as the run tag `assetpipe/awaiting_review`.
"""

from __future__ import annotations

from typing import Iterable

import dagster as dg

from pipelines.orchestration.instance import instance
from pipelines.orchestration.keys import CAMPAIGN_TAG, asset_key, partition_key
from pipelines.plan.plan import Plan
from pipelines.plan.project import Project
from pipelines.review import publish
from pipelines.review.actions import Decision
from pipelines.review.project import approvals_of
from pipelines.review.states import AWAITING, counts, review_infos

AWAITING_TAG = "assetpipe/awaiting_review"


def record_decisions(project: Project, decisions: Iterable[Decision], inst=None) -> int:
    """One observation per decision that changed approvals.yaml; returns how many."""
    by_key = {v.key: v for v in project.variants}
    todo = [d for d in decisions if d.changed and d.key in by_key]
    if not todo:
        return 0
    inst = inst or instance(project.catalog)
    for d in todo:
        e = d.entry
        state = "approved" if e.status == "approved" else "rejected"
        inst.report_runless_asset_event(dg.AssetObservation(
            asset_key=asset_key(by_key[d.key]), partition=partition_key(by_key[d.key]),
            description=f"{state} by {e.by}" + (f": {e.note}" if e.note else ""),
            metadata={"review_state": state, "reviewer": e.by, "note": e.note or "", "sha256": e.sha256,
                      "take": e.take, "at": e.at},
        ))
    return len(todo)


def after_run(context, project: Project, selected: set[str], plan: Plan | None = None) -> int:
    """Publish, then count the variants of the run's campaign(s) that await review; returns it.
    `selected`: keys or ids that start with their campaign; `plan`: the plan after the run, if made."""
    plan = project.plan() if plan is None else plan
    report = publish.sync(project, plan)
    for problem in report.problems if report else []:
        context.log.warning(f"publish: {problem}")
    campaign = context.run.tags.get(CAMPAIGN_TAG)
    campaigns = {campaign} if campaign else {k.split("/", 1)[0] for k in selected}
    infos = [i for i in review_infos(plan, approvals_of(project)).values() if i.key.split("/", 1)[0] in campaigns]
    by_state = counts(infos)
    waiting = sum(by_state[s] for s in AWAITING)
    context.log.info(f"review: {waiting} variant(s) of {', '.join(sorted(campaigns))} await review "
                     f"({by_state['pending']} pending, {by_state['changed']} changed, "
                     f"{by_state['rejected']} rejected, {by_state['approved']} approved)")
    context.instance.add_run_tags(context.run_id, {AWAITING_TAG: str(waiting)})
    return waiting
