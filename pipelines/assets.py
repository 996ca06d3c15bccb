"""The Dagster side of a catalog: one asset per variant, all in one subsettable multi_asset.

Why one multi_asset: provider calls are I/O bound (40-100 s each) and vendors allow ~10 in flight
per key. Dagster's multiprocess executor costs ~1-6 s of process start per step and the in-process
executor runs steps one at a time; one async step driving every selected variant keeps the calls at
the vendor's limit while the UI still shows (and can select) every variant as its own asset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import dagster as dg

import pipelines.dagster_patches  # noqa: F401  (one multi_asset of thousands of outputs: keep it linear)
from pipelines.engine import Engine, Outcome
from pipelines.plan import Planned
from pipelines.project import Project
from pipelines.refs import ref_key, ref_sources
from pipelines.schedules import build_schedules
from pipelines.variants import Variant

BUILD_JOB = "assetpipe_build"
REFRESH_TAG = "assetpipe/refresh"


def variant_key(v: Variant) -> dg.AssetKey:
    """[campaign, asset] or [campaign, asset, "<asset>_<matrix values>"]: the graph labels a node
    with the last part of its key only, so that part names the whole variant
    ("launch_poster_de_1024x1536", not a bare "1024x1536" beside five others)."""
    if not v.values:
        return dg.AssetKey([v.campaign, v.asset])
    values = [str(x) for x in v.values.values()]
    sep = "__" if any("_" in x for x in values) else "_"  # keeps the name unambiguous
    return dg.AssetKey([v.campaign, v.asset, sep.join([v.asset, *values])])


def _spec(v: Variant, recipe: str, by_key: dict[str, Variant], root: Path) -> dg.AssetSpec:
    deps = [variant_key(by_key[k]) for k in v.upstream_keys]
    deps += [ref_key(i.ref) for i in v.inputs if i.kind == "file"]
    desc = v.description or ""
    if v.prompt:
        desc = f"{desc}\n\n**Prompt:** {v.prompt}".strip()
    if v.text:
        desc += "\n\n**Expected text:** " + " | ".join(f"`{t}`" for t in v.text)
    source = _relative(v.source, root)
    desc += f"\n\nDefined at `{source}`."
    tags = {k: str(t) for k, t in v.tags.items() if _tag_ok(k, str(t))}
    return dg.AssetSpec(
        key=variant_key(v), deps=list(dict.fromkeys(deps)), description=desc.strip(), group_name=v.campaign,
        code_version=recipe, owners=[o for o in v.owners if _owner_ok(o)], tags=tags, skippable=True,
        kinds=_kinds(v),
        metadata={"variant": v.vid, "source": source, "operation": v.operation, "provider": v.provider or "local",
                  "model": v.model, "size": v.params.get("size"), "output": v.relpath,
                  **({"expected_text": list(v.text)} if v.text else {})},
    )


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


def _check_specs(project: Project) -> list[dg.AssetCheckSpec]:
    out = []
    text_on = project.catalog.settings.check_text != "off"
    for v in project.variants:
        out.append(dg.AssetCheckSpec("image_ok", asset=variant_key(v),
                                     description=f"decodes as {v.output_format.upper()} at exactly {v.params.get('size')}"))
        if v.text and v.operation != "render" and text_on:
            # blocking: a poster with the wrong words must not be cropped into renditions. Within a
            # run the engine holds the dependants back itself (they run in the same step).
            out.append(dg.AssetCheckSpec(
                "text_ok", asset=variant_key(v), blocking=True,
                description="OCR finds the expected text (case and spacing tolerant, strict on spelling): "
                            + " | ".join(v.text)))
    return out


def build_definitions(project: Project, on_outcome: Callable[[Outcome], None] | None = None,
                      refresh: set[str] | None = None) -> dg.Definitions:
    """`on_outcome` and `refresh` are the CLI's hooks into an in-process run."""
    variants = project.variants
    by_key = {v.key: v for v in variants}
    recipes = project.planner().recipes(variants)
    specs = [_spec(v, recipes[v.key], by_key, project.catalog.root) for v in variants]
    check_specs = _check_specs(project)
    key_of = {tuple(variant_key(v).path): v.key for v in variants}

    @dg.multi_asset(name="assetpipe_variants", specs=specs, check_specs=check_specs, can_subset=True)
    def assetpipe_variants(context):  # (no annotation: Dagster inspects it, and annotations are strings here)
        selected = {key_of[tuple(k.path)] for k in context.selected_asset_keys}
        plan = project.plan()  # at run time: the store may have moved since definitions were loaded
        to_build = [p for p in plan.items if p.key in selected]
        force = set(refresh or ())
        if context.run.tags.get(REFRESH_TAG) == "true":
            force |= selected
        engine = Engine(project.catalog, project.store, project.planner(), project.pool, refresh=force,
                        log=context.log.info)
        failed: list[Outcome] = []
        for out in engine.stream(to_build, plan.by_key):
            if on_outcome is not None:
                on_outcome(out)
            if not out.ok:
                failed.append(out)
                context.log.error(f"{out.key}: {out.status}: {out.error}")
                continue
            yield from _results(out)
        if failed:
            raise dg.Failure(
                description=f"{len(failed)} of {len(to_build)} variants did not build",
                metadata={"failed": "\n".join(f"{o.key}: {o.error}" for o in failed)},
            )

    job = dg.define_asset_job(BUILD_JOB, selection=dg.AssetSelection.assets(assetpipe_variants),
                              description="Build catalog variants (cache hits never call a provider)")
    return dg.Definitions(assets=[assetpipe_variants, *ref_sources(project)], jobs=[job],
                          schedules=build_schedules(project, job))


def _results(out: Outcome):
    p: Planned = out.planned
    v, rec = p.variant, out.record
    key = variant_key(v)
    cost = float(rec.get("cost_usd") or 0.0)
    meta: dict[str, Any] = _previews(out.output_path)  # first: the asset page lists them on top
    meta.update({
        "prompt": dg.MetadataValue.text(v.prompt or ""),
        # who made these bytes: a cache hit may come from another vendor than the catalog names now
        "vendor": rec.get("provider") or "", "model": rec.get("model") or v.model,
        "size": v.params.get("size"), "quality": v.params.get("quality") or "",
        "cost_usd": dg.MetadataValue.float(cost if out.status == "built" else 0.0),  # spent by this run
        "original_cost_usd": dg.MetadataValue.float(cost),
        "latency_s": dg.MetadataValue.float(float(rec.get("latency_s") or 0.0)),
        "cached": out.status == "cached",
        "request_id": rec.get("request_id") or "",
        "path": dg.MetadataValue.path(str(out.output_path)),
        "cache_key": p.cache_key,
        "sha256": rec["blob"],
    })
    yield dg.MaterializeResult(asset_key=key, data_version=dg.DataVersion(rec["blob"]), metadata=meta)
    for c in out.checks:
        metadata = {k: _meta_val(val) for k, val in c.metadata.items()}
        if c.skipped:
            metadata["skipped"] = True
        yield dg.AssetCheckResult(
            asset_key=key, check_name=c.name, passed=c.passed,
            severity=dg.AssetCheckSeverity.ERROR if c.severity == "ERROR" else dg.AssetCheckSeverity.WARN,
            description=f"skipped: {c.description}" if c.skipped else c.description, metadata=metadata,
        )


# The UI shows a markdown value inline only under 1,000 characters (longer ones behind a
# "[Show Markdown]" button): the inline thumbnail is a WebP small enough for that.
INLINE_MD_LIMIT = 1000


def _previews(path: Path) -> dict[str, dg.MetadataValue]:
    try:
        from pipelines.preview import thumbnail_data_uri

        return {"preview": dg.MetadataValue.md(inline_thumbnail_md(path)),
                "preview_256px": dg.MetadataValue.md(f"![preview]({thumbnail_data_uri(path, max_px=256)})")}
    except Exception as exc:  # a preview is a nicety: never fail a build over it
        return {"preview": dg.MetadataValue.text(f"no preview: {exc}")}


def inline_thumbnail_md(path: Path) -> str:
    import base64
    import io

    from PIL import Image

    from pipelines.render import flatten, load_image

    img = flatten(load_image(path))
    for max_px in (96, 80, 64, 48, 32):
        thumb = img.copy()
        thumb.thumbnail((max_px, max_px), Image.LANCZOS)
        for quality in (60, 40, 25):
            buf = io.BytesIO()
            thumb.save(buf, "WEBP", quality=quality, method=6)
            md = f"![preview](data:image/webp;base64,{base64.b64encode(buf.getvalue()).decode('ascii')})"
            if len(md) < INLINE_MD_LIMIT:
                return md
    return "![preview]()"  # unreachable for real images: 32 px at quality 25 is ~300 bytes


def _meta_val(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)):
        return v
    return dg.MetadataValue.json(v) if isinstance(v, (list, dict)) else str(v)
