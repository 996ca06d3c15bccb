"""The offline gallery page: grid per asset, escaping, thumbnails and links that resolve."""

from __future__ import annotations

import hashlib
import os
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

from PIL import Image

from pipelines.outputs.gallery import write_gallery

LOCALES = ["en", "de", "zh-CN"]
SIZES = ["1024x1536", "1536x1024"]
NASTY_PROMPT = 'A poster reading "Frisch & <b>gebrüht</b>" </pre><script>alert(1)</script> 新鲜咖啡 \'quoted\''


def save_image(out: Path, rel: str, size=(48, 72), colour=(200, 80, 40)) -> str:
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def entry(out: Path, campaign: str, asset: str, variant: str, vars: dict, *, cached=False, cost=0.04,
          error: str | None = None, operation="generate", prompt="A mug") -> dict:
    rel = None if error else f"{campaign}/{asset}/{variant}.png"
    colour = tuple(hashlib.sha256(variant.encode() + asset.encode()).digest()[:3])  # one image per variant
    digest = save_image(out, rel, colour=colour) if rel else None
    return {
        "key": f"{campaign}/{asset}/{variant}", "campaign": campaign, "asset": asset, "variant": variant,
        "vars": vars, "operation": operation, "path": rel, "sha256": digest, "width": 48, "height": 72,
        "cache_key": hashlib.sha256(f"{campaign}{asset}{variant}".encode()).hexdigest(), "model": "gpt-image-2",
        "provider": "draft", "prompt": prompt, "text": ["Frisch gebrüht", "<Tag & Nacht>"] if vars else [],
        "cost_usd": 0.0 if error else cost, "cached": cached, "built_at": "2026-08-01T10:00:00+00:00",
        "request_id": f"draft-{variant}", **({"error": error} if error else {}),
    }


def catalog(out: Path) -> list[dict]:
    entries = []
    for i, loc in enumerate(LOCALES):
        for j, size in enumerate(SIZES):
            failed = (loc, size) == ("de", "1536x1024")
            entries.append(entry(
                out, "brewlab_launch", "launch_poster", f"{loc}/{size}", {"locale": loc, "size": size},
                cached=(i + j) % 2 == 1, prompt=NASTY_PROMPT,
                error='vendor said: "<moderation_blocked>" & stopped' if failed else None,
            ))
    entries.append(entry(out, "brewlab_launch", "mug_hero", "default", {}, cost=0.25))
    entries.append(entry(out, "brewlab_launch", "poster_story", "en", {"locale": "en"}, operation="render",
                         cost=0.0))
    entries.append(entry(out, "spring_sale", "banner", "wide", {"style": "wide"}, cached=True, cost=0.1))
    return entries


class Page(HTMLParser):
    """Collects what the tests look at: links, images, cards, grid rows and totals."""

    def __init__(self):
        super().__init__()
        self.links, self.images, self.cards, self.scripts = [], [], [], 0
        self.tables: list[list[list[list[str]]]] = []  # table -> row -> cell -> card keys
        self.totals: dict[str, str] = {}
        self._total = None
        self._in_table = False
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a":
            self.links.append(a["href"])
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "script":
            self.scripts += 1
        elif tag == "table":
            self.tables.append([])
            self._in_table = True
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag == "td":
            self.tables[-1][-1].append([])
        elif tag == "figure":
            self.cards.append(a["data-key"])
            if self._in_table and self.tables[-1] and self.tables[-1][-1]:
                self.tables[-1][-1][-1].append(a["data-key"])
        elif tag == "dd" and "data-total" in a:
            self._total = a["data-total"]

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False

    def handle_data(self, data):
        self.text.append(data)
        if self._total:
            self.totals[self._total] = data
            self._total = None


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_one_card_per_variant_in_a_locale_by_size_grid(tmp_path):
    entries = catalog(tmp_path)
    index = write_gallery(tmp_path, entries, title="BREW LAB <review>")
    assert index == tmp_path / "index.html"
    page = parse(index)
    assert sorted(page.cards) == sorted(e["key"] for e in entries)
    grid = page.tables[0]
    # header row, then one row per locale in catalog order, one column per size
    assert len(grid) == 1 + len(LOCALES)
    for loc, row in zip(LOCALES, grid[1:]):
        assert row == [[f"brewlab_launch/launch_poster/{loc}/{size}"] for size in SIZES]
    # an asset with only a locale gets one row per locale; one without either just lists its variants
    assert page.tables[1][1:] == [[["brewlab_launch/poster_story/en"]]]
    assert len(page.tables) == 2


def test_everything_is_escaped(tmp_path):
    index = write_gallery(tmp_path, catalog(tmp_path), title="BREW LAB <review>")
    html = index.read_text(encoding="utf-8")
    assert "<script>" not in html and "<b>" not in html and "<review>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;Tag &amp; Nacht&gt;" in html
    page = parse(index)
    assert page.scripts == 0
    text = "".join(page.text)
    assert NASTY_PROMPT in text  # the reviewer sees the prompt exactly as it was sent
    assert "新鲜咖啡" in text
    assert 'vendor said: "<moderation_blocked>" & stopped' in text  # the failure, with its error


def test_totals(tmp_path):
    entries = catalog(tmp_path)
    page = parse(write_gallery(tmp_path, entries))
    assert page.totals["variants"] == str(len(entries))
    assert page.totals["failed"] == "1"
    assert page.totals["cached"] == "4"  # 3 poster cells + the banner
    assert page.totals["paid"] == "3"  # 2 poster cells + mug_hero
    assert page.totals["rendered"] == "1"
    # 2 fresh posters at 0.04 + mug_hero 0.25; cached results cost nothing this build
    assert page.totals["cost-this-build"] == "$0.33"
    assert page.totals["total-cost"] == "$0.55"  # + 3 cached posters at 0.04 + the banner's 0.10


def test_thumbnails_are_written_and_every_link_resolves(tmp_path):
    entries = catalog(tmp_path)
    page = parse(write_gallery(tmp_path, entries))
    external = [u for u in page.links + page.images if "://" in u or u.startswith("//")]
    assert not external  # works offline: nothing is fetched from anywhere
    local_links = [u for u in page.links if not u.startswith("#")]
    assert local_links
    for url in local_links + page.images:
        assert (tmp_path / unquote(url)).is_file(), url
    built = [e for e in entries if e["path"]]
    assert len(set(page.images)) == len(built)
    for src in page.images:
        assert src.startswith("_thumbs/")
        with Image.open(tmp_path / src) as thumb:
            assert thumb.format == "JPEG" and max(thumb.size) <= 256
    for e in built:  # each card links to its full image
        assert e["path"] in local_links


def test_thumbnails_are_reused_until_the_image_changes(tmp_path):
    entries = catalog(tmp_path)
    write_gallery(tmp_path, entries)
    thumbs = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "_thumbs").iterdir()}
    for p in (tmp_path / "_thumbs").iterdir():
        os.utime(p, ns=(1, 1))  # an unchanged thumbnail must not be written again
    write_gallery(tmp_path, entries)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "_thumbs").iterdir()} == dict.fromkeys(thumbs, 1)

    hero = next(e for e in entries if e["asset"] == "mug_hero")
    old = f"{hero['sha256']}.jpg"
    hero["sha256"] = save_image(tmp_path, hero["path"], colour=(0, 255, 0))
    write_gallery(tmp_path, entries)
    names = {p.name for p in (tmp_path / "_thumbs").iterdir()}
    assert f"{hero['sha256']}.jpg" in names and old not in names  # replaced, and the stale one removed
    with Image.open(tmp_path / "_thumbs" / f"{hero['sha256']}.jpg") as thumb:
        r, g, b = thumb.convert("RGB").getpixel((5, 5))
    assert g > 200 and r < 60


def test_unreadable_or_missing_images_do_not_break_the_page(tmp_path):
    entries = catalog(tmp_path)
    (tmp_path / entries[0]["path"]).write_bytes(b"not an image")
    (tmp_path / entries[2]["path"]).unlink()
    escapee = dict(entries[1], key="brewlab_launch/x/y", path="../outside.png", variant="y", asset="x")
    save_image(tmp_path.parent, "outside.png")
    page = parse(write_gallery(tmp_path, entries + [escapee]))
    assert len(page.cards) == len(entries) + 1
    assert "../outside.png" not in page.links  # only files inside output_dir are shown or linked
    assert not any(".." in u for u in page.images)
    assert "no preview" in "".join(page.text)


def test_empty_catalog(tmp_path):
    page = parse(write_gallery(tmp_path / "out", []))
    assert page.cards == [] and page.totals["variants"] == "0"


def test_cached_cost_missing_variants_and_failed_checks(tmp_path):
    # the build's manifest: a cached entry costs nothing now and keeps what it cost in original_cost_usd
    cached = entry(tmp_path, "c", "a", "one", {}, cached=True, cost=0.0)
    cached["original_cost_usd"] = 0.25
    cached["sha256"] = "sha256:" + cached["sha256"]
    missing = entry(tmp_path, "c", "a", "two", {}, cached=True, cost=0.0)
    missing.update(path=None, sha256=None, built_at=None)  # never built and not selected this time
    checked = entry(tmp_path, "c", "a", "three", {}, cost=0.125)
    checked["checks"] = {
        "text": {"passed": False, "severity": "WARN", "description": 'OCR did not find "Frisch <gebrüht>"'},
        "image": {"passed": True, "severity": "ERROR", "description": "decodes, 48x72 png"},
    }
    index = write_gallery(tmp_path, [cached, missing, checked])
    page = parse(index)
    assert page.totals["cached"] == "1" and page.totals["missing"] == "1" and page.totals["paid"] == "1"
    assert page.totals["checks-failed"] == "1"
    assert page.totals["cost-this-build"] == "$0.125"
    assert page.totals["total-cost"] == "$0.375"
    text = "".join(page.text)
    assert 'check failed: text: OCR did not find "Frisch <gebrüht>"' in text
    assert "$0.25 (paid earlier)" in text
    assert len(page.images) == 2  # the missing variant has no image, and no broken link
    assert all((tmp_path / unquote(u)).is_file() for u in page.links if not u.startswith("#"))
