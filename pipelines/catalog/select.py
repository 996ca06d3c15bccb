"""`--select`: which variants a command applies to, in a dbt-like syntax.

    brewlab_launch                      a campaign
    brewlab_launch/launch_poster        an asset (or just `launch_poster`)
    brewlab_launch/launch_poster/de/*   glob over variant keys (the campaign may be left out)
    locale=de  size=1024x1536           matrix values
    +sel  sel+                          with upstream / downstream variants
Several selectors (space or comma separated) are a union.
"""

from __future__ import annotations

import difflib
from fnmatch import fnmatchcase

from pipelines.catalog.variant import Variant
from pipelines.errors import SelectionError


def _matches(v: Variant, pat: str) -> bool:
    if "=" in pat:
        k, _, val = pat.partition("=")
        return fnmatchcase(str(v.values.get(k, v.params.get(k, ""))), val)
    return (fnmatchcase(v.key, pat) or fnmatchcase(v.asset_id, pat) or fnmatchcase(v.campaign, pat)
            or fnmatchcase(v.asset, pat) or fnmatchcase(f"{v.asset}/{v.vid}", pat))  # launch_poster/de/*


def select(variants: list[Variant], selection: str | list[str] | None) -> list[Variant]:
    if not selection:
        return list(variants)
    if isinstance(selection, str):
        selection = [selection]
    terms = [t for s in selection for t in s.replace(",", " ").split() if t]
    by_key = {v.key: v for v in variants}
    down: dict[str, list[str]] = {}
    for v in variants:
        for u in v.upstream_keys:
            down.setdefault(u, []).append(v.key)
    chosen: set[str] = set()
    for term in terms:
        up_too, down_too = term.startswith("+"), term.endswith("+")
        pat = term.strip("+")
        hits = {v.key for v in variants if _matches(v, pat)}
        if not hits:
            raise SelectionError(f"{term!r} matches no variant{_hint(variants, pat)}")
        if up_too:
            hits |= _closure(hits, lambda k: by_key[k].upstream_keys)
        if down_too:
            hits |= _closure(hits, lambda k: down.get(k, []))
        chosen |= hits
    return [v for v in variants if v.key in chosen]


def _closure(start: set[str], step) -> set[str]:
    seen, stack = set(start), list(start)
    while stack:
        for n in step(stack.pop()):
            if n not in seen:
                seen.add(n)
                stack.append(n)
    return seen


def _hint(variants: list[Variant], pat: str) -> str:
    """The closest name a selector could have meant (a campaign, an asset, a variant key, a matrix
    key or value), else what there is to select."""
    if "=" in pat:
        k, _, val = pat.partition("=")
        keys = sorted({str(n) for v in variants for n in (*v.values, *v.params)})
        if k not in keys:
            close = difflib.get_close_matches(k, keys, n=1, cutoff=0.6)
            return f" (did you mean {close[0]}={val}?)" if close else f"; no variant has a value for {k!r}"
        values = sorted({str(v.values.get(k, v.params.get(k, ""))) for v in variants} - {""})
        close = difflib.get_close_matches(val, values, n=1, cutoff=0.6)
        return f" (did you mean {k}={close[0]}?)" if close else f"; {k} is one of: {', '.join(values[:12])}"
    names = sorted({n for v in variants for n in (v.campaign, v.asset, v.asset_id, v.key)})
    close = difflib.get_close_matches(pat, names, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    campaigns = sorted({v.campaign for v in variants})
    return (" (a selector is a campaign, an asset, campaign/asset, a glob over keys such as '*/poster/de/*', or "
            f"locale=de); campaigns: {', '.join(campaigns[:12])}; `assetpipe plan` lists every variant key")
