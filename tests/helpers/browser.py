"""Debian's headless Chromium driven by Playwright's client, for the UI tier (never
`playwright install`: no browser download happens here).

    @pytest.mark.browser
    def test_page(dagster_webserver, chromium, tmp_path):
        ui = dagster_webserver(...)
        page = open_page(chromium, ui.url + "/asset-groups")
        screenshot(page, tmp_path / "graph.png")

`chromium` is a fixture (wired by tests/ui/conftest.py); it skips, with the reason, where
Chromium or Playwright is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

CHROMIUM = os.environ.get("ASSETPIPE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_missing_reason() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"headless Chromium not installed at {CHROMIUM} (Debian: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Playwright client is not installed (pip install 'assetpipe[test]')"
    return None


@contextlib.contextmanager
def launch_chromium() -> Iterator[Any]:
    """A headless Chromium with a fresh profile (Playwright makes a temporary --user-data-dir)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Any, url: str, *, wait_for: str | None = None, width: int = 1440, height: int = 900,
              timeout_s: float = 30.0) -> Any:
    """Load `url` in a new context, wait for `wait_for` (a Playwright selector) if given, and close
    the "Join the Dagster community" dialog the UI opens on a fresh profile."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(timeout_s * 1000)
    page.goto(url, wait_until="domcontentloaded")
    if wait_for:
        page.wait_for_selector(wait_for)
    dismiss_community_dialog(page)
    settle(page)
    return page


def settle(page: Any, timeout_s: float = 20.0) -> None:
    """Wait until the page has stopped loading data: asset graph nodes fill in their status rows
    ("Loading...") after the first paint, and a screenshot taken before that is of placeholders."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => !document.body.innerText.includes('Loading...')", timeout=timeout_s * 1000)


def dismiss_community_dialog(page: Any, timeout_s: float = 5.0) -> bool:
    """Press Skip on the "Join the Dagster community" dialog; True if it was there.

    The UI opens it ~1 s after load on a 127.0.0.1/localhost origin while the server's
    `shouldShowNux` is true (no $DAGSTER_HOME/.nux/nux.yaml yet; Skip writes that file through the
    setNuxSeen mutation, so it shows once per instance). Asking the server first means pages
    opened after that do not wait for a dialog that will never come.
    """
    shows = page.evaluate(
        """async () => {
             const r = await fetch(location.origin + '/graphql', {
               method: 'POST', headers: {'content-type': 'application/json'},
               body: JSON.stringify({query: '{ shouldShowNux }'})});
             return (await r.json()).data.shouldShowNux; }"""
    )
    if not shows:
        return False
    skip = page.get_by_role("button", name="Skip")
    skip.first.wait_for(state="visible", timeout=timeout_s * 1000)
    skip.first.click()
    skip.first.wait_for(state="hidden", timeout=timeout_s * 1000)
    return True


def screenshot(page: Any, path: Path, *, full_page: bool = False) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.fixture(scope="module")
def chromium():
    """A shared headless Chromium; the test is skipped, with the reason, where it is not installed
    (with CI set, as .ci/run sets it, it fails instead: CI installs Chromium, so its absence is a
    broken CI, not a reason to pass).

    Module-scoped on purpose: Playwright's sync API keeps an asyncio loop running on the main
    thread while it is open, and any later test that calls asyncio.run() would fail."""
    reason = chromium_missing_reason()
    if reason:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(reason)
    with launch_chromium() as browser:
        yield browser
