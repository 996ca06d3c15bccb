"""A text check that did not run (no OCR data for the locale) as the UI shows it: a warning with
the fix on the check's page, "1 / 2 Passed" on the graph node; never a pass."""

from __future__ import annotations

import re

import dagster as dg
import pytest

from tests.helpers.browser import open_page
from tests.helpers.catalogs import copy_example, set_setting
from tests.helpers.cli import run_cli
from tests.helpers.paths import ROOT
from tests.helpers.vendors import use_openai
from tests.helpers.webserver import start_webserver

pytestmark = pytest.mark.slow

POSTER = dg.AssetKey(["brewlab_launch", "launch_poster"])  # built: its partition en/1024x1536
SELECT = "+brewlab_launch/poster_story/en"


@pytest.fixture
def catalog(tmp_path):
    cat = copy_example(tmp_path / "catalog")
    set_setting(cat, "check_text", '"auto"')
    return cat


@pytest.fixture
def no_ocr_data(tmp_path) -> dict[str, str]:
    empty = tmp_path / "no_tessdata"
    empty.mkdir()
    return {"TESSDATA_PREFIX": str(empty)}


@pytest.mark.browser
def test_the_ui_shows_a_text_check_that_did_not_run_as_not_passed(catalog, openai_emu, no_ocr_data, chromium):
    env = use_openai(catalog, openai_emu) | no_ocr_data
    assert run_cli("build", "--select", SELECT, catalog=catalog, env=env)[0] == 0
    ui = start_webserver(["-m", "pipelines.definitions"], catalog / ".assetpipe" / "dagster",
                         env={"ASSETPIPE_CATALOG": str(catalog), **env}, cwd=ROOT)
    try:
        checks = {c["name"]: c for c in ui.graphql.asset_checks(POSTER.path)}
        latest = checks["text_ok"]["executionForLatestMaterialization"]
        assert latest["status"] == "FAILED" and latest["evaluation"] == {"severity": "WARN", "success": False}
        page = open_page(chromium, f"{ui.url}/assets/{'/'.join(POSTER.path)}?view=checks&checkDetail=text_ok",
                         wait_for="text=NOT RUN")
        try:
            assert page.get_by_text("tesseract-ocr-eng").count() >= 1  # the fix, on the check's page
            # the check list: image_ok and plan "Succeeded", text_ok "Failed" (a warning), never all three
            assert page.get_by_text("Succeeded", exact=True).count() == 2
            assert page.get_by_text("Failed", exact=True).count() >= 1
        finally:
            page.context.close()
        graph = open_page(chromium, f"{ui.url}/locations/pipelines.definitions/asset-groups/brewlab_launch/lineage",
                          wait_for="text=launch_poster", width=1600, height=1800)
        try:
            node = graph.locator("text=launch_poster").first.locator("xpath=ancestor::*[contains(., 'Passed')][1]")
            passed, total = map(int, re.search(r"(\d+) / (\d+) Passed", node.inner_text()).groups())
            assert passed < total  # text_ok did not pass
        finally:
            graph.context.close()
    finally:
        ui.stop()
