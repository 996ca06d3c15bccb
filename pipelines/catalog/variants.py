"""Expanding a catalog into variants: matrices, upstream pairing, templating.

A variant is one image to produce: one Dagster asset, one cache key. `expand(catalog)` returns them
in dependency order (every upstream before its dependants) or raises CatalogError with every
problem. The steps: the asset graph (graph.py), each asset's matrix (matrix.py), each variant's
fields (expander.py).
"""

from __future__ import annotations

from typing import Any

from pipelines.catalog.expander import VariantExpander
from pipelines.catalog.graph import AssetNode, Issues, collect_assets, dependency_order, resolve_asset, upstream_refs
from pipelines.catalog.loader import Catalog
from pipelines.catalog.matrix import Skip, matrix_combos, variant_id
from pipelines.catalog.templating import Templates
from pipelines.catalog.variant import Variant


def expand(catalog: Catalog) -> list[Variant]:
    issues = Issues()
    tpl = Templates(catalog.root / "partials")
    assets = collect_assets(catalog, issues)
    order = dependency_order(catalog, assets, issues)
    by_asset: dict[str, list[Variant]] = {}
    out: list[Variant] = []
    for aid in order:
        try:
            vs = _expand_asset(catalog, assets[aid], assets, by_asset, tpl, issues)
        except Skip:
            vs = []
        by_asset[aid] = vs
        out.extend(vs)
    issues.raise_if_any(catalog.issues)
    return out


def _expand_asset(catalog: Catalog, a: AssetNode, assets: dict[str, AssetNode], by_asset: dict[str, list[Variant]],
                  tpl: Templates, issues: Issues) -> list[Variant]:
    cf, spec, camp = a.cf, a.spec, a.cf.spec
    base_ctx: dict[str, Any] = {"campaign": camp.campaign, "asset": spec.name, "locales": list(camp.locales)}
    base_ctx.update({k: v for k, v in camp.vars.items() if not (isinstance(v, str) and "{" in v)})
    combos = matrix_combos(a, base_ctx, tpl, issues)

    upstream_ids: list[str] = []
    for ref, loc in upstream_refs(a):
        t = resolve_asset(ref, a, assets)
        if t is not None:
            upstream_ids.append(t)
    primary = upstream_ids[0] if upstream_ids and (spec.edit or spec.render) else None
    where = (spec.render.where if spec.render else spec.edit.where if spec.edit else {}) or {}
    where = {k: str(v) for k, v in where.items()}

    if combos is None:
        if primary is not None and resolve_asset((spec.render.from_ if spec.render else spec.edit.images[0]), a, assets):
            # an edit/render with no matrix of its own takes its upstream's variants one for one
            ups = by_asset.get(primary, [])
            combos = [dict(u.values) for u in ups if all(u.values.get(k) == v for k, v in where.items())]
            if ups and not combos:
                issues.add(cf, a.loc("render" if spec.render else "edit", "where"),
                           f"asset {spec.name!r}: no variant of {primary} matches where {where}")
                raise Skip
            if not ups:
                raise Skip  # the upstream failed to expand; its own error is reported
        else:
            combos = [{}]

    expander = VariantExpander(catalog, a, assets, by_asset, upstream_ids, where, tpl, issues, base_ctx)
    variants = []
    seen_vids: set[str] = set()
    for values in combos:
        vid = variant_id(values)
        if vid in seen_vids:
            issues.add(cf, a.loc("matrix"), f"asset {spec.name!r}: variant {vid!r} appears twice")
            continue
        seen_vids.add(vid)
        v = expander.expand(values, vid)
        if v is not None:
            variants.append(v)
    return variants
