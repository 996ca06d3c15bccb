"""One asset's matrix values -> one Variant, in named steps.

    context          the template variables: campaign vars, matrix values, `t` (locale strings)
    params           catalog defaults < campaign defaults < asset < matrix values
    pair_upstreams   the one upstream variant of each upstream asset this variant reads
    ref_input        an input (`image:`, `mask:`, `from:`): an upstream variant or a file
    render_fields    a local rendition: size, fit, format (no provider, no prompt)
    provider_fields  a generation or edit: provider, model, size limits, inputs, prompt, text

Every step reports its problems to the shared `Issues` and keeps going where it can, so a
variant's problems are reported at once; a step that cannot go on returns None (`_Broken`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipelines.catalog.graph import AssetNode, Issues, did_you_mean, looks_like_asset, resolve_asset
from pipelines.catalog.loader import Catalog
from pipelines.catalog.refcheck import reference_file
from pipelines.catalog.sources import SourceMissing, SourceProblem, contained_dir
from pipelines.catalog.spec import Params
from pipelines.catalog.templating import LocaleStrings, TemplateProblem, Templates, quoted_strings
from pipelines.catalog.variant import DEFAULT_FORMAT, DEFAULT_SIZE, Input, InputRole, Variant
from providers.sizes import MAX_EDGE, MAX_PIXELS, parse_size

IMAGE_PARAMS = ("size", "quality", "background", "output_format", "compression", "fidelity", "retakes")
MAX_PROMPT_CHARS = 32_000


def _control_char(text: str) -> str | None:
    """The first control character of `text` (tabs and newlines are text), shown escaped."""
    for ch in text:
        if not ch.isprintable() and ch not in "\n\t" and unicodedata.category(ch) == "Cc":
            return repr(ch)[1:-1]
    return None


class _Broken(Exception):
    """This variant cannot be built; its problems are reported."""


@dataclass
class _Fields:
    """What the operation decides: provider, model, params, inputs, prompt and expected text."""

    provider: str | None
    model: str
    params: dict[str, Any]
    inputs: list[Input]
    prompt: str | None
    text: tuple[str, ...]


class VariantExpander:
    """Expands the variants of one asset. `by_asset` holds the variants of every asset expanded
    before it (its upstreams among them); `upstream_ids` are the assets it reads."""

    def __init__(self, catalog: Catalog, node: AssetNode, assets: dict[str, AssetNode],
                 by_asset: dict[str, list[Variant]], upstream_ids: list[str], where: dict[str, str],
                 tpl: Templates, issues: Issues, base_ctx: dict[str, Any]):
        self.catalog, self.node, self.assets, self.by_asset = catalog, node, assets, by_asset
        self.upstream_ids, self.where, self.tpl, self.issues, self.base_ctx = upstream_ids, where, tpl, issues, base_ctx
        self.cf, self.spec, self.camp = node.cf, node.spec, node.cf.spec
        self.settings = catalog.settings
        self._up_keys: dict[str, frozenset[str]] = {}  # upstream -> the matrix keys its variants have
        self._pairing: dict[tuple, dict[tuple, list[Variant]]] = {}  # (upstream, keys) -> values -> variants

    def expand(self, values: dict[str, str], vid: str) -> Variant | None:
        label = f"asset {self.spec.name!r}" + (f" variant {vid!r}" if values else "")
        try:
            ctx, locale = self.context(values, vid, label)
            params, provider, revision = self.params(values, label)
            retakes = params.pop("retakes", 0)
            upstreams = self.pair_upstreams(values, label)
            if self.spec.render is not None:
                fields = self.render_fields(ctx, upstreams, label)
            else:
                fields = self.provider_fields(ctx, values, params, provider, upstreams, label)
        except _Broken:
            return None
        primary = self._primary(upstreams)
        if locale is None and primary is not None:
            locale = primary.locale  # a rendition or edit speaks its upstream's language
        return self._variant(values, vid, locale, revision, fields, retakes if fields.provider else 0)

    # -- the steps -------------------------------------------------------------------------------
    def context(self, values: dict[str, str], vid: str, label: str) -> tuple[dict[str, Any], str | None]:
        ctx = dict(self.base_ctx)
        ctx.update(values)
        ctx["variant"] = vid
        locale = values.get("locale")
        if locale is None and self.camp.locales:
            default = self.settings.locales.default
            locale = default if default in self.catalog.locales else None
        if locale is not None:
            loc = self.node.loc("matrix", "locale") if "locale" in values else self.node.loc("name")
            ctx["t"] = self._locale_strings(locale, loc)
            ctx["locale"] = locale
        # campaign vars that are templates render per variant, in the order written
        for k, raw in self.camp.vars.items():
            if isinstance(raw, str) and "{" in raw:
                try:
                    ctx[k] = self.tpl.render(raw, ctx)
                except TemplateProblem as exc:
                    self.issues.add(self.cf, ("vars", k), f"var {k!r} (for {label}): {exc}", exc.token)
                    raise _Broken from None
        return ctx, locale

    def params(self, values: dict[str, str], label: str) -> tuple[dict[str, Any], str, int]:
        """(params, provider name, revision)."""
        spec = self.spec
        params: dict[str, Any] = {}
        for layer in (self.settings.defaults, self.camp.defaults):
            params.update(layer.model_dump(exclude_none=True))
        params.update({k: getattr(spec, k) for k in IMAGE_PARAMS if getattr(spec, k) is not None})
        provider = values.get("provider") or spec.provider or self.camp.provider or self.settings.default_provider
        revision = spec.revision
        if "revision" in values:
            if not values["revision"].isdigit() or len(values["revision"]) > 18:
                self._fail(self.node.loc("matrix", "revision"), f"{label}: matrix revision must be a whole number "
                                                   f"(got {values['revision']!r})")
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
                    self.issues.add(self.cf, self.node.loc("matrix", k), f"{label}: matrix {k}: {msg} (got {values[k]!r})")
                raise _Broken from None
        if "size" in values:
            try:
                w, h = parse_size(values["size"])
            except ValueError as exc:
                self._fail(self.node.loc("matrix", "size"), f"{label}: {exc}")
            params["size"] = f"{w}x{h}"
        return params, provider, revision

    def pair_upstreams(self, values: dict[str, str], label: str) -> dict[str, Variant]:
        """The upstream variant with the same values for the matrix keys both share, plus `where:`."""
        paired: dict[str, Variant] = {}
        for uid in dict.fromkeys(self.upstream_ids):
            ups = self.by_asset.get(uid, [])
            keys = self._up_keys.get(uid)
            if keys is None:
                keys = self._up_keys[uid] = frozenset(k for u in ups for k in u.values)
            shared = tuple(k for k in values if k in keys)
            matches = self._pairing_index(uid, ups, shared).get(tuple(values[k] for k in shared), [])
            if len(matches) != 1:
                self._fail(self.node.loc("render" if self.spec.render else "edit"),
                           f"{label}: {self._pairing_problem(uid, ups, matches, values, list(shared))}")
            paired[uid] = matches[0]
        return paired

    def _pairing_index(self, uid: str, ups: list[Variant], shared: tuple[str, ...]) -> dict[tuple, list[Variant]]:
        """Upstream variants that satisfy `where:`, by their values for the `shared` keys: one pass
        over the upstream per set of keys, not one per variant (1,000 edits of a matrix of 4,000
        generations were 4 million comparisons)."""
        index = self._pairing.get((uid, shared))
        if index is None:
            index = {}
            for u in ups:
                if all(u.values.get(k) == v for k, v in self.where.items()):
                    index.setdefault(tuple(u.values.get(k) for k in shared), []).append(u)
            self._pairing[(uid, shared)] = index
        return index

    def ref_input(self, ref: str, role: InputRole, loc: tuple, upstreams: dict[str, Variant],
                  label: str) -> Input | None:
        """None when the reference is unusable (reported, except an unknown asset name, which
        expand() reports once for the asset)."""
        uid = resolve_asset(ref, self.node, self.assets)
        if uid is not None:
            return Input(role, "upstream", upstreams[uid].key)
        if looks_like_asset(ref):
            return None
        if "://" in ref or ref.startswith("data:"):
            self.issues.add(self.cf, loc, f"{label}: {role} {ref!r}: URLs are not accepted as inputs; put the file under refs/")
            return None
        if not ref.isprintable():
            self.issues.add(self.cf, loc, f"{label}: {role} {ref!r}: a file name cannot hold control characters")
            return None
        p = self.catalog.root / ref
        try:
            real = reference_file(p, self.catalog.root)
        except SourceMissing:
            near = self._near(ref, p)
            self.issues.add(self.cf, loc, f"{label}: missing reference file {ref!r} (looked for {self.catalog.rel(p)})"
                                          f"{did_you_mean(ref, near, 0.8)}")
            return None
        except SourceProblem as exc:
            self.issues.add(self.cf, loc, f"{label}: {role} {ref!r} {exc}")
            return None
        return Input(role, "file", ref, real)

    def _near(self, ref: str, p: Path) -> list[str]:
        """Files beside a missing reference, to suggest one (only inside the catalog)."""
        try:
            parent = contained_dir(p.parent, self.catalog.root)
        except SourceProblem:
            return []
        return [f"{Path(ref).parent.as_posix()}/{x.name}".removeprefix("./") for x in parent.glob("*")
                if x.is_file()] if parent is not None else []

    def render_fields(self, ctx: dict[str, Any], upstreams: dict[str, Variant], label: str) -> _Fields:
        r = self.spec.render
        inp = self.ref_input(r.from_, "image", self.node.loc("render", "from"), upstreams, label)
        if inp is None:
            raise _Broken
        up = upstreams.get(resolve_asset(r.from_, self.node, self.assets) or "")
        params = {"size": r.size, "fit": r.fit, "output_format": r.format or (up.output_format if up else DEFAULT_FORMAT)}
        if r.quality is not None:
            params["compression"] = r.quality
        text = self._text(ctx, "", label, upstreams)  # a crop that cuts the headline must fail its check
        if text is None:
            raise _Broken
        return _Fields(None, "render", params, [inp], None, text)

    def provider_fields(self, ctx: dict[str, Any], values: dict[str, str], params: dict[str, Any], provider: str,
                        upstreams: dict[str, Variant], label: str) -> _Fields:
        # keep going after a problem: report every problem of this variant at once
        broken = False
        model = self._model(provider, values, label)
        broken |= model is None
        broken |= not self._size_ok(params, values, label)
        inputs, inputs_ok = self._edit_inputs(upstreams, label)
        broken |= not inputs_ok
        prompt = self._prompt(ctx, label)
        broken |= prompt is None
        text = self._text(ctx, prompt or "", label, upstreams)
        broken |= text is None
        if broken:
            raise _Broken
        return _Fields(provider, model, params, inputs, prompt, text)

    # -- pieces of provider_fields ------------------------------------------------------------------
    def _model(self, provider: str, values: dict[str, str], label: str) -> str | None:
        providers = self.settings.providers
        if provider not in providers:
            loc = (self.node.loc("provider") if self.spec.provider else
                   self.node.loc("matrix", "provider") if "provider" in values else ("provider",))
            self.issues.add(self.cf, loc, f"{label}: unknown provider {provider!r}; catalog.yaml defines {', '.join(providers)}")
            return None
        pconf = providers[provider]
        return "draft" if pconf.type == "draft" else pconf.model

    def _size_ok(self, params: dict[str, Any], values: dict[str, str], label: str) -> bool:
        params.setdefault("size", DEFAULT_SIZE)
        w, h = parse_size(params["size"])
        if max(w, h) <= MAX_EDGE and w * h <= MAX_PIXELS:
            return True
        node = self.node
        loc = node.loc("size") if self.spec.size else node.loc("matrix", "size") if "size" in values else node.loc("name")
        self.issues.add(self.cf, loc, f"{label}: size {w}x{h} is larger than gpt-image-2 can produce (longest edge "
                                      f"{MAX_EDGE}, {MAX_PIXELS:,} pixels); generate smaller and add a render to upscale")
        return False

    def _edit_inputs(self, upstreams: dict[str, Variant], label: str) -> tuple[list[Input], bool]:
        edit = self.spec.edit
        if edit is None:
            return [], True
        refs: list[tuple[str, InputRole, tuple]] = [
            (img, "image", self.node.loc("edit", "image") if isinstance(edit.image, str) else self.node.loc("edit", "image", i))
            for i, img in enumerate(edit.images)]
        if edit.mask:
            refs.append((edit.mask, "mask", self.node.loc("edit", "mask")))
        inputs = [self.ref_input(ref, role, loc, upstreams, label) for ref, role, loc in refs]
        return [i for i in inputs if i is not None], all(i is not None for i in inputs)

    def _prompt(self, ctx: dict[str, Any], label: str) -> str | None:
        try:
            prompt = self.tpl.render(self.spec.prompt or "", ctx).strip()
        except TemplateProblem as exc:
            self.issues.add(self.cf, self.node.loc("prompt"), f"{label}: in prompt: {exc}", exc.token)
            return None
        if len(prompt) > MAX_PROMPT_CHARS:
            self.issues.add(self.cf, self.node.loc("prompt"), f"{label}: the rendered prompt has {len(prompt)} "
                                                              f"characters (max {MAX_PROMPT_CHARS:,})")
            return None
        bad = _control_char(prompt)
        if bad:
            self.issues.add(self.cf, self.node.loc("prompt"), f"{label}: the rendered prompt holds a control "
                                                              f"character ({bad}): remove it")
            return None
        return prompt

    def _text(self, ctx: dict[str, Any], prompt: str, label: str,
              upstreams: dict[str, Variant]) -> tuple[str, ...] | None:
        """The expected in-image text: `text:` rendered, else the prompt's quoted strings, else (an
        edit or a rendition) the text of the upstream variant it is made from."""
        if self.spec.text is None:
            quoted = tuple(quoted_strings(prompt))
            primary = self._primary(upstreams)
            return quoted or (primary.text if primary is not None else ())
        texts, ok = [], True
        for i, raw in enumerate(self.spec.text):
            try:
                texts.append(self.tpl.render(raw, ctx).strip())
            except TemplateProblem as exc:
                self.issues.add(self.cf, self.node.loc("text", i), f"{label}: in text: {exc}", exc.token)
                ok = False
                continue
            if len(texts[-1]) > MAX_PROMPT_CHARS or _control_char(texts[-1]):
                self.issues.add(self.cf, self.node.loc("text", i), f"{label}: expected text must be under "
                                f"{MAX_PROMPT_CHARS:,} characters, without control characters")
                ok = False
        return tuple(t for t in texts if t) if ok else None

    # -- helpers -----------------------------------------------------------------------------------
    def _primary(self, upstreams: dict[str, Variant]) -> Variant | None:
        """The upstream variant an edit or rendition is made from (its first image), if any."""
        spec = self.spec
        ref = spec.render.from_ if spec.render else spec.edit.images[0] if spec.edit else None
        uid = resolve_asset(ref, self.node, self.assets) if ref else None
        return upstreams.get(uid) if uid else None

    def _variant(self, values: dict[str, str], vid: str, locale: str | None, revision: int, f: _Fields,
                 retakes: int) -> Variant:
        spec, camp = self.spec, self.camp
        tags = {"operation": spec.operation, **({"locale": locale} if locale and "locale" in values else {}),
                "size": f.params["size"], **spec.tags}
        return Variant(
            campaign=camp.campaign, asset=spec.name, vid=vid, values=dict(values), operation=spec.operation,
            provider=f.provider, model=f.model, prompt=f.prompt, params=f.params, text=f.text, revision=revision,
            inputs=tuple(f.inputs), source=f"{self.cf.lines.path}:{self.cf.lines.line(self.node.loc())}",
            description=spec.description, owners=tuple(spec.owners or camp.owners), tags=tags,
            upstream_assets=tuple(dict.fromkeys(self.upstream_ids)), locale=locale, retakes=retakes,
        )

    def _locale_strings(self, code: str, loc: tuple) -> LocaleStrings:
        lf = self.catalog.locales.get(code)
        if lf is None:
            self._fail(loc, f"asset {self.spec.name!r}: no strings for locale {code!r}: add locales/{code}.yaml")
        fallback = None
        locales = self.settings.locales
        if locales.fallback and code != locales.default:
            d = self.catalog.locales.get(locales.default)
            fallback = d.strings if d else None
        return LocaleStrings(code, lf.strings, lf.lines.path, fallback)

    def _pairing_problem(self, uid: str, ups: list[Variant], matches: list[Variant], values: dict[str, str],
                         shared: list[str]) -> str:
        keys = {**{k: values[k] for k in shared}, **self.where}
        wanted = ", ".join(f"{k}={v}" for k, v in keys.items()) or "(no shared matrix keys)"
        if matches:
            return (f"{len(matches)} variants of upstream {uid} match {wanted} ({', '.join(m.vid for m in matches[:4])}); "
                    "exactly one must: add the keys that tell them apart to this matrix or to where:")
        more = " ..." if len(ups) > 6 else ""
        return (f"no variant of upstream {uid} matches {wanted}; "
                f"it has {', '.join(u.vid for u in ups[:6])}{more}; fix where: or this matrix")

    def _fail(self, loc: tuple, message: str):
        """Report `message` at `loc` and stop expanding this variant."""
        self.issues.add(self.cf, loc, message)
        raise _Broken
