"""Benchmark catalogs, written as a marketer would write them (YAML + Jinja), of any size.

    python -m bench.catalogs vendor DIR --base-url URL [--gens 160 --edits 40 --campaigns 4]
    python -m bench.catalogs draft DIR --variants 2000 [--per-campaign 100]

`vendor`: generations and edits of generated variants on the `openai` provider pointed at an
emulator (key from $BENCH_OPENAI_KEY). `draft`: campaigns of `--per-campaign` variants each (100 by
default: 80 generations in a locale x size x item matrix, 10 edits of them, 10 local renders) on
the offline draft provider at tiny sizes, so thousands of variants build in minutes.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import yaml

KEY_ENV = "BENCH_OPENAI_KEY"
KEY_ENV_B = "BENCH_OPENAI_KEY_B"  # the second member of a pool (a second key of the same vendor)
STYLE = "soft studio light, matte ceramic textures, muted earth palette with a terracotta accent"
STRINGS = {
    "en": {"headline": "Brewed for Makers", "tagline": "Small batch. Big mornings."},
    "de": {"headline": "Gebraut für Macher", "tagline": "Kleine Charge. Große Morgen."},
}


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120))


def _fresh(dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    (dest / "partials").mkdir()
    (dest / "partials" / "style.j2").write_text(STYLE + "\n")


def vendor_catalog(dest: Path, base_url: str, *, gens: int = 160, edits: int = 40, campaigns: int = 4,
                   size: str = "1024x1024", max_concurrency: int = 10, pool: str | None = None,
                   quality: str = "low", options: dict | None = None) -> Path:
    """`gens` generations and `edits` edits (each of its own generated variant), spread evenly.
    `pool`: a strategy; the catalog's provider is then a pool of two keys of the vendor."""
    if edits > gens:
        raise ValueError("each edit needs its own generated upstream variant")
    _fresh(dest)
    member = {"type": "openai", "base_url": base_url, "max_concurrency": max_concurrency, **(
        {"options": options} if options else {})}
    providers = {"openai": {**member, "api_key_env": KEY_ENV}}
    if pool:
        providers["openai_b"] = {**member, "api_key_env": KEY_ENV_B}
        providers["pool"] = {"type": "pool", "members": ["openai", "openai_b"], "strategy": pool}
    _write(dest / "catalog.yaml", {
        "default_provider": "pool" if pool else "openai",
        "providers": providers,
        "check_text": "off",
        "defaults": {"quality": quality, "output_format": "png", "size": size},
    })
    for c in range(campaigns):
        g = _share(gens, campaigns, c)
        e = _share(edits, campaigns, c)
        items = [f"i{n:03d}" for n in range(g)]
        assets: list[dict] = [{
            "name": "shot",
            "matrix": {"item": items},
            "prompt": "Product photo {{ campaign }} number {{ item }}: a ceramic mug on a plain table, {{ style }}",
        }]
        if e:
            assets.append({
                "name": "shot_loft",
                "matrix": {"item": items[:e]},
                "edit": {"image": "shot"},
                "prompt": "Replace the background of photo {{ campaign }} {{ item }} with a sunlit loft; keep the mug identical",
            })
        _write(dest / "campaigns" / f"bench_{c}.yaml", {
            "campaign": f"bench_{c}", "owners": ["team:bench"],
            "vars": {"style": "{% include 'style.j2' %}"}, "assets": assets,
        })
    return dest


def draft_catalog(dest: Path, variants: int, *, latency_s: float = 0.0, per_campaign: int = 100) -> Path:
    """`variants` variants on the draft provider, `per_campaign` (a multiple of 100) per campaign:
    80% generations in an item x locale x size matrix, 10% edits of them, 10% local renders."""
    if per_campaign % 100 or variants % per_campaign:
        raise ValueError("per_campaign must be a multiple of 100 and divide variants")
    _fresh(dest)
    draft: dict = {"type": "draft"}
    if latency_s:
        draft["options"] = {"latency_s": latency_s}
    _write(dest / "catalog.yaml", {
        "default_provider": "draft",
        "providers": {"draft": draft},
        "check_text": "off",
        "defaults": {"quality": "low", "output_format": "png"},
    })
    for code, strings in STRINGS.items():
        _write(dest / "locales" / f"{code}.yaml", strings)
    n_items = per_campaign // 5  # x 2 locales x 2 sizes = 80% of the campaign
    items = [f"p{n:03d}" if n_items > 100 else f"p{n:02d}" for n in range(n_items)]
    tenth = n_items // 4  # x 2 locales = 10% of the campaign
    for c in range(variants // per_campaign):
        _write(dest / "campaigns" / f"camp_{c:04d}.yaml", {
            "campaign": f"camp_{c:04d}",
            "owners": ["team:bench"],
            "vars": {"brand": f"BRAND {c}", "style": "{% include 'style.j2' %}"},
            "locales": list(STRINGS),
            "assets": [
                {"name": "poster",  # items x 2 locales x 2 sizes: the generations
                 "matrix": {"item": items, "locale": "{{ locales }}", "size": ["64x96", "96x64"]},
                 "prompt": 'Poster {{ item }} for {{ brand }} reading "{{ t.headline }}", {{ style }}',
                 "text": ["{{ t.headline }}"]},
                {"name": "poster_loft",  # the edits
                 "matrix": {"item": items[:tenth], "locale": "{{ locales }}"},
                 "edit": {"image": "poster", "where": {"size": "64x96"}},
                 "prompt": "Move poster {{ item }} into a sunlit loft, {{ style }}",
                 "size": "64x96"},
                {"name": "poster_thumb",  # the local renders
                 "matrix": {"item": items[tenth:2 * tenth], "locale": "{{ locales }}"},
                 "render": {"from": "poster", "where": {"size": "96x64"}, "size": "48x32", "format": "jpeg",
                            "quality": 80}},
            ],
        })
    return dest


def _share(total: int, parts: int, i: int) -> int:
    return total // parts + (1 if i < total % parts else 0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.catalogs")
    sub = ap.add_subparsers(dest="kind", required=True)
    v = sub.add_parser("vendor")
    v.add_argument("dest", type=Path)
    v.add_argument("--base-url", required=True)
    v.add_argument("--gens", type=int, default=160)
    v.add_argument("--edits", type=int, default=40)
    v.add_argument("--campaigns", type=int, default=4)
    d = sub.add_parser("draft")
    d.add_argument("dest", type=Path)
    d.add_argument("--variants", type=int, default=2000)
    d.add_argument("--per-campaign", type=int, default=100)
    a = ap.parse_args(argv)
    if a.kind == "vendor":
        vendor_catalog(a.dest, a.base_url, gens=a.gens, edits=a.edits, campaigns=a.campaigns)
    else:
        draft_catalog(a.dest, a.variants, per_campaign=a.per_campaign)
    print(a.dest)


if __name__ == "__main__":
    main()
