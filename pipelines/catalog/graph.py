"""The assets of a catalog as a graph: who reads whom (edits and renders name upstream assets),
in which order they expand, and the issue collector every expansion step reports to."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from pipelines.catalog.loader import CampaignFile, Catalog
from pipelines.catalog.spec import AssetSpec
from pipelines.errors import CatalogError, CatalogIssue


class Issues:
    """Problems found while expanding, each reported once with how many variants it affects."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, int, str], int] = {}

    def add(self, cf: CampaignFile, loc: tuple, message: str) -> None:
        issue = cf.lines.issue(loc, message)
        k = (issue.path, issue.line, issue.message)
        self.items[k] = self.items.get(k, 0) + 1

    def raise_if_any(self, extra: list[CatalogIssue] = ()) -> None:
        issues = [CatalogIssue(p, ln, m if n == 1 else f"{m} (in {n} variants)") for (p, ln, m), n in self.items.items()]
        issues.extend(extra)
        if issues:
            raise CatalogError(issues)


@dataclass
class AssetNode:
    cf: CampaignFile
    idx: int
    spec: AssetSpec

    @property
    def id(self) -> str:
        return f"{self.cf.spec.campaign}/{self.spec.name}"

    def loc(self, *rest: Any) -> tuple:
        return ("assets", self.idx, *rest)


def collect_assets(catalog: Catalog, issues: Issues) -> dict[str, AssetNode]:
    """Every asset of every campaign by "campaign/asset" (a duplicate name is an issue)."""
    assets: dict[str, AssetNode] = {}
    for cf in catalog.campaigns:
        for i, spec in enumerate(cf.spec.assets):
            a = AssetNode(cf, cf.asset_pos(i), spec)
            if a.id in assets:
                first = cf.lines.line(assets[a.id].loc("name"))
                issues.add(cf, a.loc("name"), f"duplicate asset name {spec.name!r} in campaign {cf.spec.campaign!r} "
                                              f"(first on line {first}): rename one")
                continue
            assets[a.id] = a
    return assets


def dependency_order(catalog: Catalog, assets: dict[str, AssetNode], issues: Issues) -> list[str]:
    """Asset ids, every upstream before its dependants; unknown upstreams and cycles are issues."""
    deps: dict[str, list[str]] = {}
    for a in assets.values():
        deps[a.id] = []
        for ref, loc in upstream_refs(a):
            target = resolve_asset(ref, a, assets)
            if target is not None:
                deps[a.id].append(target)
            elif looks_like_asset(ref) and not maybe_broken(ref, a, catalog):
                known = [x.spec.name for x in assets.values() if x.cf is a.cf and x is not a]
                issues.add(a.cf, loc, f"asset {a.spec.name!r}: unknown upstream asset {ref!r}{did_you_mean(ref, known)}; "
                                      "name an asset of this campaign (or campaign:asset), or a file such as refs/photo.png")
    return toposort(deps, assets, issues)


def upstream_refs(a: AssetNode) -> list[tuple[str, tuple]]:
    s = a.spec
    if s.render is not None:
        return [(s.render.from_, a.loc("render", "from"))]
    if s.edit is not None:
        refs = [(img, a.loc("edit", "image") if isinstance(s.edit.image, str) else a.loc("edit", "image", i))
                for i, img in enumerate(s.edit.images)]
        if s.edit.mask:
            refs.append((s.edit.mask, a.loc("edit", "mask")))
        return refs
    return []


def did_you_mean(name: str, choices: list[str], cutoff: float = 0.6) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def maybe_broken(ref: str, a: AssetNode, catalog: Catalog) -> bool:
    """Whether `ref` may name an asset that failed validation (already reported): no second error."""
    if ":" in ref:
        return bool(catalog.issues)
    return ref in a.cf.broken_assets


def looks_like_asset(ref: str) -> bool:
    return "/" not in ref and "." not in ref.rsplit(":", 1)[-1]


def resolve_asset(ref: str, a: AssetNode, assets: dict[str, AssetNode]) -> str | None:
    if ":" in ref and "://" not in ref:
        camp, name = ref.split(":", 1)
        return f"{camp}/{name}" if f"{camp}/{name}" in assets else None
    local = f"{a.cf.spec.campaign}/{ref}"
    return local if local in assets else None


def toposort(deps: dict[str, list[str]], assets: dict[str, AssetNode], issues: Issues) -> list[str]:
    """Depth-first, without recursion: a chain of thousands of edits must not overflow the stack."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    for root in deps:
        if state.get(root):
            continue
        path: list[str] = [root]
        todo: list[list[str]] = [list(reversed(deps[root]))]
        state[root] = 1
        while path:
            if not todo[-1]:
                state[path[-1]] = 2
                order.append(path.pop())
                todo.pop()
                continue
            d = todo[-1].pop()
            if state.get(d) == 2:
                continue
            if state.get(d) == 1:
                cycle = path[path.index(d):] + [d]
                a = assets[d]
                issues.add(a.cf, a.loc("name"), "dependency cycle: " + " -> ".join(cycle))
                continue
            state[d] = 1
            path.append(d)
            todo.append(list(reversed(deps[d])))
    return order
