"""Expanding a catalog into variants: matrices, upstream pairing, templating.

A variant is one image to produce: one Dagster asset, one cache key. `expand(catalog)` returns them
in dependency order (every upstream before its dependants) or raises CatalogError with every problem.
"""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipelines.catalog import Catalog, CampaignFile
from pipelines.errors import CatalogError, CatalogIssue
from pipelines.spec import VALUE_RE, AssetSpec, Params
from pipelines.templating import LocaleStrings, TemplateProblem, Templates, quoted_strings
from providers.sizes import MAX_EDGE, MAX_PIXELS, parse_size

DEFAULT_SIZE = "1024x1024"
DEFAULT_FORMAT = "png"
EXT = {"png": "png", "jpeg": "jpg", "webp": "webp"}


@dataclass(frozen=True)
class Input:
    role: str  # image | mask
    kind: str  # file | upstream
    ref: str  # catalog-relative path, or the upstream variant's key
    path: Path | None = None  # for files


@dataclass
class Variant:
    campaign: str
    asset: str
    vid: str  # "de/1024x1536", or "default" for an asset without a matrix
    values: dict[str, str]
    operation: str  # generate | edit | render
    provider: str | None  # provider name from catalog.yaml (None for renders)
    model: str
    prompt: str | None
    params: dict[str, Any]
    text: tuple[str, ...]
    revision: int
    inputs: tuple[Input, ...]
    source: str  # "path:line" of the asset in its campaign file
    description: str | None = None
    owners: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    upstream_assets: tuple[str, ...] = ()  # "campaign/asset" of upstream assets

    @property
    def key(self) -> str:
        return f"{self.campaign}/{self.asset}/{self.vid}"

    @property
    def asset_id(self) -> str:
        return f"{self.campaign}/{self.asset}"

    @property
    def key_path(self) -> list[str]:
        return [self.campaign, self.asset, *self.values.values()] if self.values else [self.campaign, self.asset]

    @property
    def width(self) -> int:
        return parse_size(self.params["size"])[0]

    @property
    def height(self) -> int:
        return parse_size(self.params["size"])[1]

    @property
    def output_format(self) -> str:
        return self.params.get("output_format") or DEFAULT_FORMAT

    @property
    def relpath(self) -> str:
        return f"{self.campaign}/{self.asset}/{self.vid}.{EXT[self.output_format]}"

    @property
    def upstream_keys(self) -> list[str]:
        return [i.ref for i in self.inputs if i.kind == "upstream"]


class _Issues:
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
class _Asset:
    cf: CampaignFile
    idx: int
    spec: AssetSpec

    @property
    def id(self) -> str:
        return f"{self.cf.spec.campaign}/{self.spec.name}"

    def loc(self, *rest: Any) -> tuple:
        return ("assets", self.idx, *rest)


def expand(catalog: Catalog) -> list[Variant]:
    issues = _Issues()
    tpl = Templates(catalog.root / "partials")
    assets: dict[str, _Asset] = {}
    for cf in catalog.campaigns:
        for i, spec in enumerate(cf.spec.assets):
            a = _Asset(cf, cf.asset_pos(i), spec)
            if a.id in assets:
                first = cf.lines.line(assets[a.id].loc("name"))
                issues.add(cf, a.loc("name"), f"duplicate asset name {spec.name!r} in campaign {cf.spec.campaign!r} "
                                              f"(first on line {first}): rename one")
                continue
            assets[a.id] = a

    # upstream references and a dependency order
    deps: dict[str, list[str]] = {}
    for a in assets.values():
        deps[a.id] = []
        for ref, loc in _upstream_refs(a):
            target = _resolve_asset(ref, a, assets)
            if target is not None:
                deps[a.id].append(target)
            elif _looks_like_asset(ref) and not _maybe_broken(ref, a, catalog):
                known = [x.spec.name for x in assets.values() if x.cf is a.cf and x is not a]
                issues.add(a.cf, loc, f"asset {a.spec.name!r}: unknown upstream asset {ref!r}{_did_you_mean(ref, known)}; "
                                      "name an asset of this campaign (or campaign:asset), or a file such as refs/photo.png")
    order = _toposort(deps, assets, issues)

    by_asset: dict[str, list[Variant]] = {}
    out: list[Variant] = []
    for aid in order:
        a = assets[aid]
        try:
            vs = _expand_asset(catalog, a, assets, by_asset, tpl, issues)
        except _Skip:
            vs = []
        by_asset[aid] = vs
        out.extend(vs)
    issues.raise_if_any(catalog.issues)
    return out


class _Skip(Exception):
    pass


def _upstream_refs(a: _Asset) -> list[tuple[str, tuple]]:
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


def _did_you_mean(name: str, choices: list[str], cutoff: float = 0.6) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _maybe_broken(ref: str, a: _Asset, catalog: Catalog) -> bool:
    """Whether `ref` may name an asset that failed validation (already reported): no second error."""
    if ":" in ref:
        return bool(catalog.issues)
    return ref in a.cf.broken_assets


def _looks_like_asset(ref: str) -> bool:
    return "/" not in ref and "." not in ref.rsplit(":", 1)[-1]


def _resolve_asset(ref: str, a: _Asset, assets: dict[str, _Asset]) -> str | None:
    if ":" in ref and "://" not in ref:
        camp, name = ref.split(":", 1)
        return f"{camp}/{name}" if f"{camp}/{name}" in assets else None
    local = f"{a.cf.spec.campaign}/{ref}"
    return local if local in assets else None


def _toposort(deps: dict[str, list[str]], assets: dict[str, _Asset], issues: _Issues) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(n: str, stack: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cycle = stack[stack.index(n):] + [n]
            a = assets[n]
            issues.add(a.cf, a.loc("name"), "dependency cycle: " + " -> ".join(cycle))
            return
        state[n] = 1
        for d in deps[n]:
            visit(d, stack + [n])
        state[n] = 2
        order.append(n)

    for n in deps:
        visit(n, [])
    return order


def _matrix_combos(a: _Asset, ctx: dict[str, Any], tpl: Templates, issues: _Issues) -> list[dict[str, str]] | None:
    m = a.spec.matrix
    if not m:
        return None
    axes: dict[str, list[str]] = {}
    for k, raw in m.items():
        if k in ("include", "exclude"):
            continue
        try:
            val = tpl.evaluate(raw, ctx)
        except TemplateProblem as exc:
            issues.add(a.cf, a.loc("matrix", k), f"asset {a.spec.name!r}: matrix {k}: {exc}")
            raise _Skip
        vals = val if isinstance(val, (list, tuple)) else [val]
        if not vals:
            issues.add(a.cf, a.loc("matrix", k), f"asset {a.spec.name!r}: matrix {k} is empty")
            raise _Skip
        clean = []
        for v in vals:
            sv = str(v)
            if not VALUE_RE.match(sv):
                issues.add(a.cf, a.loc("matrix", k), f"asset {a.spec.name!r}: matrix value {sv!r} must be letters, digits, '.', '_' or '-'")
                raise _Skip
            clean.append(sv)
        axes[k] = clean
    keys = list(axes)
    combos = [dict(zip(keys, c)) for c in itertools.product(*axes.values())] if keys else []
    for j, ex in enumerate(_as_list(m.get("exclude"))):
        if not isinstance(ex, dict):
            issues.add(a.cf, a.loc("matrix", "exclude", j), "each exclude entry is a mapping of matrix keys to values")
            continue
        unknown = set(ex) - set(keys)
        if unknown:
            issues.add(a.cf, a.loc("matrix", "exclude", j), f"exclude names keys not in the matrix: {', '.join(sorted(unknown))}")
            continue
        combos = [c for c in combos if not all(c[k] == str(v) for k, v in ex.items())]
    for j, inc in enumerate(_as_list(m.get("include"))):
        if not isinstance(inc, dict):
            issues.add(a.cf, a.loc("matrix", "include", j), "each include entry is a mapping of matrix keys to values")
            continue
        inc = {k: str(v) for k, v in inc.items()}
        shared = [k for k in inc if k in keys]
        extra = {k: v for k, v in inc.items() if k not in keys}
        matched = [c for c in combos if all(c[k] == inc[k] for k in shared)] if extra and shared else []
        if matched:  # GitHub Actions semantics: extra keys extend the matching combinations
            for c in matched:
                c.update(extra)
        elif not any(c == inc for c in combos):
            combos.append(dict(inc))
    return combos


def _as_list(v: Any) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _vid(values: dict[str, str]) -> str:
    return "/".join(values.values()) if values else "default"


def _expand_asset(catalog: Catalog, a: _Asset, assets: dict[str, _Asset], by_asset: dict[str, list[Variant]],
                  tpl: Templates, issues: _Issues) -> list[Variant]:
    cf, spec, camp = a.cf, a.spec, a.cf.spec
    settings = catalog.settings
    base_ctx: dict[str, Any] = {"campaign": camp.campaign, "asset": spec.name, "locales": list(camp.locales)}
    base_ctx.update({k: v for k, v in camp.vars.items() if not (isinstance(v, str) and "{" in v)})
    combos = _matrix_combos(a, base_ctx, tpl, issues)

    upstream_ids: list[str] = []
    for ref, loc in _upstream_refs(a):
        t = _resolve_asset(ref, a, assets)
        if t is not None:
            upstream_ids.append(t)
    primary = upstream_ids[0] if upstream_ids and (spec.edit or spec.render) else None
    where = (spec.render.where if spec.render else spec.edit.where if spec.edit else {}) or {}
    where = {k: str(v) for k, v in where.items()}

    if combos is None:
        if primary is not None and _resolve_asset((spec.render.from_ if spec.render else spec.edit.images[0]), a, assets):
            # an edit/render with no matrix of its own takes its upstream's variants one for one
            ups = by_asset.get(primary, [])
            combos = [dict(u.values) for u in ups if all(u.values.get(k) == v for k, v in where.items())]
            if ups and not combos:
                issues.add(cf, a.loc("render" if spec.render else "edit", "where"),
                           f"asset {spec.name!r}: no variant of {primary} matches where {where}")
                raise _Skip
            if not ups:
                raise _Skip  # the upstream failed to expand; its own error is reported
        else:
            combos = [{}]

    variants = []
    seen_vids: set[str] = set()
    default_locale = settings.locales.default
    for values in combos:
        vid = _vid(values)
        if vid in seen_vids:
            issues.add(cf, a.loc("matrix"), f"asset {spec.name!r}: variant {vid!r} appears twice")
            continue
        seen_vids.add(vid)
        v = _one_variant(catalog, a, values, vid, base_ctx, by_asset, assets, upstream_ids, where, tpl, issues,
                         default_locale)
        if v is not None:
            variants.append(v)
    return variants


def _locale_strings(catalog: Catalog, code: str, a: _Asset, issues: _Issues, loc: tuple) -> Any:
    lf = catalog.locales.get(code)
    if lf is None:
        issues.add(a.cf, loc, f"asset {a.spec.name!r}: no strings for locale {code!r}: add locales/{code}.yaml")
        return None
    fallback = None
    if catalog.settings.locales.fallback and code != catalog.settings.locales.default:
        d = catalog.locales.get(catalog.settings.locales.default)
        fallback = d.strings if d else None
    return LocaleStrings(code, lf.strings, lf.lines.path, fallback)


def _one_variant(catalog, a: _Asset, values, vid, base_ctx, by_asset, assets, upstream_ids, where, tpl,
                 issues: _Issues, default_locale) -> Variant | None:
    cf, spec, camp = a.cf, a.spec, a.cf.spec
    settings = catalog.settings
    label = f"asset {spec.name!r}" + (f" variant {vid!r}" if values else "")
    ctx = dict(base_ctx)
    ctx.update(values)
    ctx["variant"] = vid
    locale = values.get("locale")
    if locale is None and camp.locales:
        locale = default_locale if default_locale in catalog.locales else None
    if locale is not None:
        t = _locale_strings(catalog, locale, a, issues, a.loc("matrix", "locale") if "locale" in values else a.loc("name"))
        if t is None:
            return None
        ctx["t"] = t
        ctx["locale"] = locale
    # campaign vars that are templates render per variant, in the order written
    for k, raw in camp.vars.items():
        if isinstance(raw, str) and "{" in raw:
            try:
                ctx[k] = tpl.render(raw, ctx)
            except TemplateProblem as exc:
                issues.add(cf, ("vars", k), f"var {k!r} (for {label}): {exc}")
                return None

    # params: catalog defaults < campaign defaults < asset < matrix values
    params: dict[str, Any] = {}
    for layer in (settings.defaults, camp.defaults):
        params.update(layer.model_dump(exclude_none=True))
    params.update({k: getattr(spec, k) for k in ("size", "quality", "background", "output_format", "compression",
                                                "fidelity") if getattr(spec, k) is not None})
    provider = spec.provider or camp.provider or settings.default_provider
    revision = spec.revision
    if "provider" in values:
        provider = values["provider"]
    if "revision" in values:
        if not values["revision"].isdigit():
            issues.add(cf, a.loc("matrix", "revision"), f"{label}: matrix revision must be a whole number "
                                                         f"(got {values['revision']!r})")
            return None
        revision = int(values["revision"])
    # matrix values that set a field obey the field's own rules (quality: low|medium|high|auto ...)
    field_values = {k: v for k, v in values.items() if k in Params.model_fields and k != "size"}
    if field_values:
        try:
            params.update(Params.model_validate(field_values).model_dump(exclude_none=True))
        except ValidationError as exc:
            for err in exc.errors():
                k = err["loc"][0]
                msg = err["msg"].replace("Input should be ", "must be ")
                issues.add(cf, a.loc("matrix", k), f"{label}: matrix {k}: {msg} (got {values[k]!r})")
            return None
    if "size" in values:
        try:
            w, h = parse_size(values["size"])
            params["size"] = f"{w}x{h}"
        except ValueError as exc:
            issues.add(cf, a.loc("matrix", "size"), f"{label}: {exc}")
            return None

    # upstream pairing
    inputs: list[Input] = []
    upstream_variants: dict[str, Variant] = {}
    for uid in dict.fromkeys(upstream_ids):
        ups = by_asset.get(uid, [])
        shared = [k for k in values if any(k in u.values for u in ups)]
        matches = [u for u in ups if all(u.values.get(k) == values[k] for k in shared)
                   and all(u.values.get(k) == v for k, v in where.items())]
        if len(matches) != 1:
            keys = {**{k: values[k] for k in shared}, **where}
            wanted = ", ".join(f"{k}={v}" for k, v in keys.items()) or "(no shared matrix keys)"
            if matches:
                what = f"{len(matches)} variants of upstream {uid} match {wanted} ({', '.join(m.vid for m in matches[:4])})"
                fix = "exactly one must: add the keys that tell them apart to this matrix or to where:"
            else:
                what = f"no variant of upstream {uid} matches {wanted}"
                fix = f"it has {', '.join(u.vid for u in ups[:6])}{' ...' if len(ups) > 6 else ''}; fix where: or this matrix"
            loc = a.loc("render" if spec.render else "edit")
            issues.add(cf, loc, f"{label}: {what}; {fix}")
            return None
        upstream_variants[uid] = matches[0]

    def ref_input(ref: str, role: str, loc: tuple) -> Input | None:
        uid = _resolve_asset(ref, a, assets)
        if uid is not None:
            return Input(role, "upstream", upstream_variants[uid].key)
        if _looks_like_asset(ref):
            return None  # an unknown asset name: reported once, by expand()
        if "://" in ref or ref.startswith("data:"):
            issues.add(cf, loc, f"{label}: {role} {ref!r}: URLs are not accepted as inputs; put the file under refs/")
            return None
        p = (catalog.root / ref).resolve()
        if not str(p).startswith(str(catalog.root.resolve())):
            issues.add(cf, loc, f"{label}: {role} {ref!r} lies outside the catalog directory")
            return None
        if not p.is_file():
            near = [f"{Path(ref).parent.as_posix()}/{x.name}".removeprefix("./") for x in p.parent.glob("*")
                    if x.is_file()] if p.parent.is_dir() else []
            issues.add(cf, loc, f"{label}: missing reference file {ref!r} (looked for {catalog.rel(p)})"
                                f"{_did_you_mean(ref, near, 0.8)}")
            return None
        return Input(role, "file", ref, p)

    model = "gpt-image-2"
    if spec.render is not None:
        r = spec.render
        inp = ref_input(r.from_, "image", a.loc("render", "from"))
        if inp is None:
            return None
        inputs.append(inp)
        up = upstream_variants.get(_resolve_asset(r.from_, a, assets) or "")
        params = {"size": r.size, "fit": r.fit,
                  "output_format": r.format or (up.output_format if up else DEFAULT_FORMAT)}
        if r.quality is not None:
            params["compression"] = r.quality
        prompt, text, provider, model = None, (), None, "render"
    else:
        broken = False  # keep going after a problem: report every problem of this variant at once
        if provider not in settings.providers:
            loc = a.loc("provider") if spec.provider else a.loc("matrix", "provider") if "provider" in values else ("provider",)
            issues.add(cf, loc, f"{label}: unknown provider {provider!r}; catalog.yaml defines {', '.join(settings.providers)}")
            broken, model = True, "?"
        else:
            pconf = settings.providers[provider]
            model = "draft" if pconf.type == "draft" else pconf.model
        params.setdefault("size", DEFAULT_SIZE)
        w, h = parse_size(params["size"])
        if max(w, h) > MAX_EDGE or w * h > MAX_PIXELS:
            issues.add(cf, a.loc("size") if spec.size else a.loc("matrix", "size") if "size" in values else a.loc("name"),
                       f"{label}: size {w}x{h} is larger than gpt-image-2 can produce (longest edge {MAX_EDGE}, "
                       f"{MAX_PIXELS:,} pixels); generate smaller and add a render to upscale")
            broken = True
        if spec.edit is not None:
            refs = [(img, "image", a.loc("edit", "image") if isinstance(spec.edit.image, str) else a.loc("edit", "image", i))
                    for i, img in enumerate(spec.edit.images)]
            if spec.edit.mask:
                refs.append((spec.edit.mask, "mask", a.loc("edit", "mask")))
            for ref, role, loc in refs:
                inp = ref_input(ref, role, loc)
                if inp is None:
                    broken = True
                else:
                    inputs.append(inp)
        try:
            prompt = tpl.render(spec.prompt or "", ctx).strip()
        except TemplateProblem as exc:
            issues.add(cf, a.loc("prompt"), f"{label}: in prompt: {exc}")
            prompt, broken = "", True
        if len(prompt) > 32_000:
            issues.add(cf, a.loc("prompt"), f"{label}: the rendered prompt has {len(prompt)} characters (max 32,000)")
            broken = True
        if spec.text is not None:
            texts = []
            for i, raw in enumerate(spec.text):
                try:
                    texts.append(tpl.render(raw, ctx).strip())
                except TemplateProblem as exc:
                    issues.add(cf, a.loc("text", i), f"{label}: in text: {exc}")
                    broken = True
            text = tuple(t for t in texts if t)
        else:
            text = tuple(quoted_strings(prompt))
        if broken:
            return None

    tags = {"operation": spec.operation, **({"locale": locale} if locale and "locale" in values else {}),
            "size": params["size"], **spec.tags}
    return Variant(
        campaign=camp.campaign, asset=spec.name, vid=vid, values=dict(values), operation=spec.operation,
        provider=provider, model=model, prompt=prompt, params=params, text=text, revision=revision,
        inputs=tuple(inputs), source=f"{cf.lines.path}:{cf.lines.line(a.loc())}",
        description=spec.description, owners=tuple(spec.owners or camp.owners), tags=tags,
        upstream_assets=tuple(dict.fromkeys(upstream_ids)),
    )
