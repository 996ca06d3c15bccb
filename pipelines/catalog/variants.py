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
    tpl = Templates(catalog.root / "partials", root=catalog.root, limits=catalog.settings.limits)
    assets = collect_assets(catalog, issues)
    order = dependency_order(catalog, assets, issues)
    combos = _count_variants(catalog, assets, order, tpl, issues)
    by_asset: dict[str, list[Variant]] = {}
    out: list[Variant] = []
    for aid in order:
        try:
            vs = _expand_asset(catalog, assets[aid], assets, by_asset, tpl, issues, combos[aid])
        except Skip:
            vs = []
        by_asset[aid] = vs
        out.extend(vs)
    issues.raise_if_any(catalog.issues)
    return out


def _base_ctx(a: AssetNode) -> dict[str, Any]:
    camp = a.cf.spec
    ctx: dict[str, Any] = {"campaign": camp.campaign, "asset": a.spec.name, "locales": list(camp.locales)}
    ctx.update({k: v for k, v in camp.vars.items() if not (isinstance(v, str) and "{" in v)})
    return ctx


def _count_variants(catalog: Catalog, assets: dict[str, AssetNode], order: list[str], tpl: Templates,
                    issues: Issues) -> dict[str, list[dict[str, str]] | None | Skip]:
    """Each asset's matrix combinations, counted before any variant is expanded: a catalog over
    `limits: variants` is refused at once, not after minutes of templating."""
    limit = catalog.settings.limits.variants
    combos: dict[str, list[dict[str, str]] | None | Skip] = {}
    counts: dict[str, int] = {}
    total = 0
    for aid in order:
        a = assets[aid]
        try:
            combos[aid] = matrix_combos(a, _base_ctx(a), tpl, issues, catalog.settings.limits)
        except Skip as skip:
            combos[aid], counts[aid] = skip, 0
            continue
        if combos[aid] is not None:
            counts[aid] = len(combos[aid])
        else:  # no matrix: one variant, or one per variant of the upstream it edits or renders
            ups = [resolve_asset(ref, a, assets) for ref, _ in upstream_refs(a)[:1]]
            counts[aid] = counts.get(ups[0], 1) if ups and ups[0] else 1
        total += counts[aid]
        if total > limit:
            issues.add(a.cf, a.loc("matrix") if a.spec.matrix else a.loc("name"),
                       f"the catalog has more than {limit:,} variants (asset {a.spec.name!r} brings it to {total:,}); "
                       "split it into several catalogs, or raise limits: variants in catalog.yaml")
            issues.raise_if_any(catalog.issues)
    return combos


def _expand_asset(catalog: Catalog, a: AssetNode, assets: dict[str, AssetNode], by_asset: dict[str, list[Variant]],
                  tpl: Templates, issues: Issues, combos: list[dict[str, str]] | None | Skip) -> list[Variant]:
    cf, spec = a.cf, a.spec
    if isinstance(combos, Skip):
        raise combos
    base_ctx = _base_ctx(a)

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
