"""`--select`: which variants a command applies to, in a dbt-like syntax.

    brewlab_launch                      a campaign
    brewlab_launch/launch_poster        an asset (or just `launch_poster`)
    brewlab_launch/launch_poster/de/*   glob over variant keys (the campaign may be left out)
    locale=de  size=1024x1536           matrix values
    +sel  sel+                          with upstream / downstream variants
Several selectors (space or comma separated) are a union.
"""

from __future__ import annotations

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
            raise SelectionError(f"{term!r} matches no variant (a selector is a campaign, an asset, "
                                 "campaign/asset, a glob over keys such as '*/poster/de/*', or locale=de)")
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
