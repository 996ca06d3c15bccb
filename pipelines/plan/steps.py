"""How a build is cut into steps that executors can spread over processes and machines.

A step is a group of WHOLE catalog assets (every variant of an asset is in the same step: a step
drives its variants with the asyncio engine, and an asset's variants share a vendor and a
prompt). The cut is a pure function of the variants, so every machine that loads the same catalog
cuts it the same way (a celery worker must find the steps the run was planned with).

The cut: by campaign, in chunks of whole assets of at most `max_variants` variants (an asset
larger than that is a chunk of its own). Edits and renders that cross chunks become dependencies
between steps. Steps never form a cycle: each asset gets a *stage*, the number of campaign borders
on its longest upstream path, and a step holds assets of one campaign and one stage, in the
catalog's dependency order; so every dependency goes to a later stage, or to the same campaign and
stage and a chunk that is not earlier.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.catalog.variant import Variant

DEFAULT_STEP_VARIANTS = 64


@dataclass(frozen=True)
class StepGroup:
    name: str  # unique in the catalog, Dagster-safe as campaign names are: "spring", "spring_2", "spring_s1"
    campaign: str
    assets: tuple[str, ...]  # "campaign/asset" ids, in dependency order
    variants: int

    def holds(self, v: Variant) -> bool:
        return v.asset_id in self.assets


def step_groups(variants: list[Variant], max_variants: int | None = DEFAULT_STEP_VARIANTS) -> list[StepGroup]:
    """The steps of a build of `variants`, in an order where every step comes after the steps it
    depends on. `max_variants=None`: one step per campaign and stage."""
    order, size, campaign_of, ups = _assets(variants)
    stage: dict[str, int] = {}
    for a in order:  # dependency order: every upstream has its stage already
        stage[a] = max((stage[u] + (campaign_of[u] != campaign_of[a]) for u in ups[a]), default=0)
    chunks: dict[tuple[str, int], list[list[str]]] = {}
    for a in order:
        runs = chunks.setdefault((campaign_of[a], stage[a]), [[]])
        current = runs[-1]
        if current and max_variants is not None and sum(size[x] for x in current) + size[a] > max_variants:
            runs.append(current := [])
        current.append(a)
    groups = []
    for (campaign, st), runs in sorted(chunks.items(), key=lambda kv: (kv[0][1], _first(order, kv[1]))):
        for i, run in enumerate(runs):
            suffix = "" if (st, i) == (0, 0) else f"_s{st}" * (st > 0) + f"_{i + 1}" * (i > 0)
            groups.append(StepGroup(campaign + suffix, campaign, tuple(run), sum(size[a] for a in run)))
    _unique_names(groups)
    return groups


def one_group(variants: list[Variant], name: str) -> StepGroup:
    """Every asset in one step: the CLI's in-process build (one asyncio engine drives everything,
    so a render starts the moment its upstream variant lands)."""
    order, size, _, _ = _assets(variants)
    return StepGroup(name, "", tuple(order), sum(size.values()))


def _assets(variants: list[Variant]):
    """Catalog assets in dependency order (stable: the catalog's order otherwise), their variant
    counts, campaigns and upstream assets."""
    size: dict[str, int] = {}
    campaign_of: dict[str, str] = {}
    ups: dict[str, set[str]] = {}
    for v in variants:
        size[v.asset_id] = size.get(v.asset_id, 0) + 1
        campaign_of[v.asset_id] = v.campaign
        ups.setdefault(v.asset_id, set()).update(v.upstream_assets)
    for a in ups:
        ups[a] = {u for u in ups[a] if u in size and u != a}
    order: list[str] = []
    placed: set[str] = set()

    def visit(a: str, path: tuple[str, ...] = ()) -> None:
        if a in placed or a in path:  # (a cycle is a catalog error, reported by validation)
            return
        for u in sorted(ups[a], key=list(size).index):
            visit(u, (*path, a))
        placed.add(a)
        order.append(a)

    for a in size:
        visit(a)
    return order, size, campaign_of, ups


def _first(order: list[str], runs: list[list[str]]) -> int:
    return order.index(runs[0][0])


def _unique_names(groups: list[StepGroup]) -> None:
    seen: dict[str, int] = {}
    for i, g in enumerate(groups):
        n = seen.get(g.name, 0)
        seen[g.name] = n + 1
        if n:  # two campaigns that differ only in characters Dagster does not allow
            groups[i] = StepGroup(f"{g.name}_x{n}", g.campaign, g.assets, g.variants)
