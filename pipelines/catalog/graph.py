"""The assets of a catalog as a graph: who reads whom (edits and renders name upstream assets),
in which order they expand, and the issue collector every expansion step reports to."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from pipelines.catalog.loader import CampaignFile, Catalog
from pipelines.catalog.spec import AssetSpec
from pipelines.errors import CatalogError, CatalogIssue

_VARIANT = re.compile(r"(asset '[^']*') variant '([^']*)'")
MAX_NAMED = 6


class Issues:
    """Problems found while expanding, each reported once: the same problem of several variants of
    an asset (a typo in a prompt of a localized matrix) is one line naming the variants."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, int, str], tuple[str, list[str | None]]] = {}

    def add(self, cf: CampaignFile, loc: tuple, message: str, token: str | None = None) -> None:
        """`token`: a name in a template; the line is then the one of the value that uses it."""
        line = cf.lines.find(loc, _uses(token)) if token else cf.lines.line(loc)
        m = _VARIANT.search(message)
        vid, shared = (m.group(2), message[:m.start()] + m.group(1) + message[m.end():]) if m else (None, message)
        first, vids = self.items.setdefault((cf.lines.path, line, shared), (message, []))
        vids.append(vid)

    def issues(self) -> list[CatalogIssue]:
        out = []
        for (path, line, shared), (first, vids) in self.items.items():
            named = list(dict.fromkeys(v for v in vids if v))
            if len(vids) == 1:
                out.append(CatalogIssue(path, line, first))
            elif named:
                more = f" and {len(named) - MAX_NAMED} more" if len(named) > MAX_NAMED else ""
                out.append(CatalogIssue(path, line, f"{shared} (in {len(named)} variants: "
                                                    f"{', '.join(named[:MAX_NAMED])}{more})"))
            else:
                out.append(CatalogIssue(path, line, f"{shared} (in {len(vids)} variants)"))
        return out

    def raise_if_any(self, extra: list[CatalogIssue] = ()) -> None:
        issues = self.issues() + list(extra)
        if issues:
            raise CatalogError(issues)


def _uses(name: str) -> re.Pattern[str]:
    """A Jinja expression or statement on one line that uses `name` (`{{ t.name }}`, `{% if name %}`)."""
    return re.compile(r"\{[{%][^}]*?(?<![\w])" + re.escape(name) + r"(?![\w])")


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
                # an asset with errors of its own is still a name the user may have meant
                known = [x.spec.name for x in assets.values() if x.cf is a.cf and x is not a] + sorted(a.cf.broken_assets)
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
