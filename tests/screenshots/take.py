"""Screenshots of the Dagster UI for the README: a campaign's lineage graph and an asset page with
its preview, as PNGs beside this script.

    .venv/bin/python tests/screenshots/take.py [--out DIR]

It builds a temporary copy of the example catalog (offline draft provider; OCR text checks when
the `ocr` extra is installed), serves it with dagster-webserver on 127.0.0.1 and drives headless
Chromium (Debian's `chromium`, through Playwright's client) through the pages: the community
dialog is dismissed, pages are given time to finish loading, the graph is fitted to the window.
Rerun it after a UI change; only the timestamps differ from run to run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.helpers.browser import launch_chromium, open_page, screenshot, settle
from tests.helpers.webserver import ASSETPIPE_WEBSERVER, start_webserver

EXAMPLE = ROOT / "assets_spec"
LOCATION = "assetpipe"
WIDTH, HEIGHT = 1600, 1000
# (campaign, file): generations with their edit and renditions; ref images feeding an edit
LINEAGES = (("brewlab_launch", "lineage.png"), ("cold_brew_summer", "lineage_refs.png"))
ASSET_PAGE = "brewlab_launch/launch_poster?view=partitions&partition=en%2F1024x1536"


def build_example(tmp: Path) -> Path:
    catalog = tmp / "catalog"
    shutil.copytree(EXAMPLE, catalog, ignore=shutil.ignore_patterns("out", ".assetpipe", "__pycache__"))
    assetpipe = Path(sys.executable).with_name("assetpipe")
    subprocess.run([str(assetpipe), "--catalog", str(catalog), "build"], check=True, cwd=tmp,
                   stdout=subprocess.DEVNULL)
    return catalog


def node_names(catalog: Path, campaign: str) -> list[str]:
    """The campaign's catalog assets: a node each, its variants as partitions."""
    from pipelines.plan.project import Project

    return list(dict.fromkeys(v.asset for v in Project.load(catalog).variants if v.campaign == campaign))


def lineage(browser, url: str, campaign: str, names: list[str], out: Path) -> Path:
    """The campaign's group graph, every node in the window, as large as fits."""
    page = open_page(browser, f"{url}/locations/{LOCATION}/asset-groups/{campaign}/lineage",
                     wait_for="text=Materialize all", width=WIDTH, height=HEIGHT)
    page.wait_for_function("(names) => Array.from(document.querySelectorAll('div,span'))"
                           ".some(e => e.children.length === 0 && names.includes(e.textContent.trim()))", arg=names)
    _compact_nodes(page)
    _fit(page, names)
    settle(page)
    page.mouse.move(5, HEIGHT - 5)  # no hover highlight in the picture
    time.sleep(0.5)
    path = screenshot(page, out)
    page.context.close()
    return path


def _compact_nodes(page) -> None:
    # Facets with little to say for this catalog (one schedule; the time of the build) make every
    # node taller; the choice is kept in the browser profile, as a user's would be.
    page.locator("button:has([aria-label=config])").click()
    dialog = page.get_by_role("dialog")
    for facet in ("Automation", "Latest event"):
        dialog.locator("label", has_text=facet).click()
    dialog.get_by_role("button", name="Save").click()
    dialog.wait_for(state="hidden")


def _graph_box(page) -> dict:
    """The part of the window the graph is drawn in: below the search bar, left of the zoom controls."""
    search = page.get_by_text("Search and filter assets").first.bounding_box()
    return {"left": search["x"] - 40, "top": search["y"] + search["height"] + 10,
            "right": WIDTH - 70, "bottom": HEIGHT - 10}


def _drawn(page, names: list[str]) -> list[dict]:
    """The boxes of the named nodes the graph has drawn (it draws only what is in the window)."""
    return page.evaluate(
        """(names) => names.map(n => Array.from(document.querySelectorAll('div,span'))
               .find(e => e.children.length === 0 && e.textContent.trim() === n))
             .filter(e => e)
             .map(e => (e.closest('[class*=assetNodeContainer]') || e).getBoundingClientRect())
             .map(r => ({left: r.left, right: r.right, top: r.top, bottom: r.bottom}))""",
        names)


def _union(rects: list[dict]) -> dict:
    return {"left": min(r["left"] for r in rects), "right": max(r["right"] for r in rects),
            "top": min(r["top"] for r in rects), "bottom": max(r["bottom"] for r in rects)}


MARGIN = 30


def _fits(nodes: dict, box: dict) -> bool:
    return (nodes["left"] >= box["left"] + MARGIN and nodes["right"] <= box["right"] - MARGIN
            and nodes["top"] >= box["top"] + MARGIN and nodes["bottom"] <= box["bottom"] - MARGIN)


def _too_big(nodes: dict, box: dict) -> bool:
    return (nodes["bottom"] - nodes["top"] > box["bottom"] - box["top"] - 2 * MARGIN
            or nodes["right"] - nodes["left"] > box["right"] - box["left"] - 2 * MARGIN)


def _pan(page, box: dict, dx: float, dy: float) -> None:
    """Move the drawing by about (dx, dy) pixels: the wheel pans the graph (not 1:1, hence rounds)."""
    page.mouse.move((box["left"] + box["right"]) / 2, (box["top"] + box["bottom"]) / 2)
    page.mouse.wheel(-dx, -dy)
    time.sleep(0.3)


def _center(page, names: list[str], box: dict) -> None:
    for _ in range(6):
        rects = _drawn(page, names)
        if not rects:
            return
        nodes = _union(rects)
        dx = (box["left"] + box["right"]) / 2 - (nodes["left"] + nodes["right"]) / 2
        dy = (box["top"] + box["bottom"]) / 2 - (nodes["top"] + nodes["bottom"]) / 2
        if abs(dx) < 4 and abs(dy) < 4:
            return
        _pan(page, box, dx, dy)


def _fit(page, names: list[str]) -> None:
    """Pan and zoom out until every node is drawn inside the window, centred; then zoom in while
    they still fit: the largest readable picture of the whole campaign."""
    box = _graph_box(page)
    zoom_in = page.locator("button:has([aria-label=zoom_in])")
    zoom_out = page.locator("button:has([aria-label=zoom_out])")

    def step(button) -> None:
        button.click()
        time.sleep(0.3)

    for _ in range(80):
        rects = _drawn(page, names)
        nodes = _union(rects)
        if len(rects) == len(names):
            if _fits(nodes, box):
                break
            if _too_big(nodes, box):
                step(zoom_out)
            _center(page, names, box)
            continue
        # some nodes lie outside the window: move the drawing away from the edges it crosses
        top, bottom = nodes["top"] < box["top"] + 80, nodes["bottom"] > box["bottom"] - 80
        left, right = nodes["left"] < box["left"] + 80, nodes["right"] > box["right"] - 80
        if (top and bottom) or (left and right) or not (top or bottom or left or right):
            step(zoom_out)
        else:
            _pan(page, box, 250 * (left - right), 250 * (top - bottom))
    for _ in range(30):
        step(zoom_in)
        _center(page, names, box)
        rects = _drawn(page, names)
        if len(rects) < len(names) or not _fits(_union(rects), box):
            step(zoom_out)
            _center(page, names, box)
            break


def asset_page(browser, url: str, out: Path) -> Path:
    page = open_page(browser, f"{url}/assets/{ASSET_PAGE}", wait_for="img[alt=preview]", width=WIDTH,
                     height=HEIGHT + 100)
    page.wait_for_function("() => { const i = document.querySelector('img[alt=preview]');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    # a variant (partition) of the asset: its metadata table, the preview first
    settle(page)
    time.sleep(0.5)
    path = screenshot(page, out / "asset_page.png")
    page.context.close()
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--catalog", type=Path, help="an already built copy of the example to show (skips the build)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="assetpipe-shots-") as tmp:
        catalog = args.catalog.resolve() if args.catalog else build_example(Path(tmp))
        ui = start_webserver(["-w", str(ROOT / "workspace.yaml")], catalog / ".assetpipe" / "dagster",
                             env={"ASSETPIPE_CATALOG": str(catalog)}, cwd=ROOT, server=ASSETPIPE_WEBSERVER)
        try:
            with launch_chromium() as browser:
                for campaign, name in LINEAGES:
                    print(lineage(browser, ui.url, campaign, node_names(catalog, campaign), args.out / name))
                print(asset_page(browser, ui.url, args.out))
        finally:
            ui.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
