"""`matrix:` expanded to the combinations of values, with `exclude:` and `include:` as CI
matrices have them (GitHub Actions semantics: an include with extra keys extends the matching
combinations, one that matches none is added)."""

from __future__ import annotations

import itertools
import math
from typing import Any

from pipelines.catalog.graph import AssetNode, Issues
from pipelines.catalog.spec import VALUE_RE, Limits
from pipelines.catalog.templating import TemplateProblem, Templates


class Skip(Exception):
    """This asset cannot be expanded; its problem is already reported."""


def matrix_combos(a: AssetNode, ctx: dict[str, Any], tpl: Templates, issues: Issues,
                  limits: Limits) -> list[dict[str, str]] | None:
    m = a.spec.matrix
    if not m:
        return None
    axes = _axes(a, m, ctx, tpl, issues)
    product = math.prod(len(v) for v in axes.values())
    if product > limits.variants:
        sizes = " x ".join(f"{len(v):,}" for v in axes.values())
        issues.add(a.cf, a.loc("matrix"), f"asset {a.spec.name!r}: the matrix makes {sizes} = {product:,} variants, "
                                          f"over the limit of {limits.variants:,} (limits: variants in catalog.yaml)")
        raise Skip
    for part in ("include", "exclude"):
        n = len(as_list(m.get(part)))
        if n > limits.matrix_entries:
            issues.add(a.cf, a.loc("matrix", part), f"asset {a.spec.name!r}: matrix {part}: has {n:,} entries, over "
                                                    f"the limit of {limits.matrix_entries:,} (limits: matrix_entries)")
            raise Skip
    keys = list(axes)
    combos = [dict(zip(keys, c)) for c in itertools.product(*axes.values())] if keys else []
    combos = _exclude(a, combos, as_list(m.get("exclude")), keys, issues)
    return _include(a, combos, as_list(m.get("include")), keys, issues)


def _axes(a: AssetNode, m: dict[str, Any], ctx: dict[str, Any], tpl: Templates, issues: Issues) -> dict[str, list[str]]:
    axes: dict[str, list[str]] = {}
    for k, raw in m.items():
        if k in ("include", "exclude"):
            continue
        try:
            val = tpl.evaluate(raw, ctx)
        except TemplateProblem as exc:
            issues.add(a.cf, a.loc("matrix", k), f"asset {a.spec.name!r}: matrix {k}: {exc}")
            raise Skip
        vals = val if isinstance(val, (list, tuple)) else [val]
        if not vals:
            issues.add(a.cf, a.loc("matrix", k), f"asset {a.spec.name!r}: matrix {k} is empty")
            raise Skip
        clean = []
        for i, v in enumerate(vals):
            if v is None:  # `null`, or a value refused as read (said at its own line, which this then masks)
                at = a.loc("matrix", k, i) if isinstance(raw, list) else a.loc("matrix", k)
                issues.add(a.cf, at, f"asset {a.spec.name!r}: matrix {k} has an empty value (null)")
                raise Skip
            sv = str(v)
            if not VALUE_RE.match(sv):
                issues.add(a.cf, a.loc("matrix", k), f"asset {a.spec.name!r}: matrix value {sv!r} must be letters, digits, '.', '_' or '-'")
                raise Skip
            clean.append(sv)
        axes[k] = clean
    return axes


def _exclude(a: AssetNode, combos: list[dict[str, str]], excludes: list, keys: list[str],
             issues: Issues) -> list[dict[str, str]]:
    groups: dict[tuple[str, ...], set[tuple[str, ...]]] = {}  # the keys an entry names -> their values
    for j, ex in enumerate(excludes):
        if not isinstance(ex, dict):
            issues.add(a.cf, a.loc("matrix", "exclude", j), "each exclude entry is a mapping of matrix keys to values")
            continue
        unknown = set(ex) - set(keys)
        if unknown:
            issues.add(a.cf, a.loc("matrix", "exclude", j), f"exclude names keys not in the matrix: {', '.join(sorted(map(str, unknown)))}")
            continue
        names = tuple(sorted(ex))
        groups.setdefault(names, set()).add(tuple(str(ex[k]) for k in names))
    if not groups:
        return combos
    return [c for c in combos if not any(tuple(c[k] for k in names) in vals for names, vals in groups.items())]


def _include(a: AssetNode, combos: list[dict[str, str]], includes: list, keys: list[str],
             issues: Issues) -> list[dict[str, str]]:
    """GitHub Actions semantics: an include whose extra keys extend the combinations that match its
    matrix keys; otherwise it is added (unless the same combination is already there). Indexed, so
    10,000 includes over 100,000 combinations stay fast."""
    seen = {frozenset(c.items()) for c in combos}
    index: dict[tuple[str, ...], dict[tuple, list[dict[str, str]]]] = {}

    def matching(shared: tuple[str, ...], values: tuple) -> list[dict[str, str]]:
        if shared not in index:
            index[shared] = {}
            for c in combos:
                index[shared].setdefault(tuple(c.get(k) for k in shared), []).append(c)
        return index[shared].get(values, [])

    for j, inc in enumerate(includes):
        if not isinstance(inc, dict):
            issues.add(a.cf, a.loc("matrix", "include", j), "each include entry is a mapping of matrix keys to values")
            continue
        inc = {str(k): str(v) for k, v in inc.items()}
        bad = next((v for v in inc.values() if not VALUE_RE.match(v)), None)
        if bad is not None:
            issues.add(a.cf, a.loc("matrix", "include", j), f"include value {bad!r} must be letters, digits, '.', '_' or '-'")
            continue
        shared = tuple(k for k in inc if k in keys)
        extra = {k: v for k, v in inc.items() if k not in keys}
        matched = matching(shared, tuple(inc[k] for k in shared)) if extra and shared else []
        if matched:
            for c in matched:
                seen.discard(frozenset(c.items()))
                c.update(extra)
                seen.add(frozenset(c.items()))
        elif frozenset(inc.items()) not in seen:
            combos.append(dict(inc))
            seen.add(frozenset(inc.items()))
            for sh, by_values in index.items():
                by_values.setdefault(tuple(inc.get(k) for k in sh), []).append(combos[-1])
    return combos


def as_list(v: Any) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def variant_id(values: dict[str, str]) -> str:
    return "/".join(values.values()) if values else "default"
