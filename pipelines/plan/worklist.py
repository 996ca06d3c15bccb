"""What a build would do: the selected variants that are not fresh, plus the missing upstreams
they need, priced. Shared by `assetpipe build`, `--dry-run` and the schedules, so all three agree."""

from __future__ import annotations

from pipelines.cache.integrity import blob_hash_problem
from pipelines.catalog.select import select
from pipelines.plan.lanes import drop_pending
from pipelines.plan.plan import Plan, Planned, downstream_of
from pipelines.plan.project import Project


def plan_build(project: Project, selection=None, refresh: bool = False,
               retry_maybe_billed: bool = False) -> tuple[Plan, list[Planned], float]:
    """What a build would do: the selected variants that are not fresh (all selected with refresh),
    plus any missing upstream variant they need. Returns (plan, to_build in dependency order, USD).

    A held variant (an earlier call may have been billed) stays in to_build, so the build reports
    it, but is priced only when `retry_maybe_billed` re-sends it."""
    plan = project.plan()
    chosen = {v.key for v in select(project.variants, selection)}
    for k in chosen:  # what this build exports from the cache is hashed first: damage is priced, not found later
        verify_reuse(project, plan.by_key[k])
    want = {k for k in chosen if refresh or plan.by_key[k].status != "fresh"}
    stack = list(want)
    while stack:  # an edit cannot run without its upstream: build missing upstreams too
        for up in plan.by_key[stack.pop()].variant.upstream_keys:
            if up not in want and plan.by_key[up].status != "fresh":
                want.add(up)
                stack.append(up)
    # a key in an open batch is collected by a later build, never paid for again (nor what needs it)
    to_build, _waiting = drop_pending([p for p in plan.items if p.key in want])
    # a refresh pays for every selected variant, even one whose image is in the cache, in the sync lane
    estimate = sum(project.sync_estimate(p.variant) * p.max_takes if refresh else p.est_cost
                   for p in to_build if retry_maybe_billed or not p.held)
    return plan, to_build, round(estimate, 4)


def held_closure(plan: Plan, to_build: list[Planned]) -> set[str]:
    """The held variants of `to_build` and every variant downstream of one (they cannot build)."""
    return downstream_of(to_build, {p.key for p in to_build if p.held})


def verify_reuse(project: Project, p: Planned) -> None:
    """An image the build will export from the cache (a variant to materialize from it, or a fresh
    one whose file in output_dir is missing or another size) is hashed now, so that a damaged one
    is priced as the rebuild it becomes. The export hashes it again as it copies it."""
    if p.record is None:
        return
    if p.status == "fresh":
        dest = project.catalog.output_dir / p.variant.relpath
        if dest.is_file() and dest.stat().st_size == p.record.get("bytes"):
            return  # its file is in place: the export only checks it
    damage = blob_hash_problem(project.store, p.record["blob"])
    if damage is not None:
        p.record, p.status, p.est_cost = None, "missing", project.estimate(p.variant)
        p.reasons = [f"its cached image {damage}: rebuild"]
