"""The README's screenshot of `assetpipe review`: a changed poster beside its approved take, with
what changed, as review_page.png beside this script.

    .venv/bin/python tests/screenshots/review.py [--out DIR]

It builds a temporary copy of the example catalog (offline draft provider), approves it, changes
the German headline, builds again, serves the review page on 127.0.0.1 and takes the picture with
headless Chromium (Debian's `chromium`, through Playwright's client). Rerun it after a page change.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.helpers.browser import launch_chromium, screenshot  # noqa: E402
from tests.helpers.webserver import free_port  # noqa: E402

ASSETPIPE = Path(sys.executable).with_name("assetpipe")


def prepare(tmp: Path) -> Path:
    catalog = tmp / "catalog"
    shutil.copytree(ROOT / "assets_spec", catalog, ignore=shutil.ignore_patterns("out", ".assetpipe", "__pycache__"))
    with open(catalog / "catalog.yaml", "a") as f:
        f.write('check_text: "off"\npublish: {dir: published}\n')
    env = dict(os.environ, ASSETPIPE_REVIEWER="ana")
    run = lambda *args: subprocess.run([str(ASSETPIPE), "--catalog", str(catalog), *args], check=True,  # noqa: E731
                                       cwd=tmp, env=env, stdout=subprocess.DEVNULL)
    run("build")
    run("approve", "brewlab_launch", "cold_brew_summer", "--note", "launch set")
    locale = catalog / "locales" / "de.yaml"
    locale.write_text(locale.read_text().replace("Gebrüht für Macher", "Gebraut für Macher"))
    run("build")
    return catalog


def take(catalog: Path, out: Path) -> Path:
    port = free_port()
    env = dict(os.environ, ASSETPIPE_REVIEWER="bo")
    proc = subprocess.Popen([str(ASSETPIPE), "--catalog", str(catalog), "review", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://\S+", proc.stdout.readline()).group(0)
        with launch_chromium() as browser:
            page = browser.new_context(viewport={"width": 1400, "height": 1180}).new_page()
            page.goto(url)
            page.wait_for_selector("article.card")
            page.wait_for_function("() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
            page.mouse.move(5, 5)
            return screenshot(page, out / "review_page.png")
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(take(prepare(Path(tmp)), args.out))


if __name__ == "__main__":
    main()
