"""`matrix:` expanded to the combinations of values, with `exclude:` and `include:` as CI
matrices have them (GitHub Actions semantics: an include with extra keys extends the matching
combinations, one that matches none is added)."""

from __future__ import annotations

import itertools
from typing import Any

from pipelines.catalog.graph import AssetNode, Issues
from pipelines.catalog.spec import VALUE_RE
from pipelines.catalog.templating import TemplateProblem, Templates


class Skip(Exception):
    """This asset cannot be expanded; its problem is already reported."""


def matrix_combos(a: AssetNode, ctx: dict[str, Any], tpl: Templates, issues: Issues) -> list[dict[str, str]] | None:
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
            raise Skip
        vals = val if isinstance(val, (list, tuple)) else [val]
        if not vals:
            issues.add(a.cf, a.loc("matrix", k), f"asset {a.spec.name!r}: matrix {k} is empty")
            raise Skip
        clean = []
        for v in vals:
            sv = str(v)
            if not VALUE_RE.match(sv):
                issues.add(a.cf, a.loc("matrix", k), f"asset {a.spec.name!r}: matrix value {sv!r} must be letters, digits, '.', '_' or '-'")
                raise Skip
            clean.append(sv)
        axes[k] = clean
    keys = list(axes)
    combos = [dict(zip(keys, c)) for c in itertools.product(*axes.values())] if keys else []
    for j, ex in enumerate(as_list(m.get("exclude"))):
        if not isinstance(ex, dict):
            issues.add(a.cf, a.loc("matrix", "exclude", j), "each exclude entry is a mapping of matrix keys to values")
            continue
        unknown = set(ex) - set(keys)
        if unknown:
            issues.add(a.cf, a.loc("matrix", "exclude", j), f"exclude names keys not in the matrix: {', '.join(sorted(unknown))}")
            continue
        combos = [c for c in combos if not all(c[k] == str(v) for k, v in ex.items())]
    for j, inc in enumerate(as_list(m.get("include"))):
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


def as_list(v: Any) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def variant_id(values: dict[str, str]) -> str:
    return "/".join(values.values()) if values else "default"
