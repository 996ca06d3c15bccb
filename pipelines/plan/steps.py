"""How a build is cut into steps that executors can spread over processes and machines.

A step is a group of WHOLE catalog assets (every variant of an asset is in the same step: a step
drives its variants with the asyncio engine, and an asset's variants share a vendor and a
prompt). The cut is a pure function of the variants, so every machine that loads the same catalog
cuts it the same way (a celery worker must find the steps the run was planned with).

The cut: by campaign, at most `max_variants` variants a step: small campaigns share a step, a large
one is cut into chunks of whole assets (an asset larger than a step is a step of its own). Edits
and renders that cross steps become dependencies between steps. Steps never form a cycle: each
asset gets a *stage*, the number of campaign borders on its longest upstream path; a step holds
assets of one stage, each campaign's in the catalog's dependency order, so every dependency goes
to a later stage, or within a campaign to the same step or a later one.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.catalog.variant import Variant

DEFAULT_STEP_VARIANTS = 64


@dataclass(frozen=True)
class StepGroup:
    name: str  # unique in the catalog, Dagster-safe as campaign names are: "spring", "spring_2", "spring_s1"
    campaigns: tuple[str, ...]
    assets: tuple[str, ...]  # "campaign/asset" ids, in dependency order
    variants: int
    stage: int = 0

    def holds(self, v: Variant) -> bool:
        return v.asset_id in self.assets


def step_groups(variants: list[Variant], max_variants: int | None = DEFAULT_STEP_VARIANTS) -> list[StepGroup]:
    """The steps of a build of `variants`, in an order where every step comes after the steps it
    depends on. Small campaigns share a step (a step costs a process start, and its calls are
    what keeps a vendor busy); a campaign is cut only when it does not fit in one step.
    `max_variants=None`: one step per stage."""
    order, size, campaign_of, ups = _assets(variants)
    stage: dict[str, int] = {}
    for a in order:  # dependency order: every upstream has its stage already
        stage[a] = max((stage[u] + (campaign_of[u] != campaign_of[a]) for u in ups[a]), default=0)
    over = (lambda n: False) if max_variants is None else (lambda n: n > max_variants)  # noqa: E731
    groups: list[StepGroup] = []
    for st in sorted(set(stage.values())):
        in_stage = [a for a in order if stage[a] == st]
        current: list[str] = []
        for c in dict.fromkeys(campaign_of[a] for a in in_stage):
            mine = [a for a in in_stage if campaign_of[a] == c]
            if current and over(_size(current, size) + _size(mine, size)):
                groups.append(_group(current, st, campaign_of, size, groups))
                current = []
            for a in mine:
                if current and over(_size(current, size) + size[a]):
                    groups.append(_group(current, st, campaign_of, size, groups))
                    current = []
                current.append(a)
        groups.append(_group(current, st, campaign_of, size, groups))
    _unique_names(groups)
    return groups


def _size(assets: list[str], size: dict[str, int]) -> int:
    return sum(size[a] for a in assets)


def _group(assets: list[str], st: int, campaign_of: dict[str, str], size: dict[str, int],
           before: list[StepGroup]) -> StepGroup:
    """Named after its first campaign: `spring`, `spring_2` (its second chunk), `spring_s1` (its
    assets that wait for another campaign), `spring_and_3_more` (with 3 small campaigns)."""
    campaigns = tuple(dict.fromkeys(campaign_of[a] for a in assets))
    first = campaigns[0]
    chunk = sum(1 for g in before if g.campaigns[0] == first and g.stage == st)
    name = first + f"_s{st}" * (st > 0) + f"_{chunk + 1}" * (chunk > 0)
    name += f"_and_{len(campaigns) - 1}_more" * (len(campaigns) > 1)
    return StepGroup(name, campaigns, tuple(assets), _size(assets, size), st)


def one_group(variants: list[Variant], name: str) -> StepGroup:
    """Every asset in one step: the CLI's in-process build (one asyncio engine drives everything,
    so a render starts the moment its upstream variant lands)."""
    order, size, _, _ = _assets(variants)
    return StepGroup(name, tuple(dict.fromkeys(v.campaign for v in variants)), tuple(order), sum(size.values()))


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


def _unique_names(groups: list[StepGroup]) -> None:
    seen: dict[str, int] = {}
    for i, g in enumerate(groups):
        n = seen.get(g.name, 0)
        seen[g.name] = n + 1
        if n:  # two campaigns that differ only in characters Dagster does not allow
            groups[i] = StepGroup(f"{g.name}_x{n}", g.campaigns, g.assets, g.variants, g.stage)
