"""What Dagster shows of a catalog before anything is built: one AssetSpec per catalog asset,
partitioned by its variant ids, with its edges, and its check specs.

Why partitions: Dagster's UI and its definitions load grow with the number of assets (a snapshot
of ~2 kB per asset, a graph the browser lays out node by node) while a partitioned asset costs
little more than its list of keys. One asset per variant was past Dagster's own guidance at
10,000 variants; one asset per catalog asset keeps a campaign at a handful of nodes whatever its
matrix. Measured: bench/README.md ("Representation").

Edges are exact where Dagster can say so: an edit or rendition of an upstream asset depends on the
upstream variants it was paired with (`where:`, shared matrix keys), as a static partition mapping,
or the identity when both sides have the same variants one for one. Dagster 1.13 keeps one mapping
per upstream asset for a whole multi_asset, so when two catalog assets read the same upstream with
different pairings (a poster cut into a story and a square) both edges say "every variant of the
upstream" (AllPartitionMapping): the asset-level lineage is exact, the variant-level one an
over-approximation. The engine pairs variants itself and never relies on it. A reference file is
an unpartitioned source asset: every variant that reads it depends on it.

Per-variant facts (the prompt, the expected text, the vendor, the preview) are in each
materialization's metadata; the spec carries what the catalog asset has in common.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Collection

import dagster as dg

from pipelines.catalog.variant import Variant
from pipelines.orchestration.keys import asset_key, asset_key_of, partition_key
from pipelines.orchestration.refs import ref_key
from pipelines.plan.project import Project

PLAN_CHECK = "plan"
PLAN_CHECK_DESCRIPTION = (
    "`assetpipe plan` says this variant is fresh. A failure (a warning) names what changed in the catalog since "
    "the variant was built, as `plan` does; rebuilding the variant clears it. A variant never built shows as a "
    "missing partition instead."
)


def by_asset(variants: list[Variant]) -> dict[str, list[Variant]]:
    """Catalog asset id (`campaign/asset`) -> its variants, in catalog order."""
    out: dict[str, list[Variant]] = {}
    for v in variants:
        out.setdefault(v.asset_id, []).append(v)
    return out


def partitions_of(variants: list[Variant]) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition([partition_key(v) for v in variants])


def asset_spec(variants: list[Variant], parts: dg.StaticPartitionsDefinition, root: Path,
               mappings: dict[str, dg.PartitionMapping]) -> dg.AssetSpec:
    """The spec of one catalog asset; `mappings` holds the partition mapping of each upstream asset."""
    first = variants[0]
    common_tags = _common(v.tags for v in variants)
    desc = first.description or ""
    if first.prompt and len(variants) == 1:
        desc = f"{desc}\n\n**Prompt:** {first.prompt}".strip()
    elif first.prompt:
        desc = f"{desc}\n\n**Prompt** (variant `{first.vid}`; each variant's is on its materialization): " \
               f"{first.prompt}".strip()
    source = _relative(first.source, root)
    desc += f"\n\n{len(variants)} variant(s), one partition each. Defined at `{source}`."
    return dg.AssetSpec(
        key=asset_key(first), deps=_deps(variants, mappings), description=desc.strip(),
        group_name=first.campaign, partitions_def=parts, skippable=True, kinds=_kinds(first),
        owners=sorted({o for v in variants for o in v.owners if _owner_ok(o)}),
        tags={k: str(t) for k, t in common_tags.items() if _tag_ok(k, str(t))},
        metadata={"source": source, "operation": first.operation, "provider": first.provider or "local",
                  "model": first.model, "variants": len(variants),
                  "matrix": ", ".join(first.values) or "-"},
    )


def _pairings(variants: list[Variant]) -> dict[str, dict[str, list[str]]]:
    """Upstream asset -> upstream vid -> the vids of ours that read it."""
    pairs: dict[str, dict[str, list[str]]] = {}
    for v in variants:
        for i in v.inputs:
            if i.kind == "upstream":
                campaign, asset, up_vid = i.ref.split("/", 2)  # a variant key: campaign/asset/vid
                pairs.setdefault(f"{campaign}/{asset}", {}).setdefault(up_vid, []).append(v.vid)
    return pairs


def _deps(variants: list[Variant], mappings: dict[str, dg.PartitionMapping]) -> list[dg.AssetDep]:
    """One dep per upstream catalog asset, mapped variant to variant; one per reference file."""
    ups = list(_pairings(variants))
    refs = [i.ref for v in variants for i in v.inputs if i.kind == "file"]
    return ([dg.AssetDep(asset_key_of(up), partition_mapping=mappings[up]) for up in ups]
            + [dg.AssetDep(ref_key(r)) for r in dict.fromkeys(refs)])


def _mapping(down_by_up: dict[str, list[str]], upstream_vids: list[str]) -> dg.PartitionMapping:
    ours = [d for ds in down_by_up.values() for d in ds]
    if all(ds == [u] for u, ds in down_by_up.items()) and set(ours) == set(upstream_vids):
        return dg.IdentityPartitionMapping()  # the same variants one for one: no table to carry
    return dg.StaticPartitionMapping({u: ds[0] if len(ds) == 1 else ds for u, ds in down_by_up.items()})


def upstream_mappings(groups: dict[str, list[Variant]]) -> dict[str, dict[str, dg.PartitionMapping]]:
    """Asset -> upstream asset -> mapping; one mapping per upstream asset across the catalog."""
    vids = {aid: [partition_key(v) for v in vs] for aid, vs in groups.items()}
    wanted = {aid: {up: _mapping(m, vids[up]) for up, m in _pairings(vs).items()} for aid, vs in groups.items()}
    agreed: dict[str, bool] = {}
    first: dict[str, dg.PartitionMapping] = {}
    for ms in wanted.values():
        for up, m in ms.items():
            agreed[up] = agreed.get(up, True) and first.setdefault(up, m) == m
    return {aid: {up: m if agreed[up] else dg.AllPartitionMapping() for up, m in ms.items()}
            for aid, ms in wanted.items()}


def specs_by_asset(project: Project) -> dict[str, tuple[dg.AssetSpec, list[dg.AssetCheckSpec]]]:
    """Every catalog asset's spec and checks, by id `campaign/asset`, computed once for the whole
    catalog: mappings are agreed across the catalog, so a build split into several multi_assets (a
    step of catalog assets each) has the same edges, across steps too."""
    groups = by_asset(project.variants)
    mappings = upstream_mappings(groups)
    text_on = project.catalog.settings.check_text != "off"
    out = {}
    for aid, vs in groups.items():
        parts = partitions_of(vs)
        out[aid] = (asset_spec(vs, parts, project.catalog.root, mappings[aid]), check_specs(vs, parts, text_on))
    return out


def asset_specs(project: Project, assets: Collection[str] | None = None,
                computed: dict[str, tuple[dg.AssetSpec, list[dg.AssetCheckSpec]]] | None = None,
                ) -> tuple[list[dg.AssetSpec], list[dg.AssetCheckSpec]]:
    """The specs and checks of the catalog assets `assets` (ids `campaign/asset`; all by default):
    one multi_asset's worth. `computed`: `specs_by_asset` of the catalog, shared by every step."""
    computed = specs_by_asset(project) if computed is None else computed
    specs, checks = [], []
    for aid in computed if assets is None else [a for a in assets if a in computed]:
        spec, cs = computed[aid]
        specs.append(spec)
        checks += cs
    return specs, checks


def check_specs(variants: list[Variant], parts: dg.StaticPartitionsDefinition, text_on: bool) -> list[dg.AssetCheckSpec]:
    """image_ok and plan on every catalog asset, text_ok where a variant expects text: each
    evaluated per variant (partition)."""
    first = variants[0]
    key = asset_key(first)
    sizes = sorted({str(v.params.get("size")) for v in variants})
    formats = sorted({v.output_format.upper() for v in variants})
    with warnings.catch_warnings():  # partitioned check specs are a "preview" in 1.13; they are what we need
        warnings.simplefilter("ignore")
        out = [dg.AssetCheckSpec("image_ok", asset=key, partitions_def=parts,
                                 description=f"decodes as {'/'.join(formats)} at exactly its size ({', '.join(sizes[:6])})"),
               dg.AssetCheckSpec(PLAN_CHECK, asset=key, partitions_def=parts, description=PLAN_CHECK_DESCRIPTION)]
        if text_on and any(v.text for v in variants):
            # blocking: a poster with the wrong words must not be cropped into renditions, and a
            # crop that cuts the headline must not be published. Within a run the engine holds the
            # dependants back itself (they run in the same step).
            out.append(dg.AssetCheckSpec(
                "text_ok", asset=key, partitions_def=parts, blocking=True,
                description="OCR finds each variant's expected text in its locale, spelled exactly (case, spacing "
                            "and punctuation aside)"))
    return out


def _common(dicts) -> dict[str, str]:
    it = iter(dicts)
    common = dict(next(it, {}))
    for d in it:
        common = {k: v for k, v in common.items() if d.get(k) == v}
    return common


def _relative(source: str, root: Path) -> str:
    path, _, line = source.rpartition(":")
    try:
        return f"{Path(path).resolve().relative_to(root.resolve())}:{line}"
    except ValueError:
        return source


def _kinds(v: Variant) -> set[str]:
    # The graph shows kinds as badges (Dagster has an icon for "openai", the maker of gpt-image-2).
    if v.operation == "render":
        maker = "render"
    else:
        maker = "openai" if v.model.startswith("gpt-image") else v.model
    return {maker, v.output_format}


def _tag_ok(k: str, v: str) -> bool:
    ok = lambda s: 0 < len(s) <= 63 and all(c.isalnum() or c in "-_." for c in s)  # noqa: E731
    return ok(k) and ok(v)


def _owner_ok(o: str) -> bool:
    return o.startswith("team:") or "@" in o
