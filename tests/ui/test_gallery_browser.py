"""The gallery page (out/index.html after a build) as a reviewer's browser shows it: opened from
disk, every card's thumbnail decodes at its declared size, every link reaches its file, the
locale x size grid reads in the right order, and nothing is fetched from anywhere but the disk."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from PIL import Image

from tests.helpers.browser import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def gallery_page(draft_example_built, chromium):
    catalog, _env = draft_example_built  # read only: the session's build of the example
    out = catalog / "out"
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((out / "index.html").as_uri(), wait_until="load")
    _load_lazy_images(page)
    yield page, out, requests
    context.close()


def _load_lazy_images(page) -> None:
    # thumbnails are loading="lazy": a reviewer scrolls, and so does this test
    height = page.evaluate("() => document.body.scrollHeight")
    for y in range(0, height + 900, 600):
        page.evaluate(f"() => window.scrollTo(0, {y})")
        page.wait_for_timeout(30)
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
    page.evaluate("() => window.scrollTo(0, 0)")


def test_every_variant_has_a_card_whose_thumbnail_decodes(gallery_page, tmp_path):
    page, out, _ = gallery_page
    manifest = json.loads((out / "manifest.json").read_text())
    keys = [e["key"] for e in manifest["variants"]]
    cards = page.evaluate("""() => Array.from(document.querySelectorAll('figure.variant')).map(f => {
        const i = f.querySelector('img');
        return {key: f.dataset.key, src: i && i.getAttribute('src'), natural: i && [i.naturalWidth, i.naturalHeight],
                declared: i && [+i.getAttribute('width'), +i.getAttribute('height')], visible: !!i && i.getBoundingClientRect().width > 0};
      })""")
    assert sorted(c["key"] for c in cards) == sorted(keys) and len(cards) == 20
    for card in cards:
        assert card["src"] and card["visible"], card
        thumb = Image.open(out / unquote(card["src"]))
        assert card["natural"] == list(thumb.size) == card["declared"], card  # the browser decoded it
        assert max(thumb.size) == 256
    assert screenshot(page, tmp_path / "gallery.png", full_page=True).stat().st_size > 50_000


def test_every_link_on_the_page_reaches_a_file_in_the_output_dir(gallery_page):
    page, out, _ = gallery_page
    hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    files = [h for h in hrefs if not urlparse(h).fragment]
    assert len(files) >= 40  # a thumbnail link and a path link per card
    root = out.resolve()
    for href in files:
        url = urlparse(href)
        assert url.scheme == "file", href
        path = Path(unquote(url.path)).resolve()
        assert path.is_relative_to(root) and path.is_file(), href
    anchors = {urlparse(h).fragment for h in hrefs if urlparse(h).fragment}
    for anchor in anchors:  # the table of contents jumps to sections that exist
        assert page.locator(f"[id='{anchor}']").count() == 1, anchor


def test_the_poster_grid_reads_locales_down_and_sizes_across(gallery_page):
    page, _, _ = gallery_page
    grid = page.locator("section.asset", has=page.locator("h3", has_text="launch_poster")).locator("table.grid")
    head = grid.locator("thead th").all_inner_texts()
    assert [h.strip() for h in head[1:]] == ["1024x1536", "1536x1024"]
    rows = grid.locator("tbody tr")
    assert [rows.nth(i).locator("th").inner_text().strip() for i in range(rows.count())] == ["en", "de", "zh-CN"]
    first = rows.nth(1).locator("td").first.locator("figure.variant")
    assert first.get_attribute("data-key") == "brewlab_launch/launch_poster/de/1024x1536"


def test_the_page_fetches_nothing_but_files_beside_it(gallery_page):
    _, out, requests = gallery_page
    assert requests and all(urlparse(u).scheme in ("file", "data") for u in requests), requests
    assert all(Path(unquote(urlparse(u).path)).resolve().is_relative_to(out.resolve())
               for u in requests if urlparse(u).scheme == "file")
