"""What Dagster shows of each variant before it is built: its AssetSpec (key, deps, group, code
version = recipe, kinds, owners, tags, description with the prompt and the defining YAML line)
and its check specs."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines.catalog.variant import Variant
from pipelines.orchestration.keys import variant_key
from pipelines.orchestration.refs import ref_key
from pipelines.plan.project import Project


def variant_spec(v: Variant, recipe: str, by_key: dict[str, Variant], root: Path) -> dg.AssetSpec:
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


def check_specs(project: Project) -> list[dg.AssetCheckSpec]:
    out = []
    text_on = project.catalog.settings.check_text != "off"
    for v in project.variants:
        out.append(dg.AssetCheckSpec("image_ok", asset=variant_key(v),
                                     description=f"decodes as {v.output_format.upper()} at exactly {v.params.get('size')}"))
        if v.text and text_on:
            # blocking: a poster with the wrong words must not be cropped into renditions, and a
            # crop that cuts the headline must not be published. Within a run the engine holds the
            # dependants back itself (they run in the same step).
            out.append(dg.AssetCheckSpec(
                "text_ok", asset=variant_key(v), blocking=True,
                description=f"OCR ({v.locale or 'en'}) finds the expected text, spelled exactly (case, spacing and "
                            "punctuation aside): " + " | ".join(v.text)))
    return out
