"""Which lane pays for a variant, and what the plan says about keys in open batches.

    sync    one call per image, now (the default)
    batch   OpenAI's Batch API: half the price, results within 24 h (pipelines/batch)

A variant's lane is `--lane` when given, else its campaign's `lane:`, else catalog.yaml's. Only a
paid generate or edit whose provider offers the Batch API (or a pool with a member that does) goes
to the batch lane; renders and drafts are free and local, and always run at once. `--refresh`
always runs in the sync lane. No lane changes a cache key: the same image is the same key,
whichever lane paid for it.
"""

from __future__ import annotations

from typing import Any

from pipelines.catalog.variant import Variant
from pipelines.plan.plan import Plan, Planned, downstream_of

Project = Any  # pipelines.plan.project.Project, which imports this module (no cycle for the type)


def wanted_lane(project: Project, v: Variant) -> str:
    """The lane the catalog (or --lane) asks for this variant."""
    if project.lane:
        return project.lane
    for cf in project.catalog.campaigns:
        if cf.spec.campaign == v.campaign and cf.spec.lane:
            return cf.spec.lane
    return project.catalog.settings.lane


def batch_entry(project: Project, provider: str | None) -> str | None:
    """The provider entry that submits this provider's batches: itself, or a pool's first member
    (in the order its strategy prefers) that offers the Batch API; None when none does."""
    from providers.batch import supports_batch

    if provider is None:
        return None
    for name in project.pool.members(provider):
        if supports_batch(project.pool.get(name)):
            return name
    return None


def lane_of(project: Project, v: Variant) -> str:
    """The lane this variant is built in: batch only when asked for and possible."""
    if v.operation == "render" or v.provider is None or wanted_lane(project, v) != "batch":
        return "sync"
    if project.catalog.settings.providers[v.provider].type == "draft":
        return "sync"  # free and offline: nothing to save
    return "batch" if batch_entry(project, v.provider) else "sync"


def lane_problems(project: Project) -> list[tuple[Variant, str]]:
    """Variants asked for the batch lane whose provider has no Batch API: an error before anything
    is spent (a budget planned at half price must not be spent at full price)."""
    out = []
    for v in project.variants:
        if v.operation == "render" or v.provider is None or wanted_lane(project, v) != "batch":
            continue
        if project.catalog.settings.providers[v.provider].type == "draft":
            continue
        if batch_entry(project, v.provider) is None:
            out.append((v, f"the batch lane needs a provider with OpenAI's Batch API; {v.provider!r} has none "
                           "(an OpenAI-compatible host: `options: {batch: true}` if it offers /v1/batches)"))
    return out


def takes_left(p: Planned) -> int:
    """The takes a build of `p` may still pay for: the current one and its retakes."""
    return max(p.max_takes - p.take, 1)


def stays_sync(p: Planned, refresh: bool = False) -> bool:
    """Whether a variant the catalog puts in the batch lane is built by the engine all the same:
    a --refresh, an image already in the store (checked, maybe retaken), and a key with calls an
    earlier build sent (pipelines.plan.unsettled: the engine collects or holds them; a batch of
    the same key could pay for it twice)."""
    return refresh or p.record is not None or bool(p.unsettled) or p.held


def price_unsettled(project: Project, plan: Plan) -> None:
    """A batch-lane variant with an earlier synchronous call still unsettled is re-sent (with
    --retry-maybe-billed) synchronously: priced at the sync price, never the batch one."""
    for p in plan.items:
        if p.est_cost and stays_sync(p) and p.record is None and lane_of(project, p.variant) == "batch":
            p.est_cost = project.sync_estimate(p.variant) * takes_left(p)


def annotate_pending(plan: Plan, pending: dict[str, dict], retake=lambda v: 0.0) -> None:
    """Keys in open batches: said so in the plan, and priced at nothing more than their retakes
    (`retake(variant)`: the take in the batch is paid already; a retake after a failed text check
    is paid synchronously once the image is collected)."""
    for p in plan.items:
        info = pending.get(p.cache_key)
        if info is None or p.status == "fresh" or p.record is not None:
            continue
        p.batch = info
        p.est_cost = retake(p.variant) * (takes_left(p) - 1)
        state = info.get("status") or "submitted"
        p.reasons.append(f"in batch {info.get('batch_id') or info.get('record')} ({state}): a later build collects it")


def drop_pending(to_build: list[Planned]) -> tuple[list[Planned], list[Planned]]:
    """(what can be built now, what waits): variants in open batches wait, and so does everything
    downstream of them."""
    waiting = downstream_of(to_build, {p.key for p in to_build if p.batch})
    return [p for p in to_build if p.key not in waiting], [p for p in to_build if p.key in waiting]
