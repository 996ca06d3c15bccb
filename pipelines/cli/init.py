"""`assetpipe init [DIR]`: a new, minimal, commented catalog to start from (issue #15, item 17).

One campaign, one locale file, one partial and a rendition, on the offline `draft` provider: it
validates and builds at once, with no key and no network, and every file says what to change next.
Nothing is ever overwritten: a directory that already holds files is refused.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.catalog.loader import default_catalog_dir
from pipelines.cli.paths import shown
from pipelines.errors import AssetpipeError

CATALOG_YAML = """\
# assetpipe catalog settings. Paths are relative to this directory.
#
# `draft` works offline with no key: it draws a layout proof of every variant (free). To pay for
# real images, export OPENAI_API_KEY and set default_provider: openai (other vendors: README,
# "Vendors"). Going from drafts to a real vendor rebuilds every variant once.
default_provider: draft

providers:
  draft:  {type: draft}
  openai: {type: openai, base_url: "https://api.openai.com/v1", api_key_env: OPENAI_API_KEY}

cache: .assetpipe/cache        # every paid image, by content hash (or s3://bucket/prefix)
output_dir: out                # the exported images, manifest.json and index.html

defaults: {quality: medium, output_format: png}
locales: {default: en, fallback: false}   # fallback: true uses the default locale's missing strings
"""

CAMPAIGN_YAML = """\
# One campaign per file. `assetpipe plan` shows what a build would make and what it costs.
campaign: first_campaign
owners: [team:marketing]
vars:
  brand: ACME
  style: "{% include 'style.j2' %}"    # partials/style.j2: the brand style, shared by every prompt
locales: [en]                          # add `de` and a locales/de.yaml to get a German variant

assets:
  - name: hero                         # one image per locale (a matrix makes one variant per value)
    matrix: {locale: "{{ locales }}"}
    size: 1536x1024
    prompt: >-
      A clean product poster for {{ brand }} with the headline "{{ t.headline }}"
      above a ceramic mug, {{ style }}
    text: ["{{ t.headline }}"]         # read back by OCR in every image; a misspelt take fails

  - name: hero_square                  # a local rendition of each hero: no provider call, free
    render: {from: hero, size: 1024x1024, fit: cover}
"""

LOCALE_YAML = """\
# The strings of one locale, used in prompts as {{ t.headline }}. Every locale of a campaign
# needs every string it uses (or `locales: {fallback: true}` in catalog.yaml).
headline: Fresh Every Morning
"""

STYLE_J2 = """\
{#- The house style, included in prompts with {% include 'style.j2' %}. -#}
soft daylight, matte textures, a calm palette with one warm accent
"""

GITIGNORE = """\
# built images and the local cache: rebuilt from the catalog, not versioned
out/
.assetpipe/
"""

FILES = {
    "catalog.yaml": CATALOG_YAML,
    "campaigns/first_campaign.yaml": CAMPAIGN_YAML,
    "locales/en.yaml": LOCALE_YAML,
    "partials/style.j2": STYLE_J2,
    "refs/.gitkeep": "",  # reference images and masks go here (edit: {image: refs/product.png})
    ".gitignore": GITIGNORE,
}


def write_starter(target: Path) -> list[Path]:
    """Write the starter catalog into `target` (created; refused when it holds any file)."""
    if target.exists() and not target.is_dir():
        raise AssetpipeError(f"{shown(target)} is a file; give init a new or empty directory")
    if target.is_dir() and any(target.iterdir()):
        raise AssetpipeError(f"{shown(target)} is not empty: init writes a new catalog only into a new or empty "
                             "directory (nothing was written)")
    written = []
    for rel, text in FILES.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def cmd_init(catalog_dir: Path, args) -> int:
    target = Path(args.dir) if args.dir is not None else catalog_dir
    try:
        written = write_starter(target)
    except OSError as exc:
        raise AssetpipeError(f"cannot write a catalog into {shown(target)}: {exc.strerror or exc}") from None
    print(f"a new catalog in {shown(target)}/:")
    for path in written:
        if path.name != ".gitkeep":
            print(f"  {path.relative_to(target)}")
    flag = "" if target.resolve() == default_catalog_dir().resolve() else f" --catalog {shown(target)}"
    print("next:")
    print(f"  assetpipe{flag} plan      what a build makes, and what it costs")
    print(f"  assetpipe{flag} build     offline drafts, free; then open {shown(target / 'out' / 'index.html')}")
    print(f"  assetpipe{flag} ui        the lineage, previews and checks in Dagster")
    return 0
