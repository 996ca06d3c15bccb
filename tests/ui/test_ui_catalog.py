"""The example catalog in a real dagster-webserver, as the team sees it: lineage, definitions,
materialization metadata, checks, and staleness that agrees with `assetpipe plan`.

One webserver serves the module, on a copy of the example catalog built through the OpenAI
emulator (whose takes differ from call to call, so a --refresh really changes the bytes). Each
staleness test starts from "everything fresh", makes one edit nobody made before (never a revert),
compares the UI with `assetpipe plan`, then builds until both say fresh again, so the tests hold
in any order.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers.browser import open_page
from tests.helpers.catalogs import copy_example
from tests.helpers.cli import plan_json, run_cli
from tests.helpers.paths import ROOT
from tests.helpers.vendors import TEST_KEY, use_openai
from tests.helpers.webserver import Webserver, start_webserver

pytestmark = pytest.mark.slow

LOCATION = "pipelines.definitions"  # a -m code location is named after its module
# Dagster's SQLite event log fsyncs several times per event; on tmpfs a build takes half the time.
FAST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
UI_TO_PLAN = {"FRESH": "fresh", "STALE": "changed", "MISSING": "missing"}

HERO = "brewlab_launch/mug_hero"
LOFT = "brewlab_launch/mug_loft"
POSTER_DE = "brewlab_launch/launch_poster/launch_poster_de_1024x1536"
POSTER_DE_WIDE = "brewlab_launch/launch_poster/launch_poster_de_1536x1024"
STORY_DE = "brewlab_launch/poster_story/poster_story_de"
BOTTLE = "cold_brew_summer/bottle_on_table"
BANNER_DE = "cold_brew_summer/summer_banner/summer_banner_de_1536x1024"
THUMB_DE = "cold_brew_summer/banner_thumb/banner_thumb_de_1536x1024"
PRODUCT_REF = "refs/product.png"


@dataclass
class Site:
    catalog: Path
    env: dict[str, str]
    ui: Webserver

    @property
    def home(self) -> Path:
        return self.catalog / ".assetpipe" / "dagster"

    def build(self, *args: str) -> str:
        code, out, err = run_cli("build", *args, catalog=self.catalog, env=self.env)
        assert code == 0, out + err
        return out

    def reload(self) -> None:
        self.ui.graphql.reload_location(LOCATION)

    def nodes(self) -> dict[str, dict]:
        return self.ui.graphql.asset_nodes_by_key()

    def ui_state(self) -> dict[str, str]:
        """Variant asset key -> the UI's staleness, in the plan's words."""
        return {k: UI_TO_PLAN[n["staleStatus"]] for k, n in self.nodes().items() if not k.startswith("refs/")}

    def plan_state(self) -> dict[str, str]:
        """Variant asset key -> `assetpipe plan --json` status."""
        rows = plan_json(self.catalog, env=self.env)
        return {_asset_key(row): row["status"] for row in rows.values()}

    def not_fresh(self) -> set[str]:
        ui, plan = self.ui_state(), self.plan_state()
        assert ui == plan, {k: (ui.get(k), plan.get(k)) for k in set(ui) | set(plan) if ui.get(k) != plan.get(k)}
        return {k for k, s in plan.items() if s != "fresh"}

    def settle(self) -> None:
        """Bring both sides to "all fresh": build what is left, reload, and require it."""
        from pipelines.plan.project import Project

        plan = Project.load(self.catalog).plan()  # in-process: a quick look before paying for more
        if all(p.status == "fresh" for p in plan.items) and set(self.ui_state().values()) == {"fresh"}:
            return
        self.build()
        self.reload()
        assert self.not_fresh() == set()


def _asset_key(row: dict) -> str:
    # the graph names a variant's node "<asset>_<matrix values>" (pipelines.assets.variant_key)
    parts = [row["campaign"], row["asset"]]
    if row["vars"]:
        parts.append("_".join([row["asset"], *row["vars"].values()]))
    return "/".join(parts)


@pytest.fixture(scope="module")
def site(session_openai):
    root = Path(tempfile.mkdtemp(prefix="assetpipe-ui-", dir=FAST_TMP))
    ui = None
    try:
        cat = copy_example(root / "catalog")
        env = use_openai(cat, session_openai)
        code, out, err = run_cli("build", catalog=cat, env=env)
        assert code == 0, out + err
        ui = start_webserver(["-m", LOCATION], cat / ".assetpipe" / "dagster",
                             env={"ASSETPIPE_CATALOG": str(cat), **env}, cwd=ROOT)
        yield Site(cat, env, ui)
    finally:
        if ui is not None:
            ui.stop()
        shutil.rmtree(root, ignore_errors=True)


def _token() -> str:
    return uuid.uuid4().hex[:8]


def _causes(node: dict) -> set[tuple[str, str]]:
    return {("/".join(c["key"]["path"]), c["category"]) for c in node["staleCauses"]}


# -- the graph and the definitions ---------------------------------------------------------------


def test_graph_has_a_group_per_campaign_readable_names_and_every_edge(site):
    nodes = site.nodes()
    assert {n["groupName"] for n in nodes.values()} == {"brewlab_launch", "cold_brew_summer", "refs"}
    assert len([k for k in nodes if not k.startswith("refs/")]) == 20
    assert {POSTER_DE, STORY_DE, BANNER_DE, "cold_brew_summer/summer_banner/summer_banner_en_1024x1024",
            "brewlab_launch/launch_poster/launch_poster_zh-CN_1536x1024", HERO, LOFT, BOTTLE} <= set(nodes)

    def deps(key: str) -> set[str]:
        return {"/".join(d["path"]) for d in nodes[key]["dependencyKeys"]}

    assert deps(LOFT) == {HERO}
    assert deps(STORY_DE) == {POSTER_DE}  # render pairs with the 1024x1536 poster of its locale
    assert deps(THUMB_DE) == {BANNER_DE}
    assert deps(BOTTLE) == {PRODUCT_REF, "refs/bg_mask.png"}
    assert deps(HERO) == set()
    assert {"/".join(d["path"]) for d in nodes[PRODUCT_REF]["dependedByKeys"]} == {BOTTLE}
    ref = nodes[PRODUCT_REF]
    assert ref["isObservable"] and not ref["isMaterializable"] and ref["groupName"] == "refs"

    poster = nodes[POSTER_DE]
    assert poster["groupName"] == "brewlab_launch"
    assert set(poster["kinds"]) == {"openai", "png"}
    assert set(nodes[STORY_DE]["kinds"]) == {"render", "jpeg"}
    assert set(nodes[THUMB_DE]["kinds"]) == {"render", "webp"}
    assert poster["owners"] == [{"team": "brand"}] and nodes[BOTTLE]["owners"] == [{"team": "growth"}]
    tags = {t["key"]: t["value"] for t in poster["tags"] if not t["key"].startswith("dagster/")}
    assert tags == {"locale": "de", "size": "1024x1536", "operation": "generate"}
    assert poster["description"].startswith("Launch poster with the localized headline and tagline")
    assert "**Prompt:** A minimalist poster reading \"Gebrüht für Macher\"" in poster["description"]
    assert "`Gebrüht für Macher`" in poster["description"]  # the expected text
    assert re.search(r"Defined at `campaigns/brewlab_launch\.yaml:\d+`", poster["description"])
    assert all(n["hasAssetChecks"] for k, n in nodes.items() if not k.startswith("refs/"))


def test_code_versions_are_the_plan_recipes_and_a_build_leaves_everything_fresh(site):
    from pipelines.orchestration.keys import variant_key
    from pipelines.plan.project import Project

    site.settle()
    project = Project.load(site.catalog)
    recipes = project.planner().recipes(project.variants)
    nodes = site.nodes()
    for v in project.variants:
        assert nodes["/".join(variant_key(v).path)]["opVersion"] == recipes[v.key], v.key
    # the build recorded each ref's hash as its data version before the run
    for ref in (PRODUCT_REF, "refs/bg_mask.png"):
        digest = hashlib.sha256((site.catalog / ref).read_bytes()).hexdigest()
        assert nodes[ref]["dataVersion"] == digest
    assert {n["staleStatus"] for n in nodes.values()} == {"FRESH"}


def test_cli_builds_are_runs_in_the_ui(site):
    data = site.ui.graphql.query(
        """{ runsOrError(filter: {tags: [{key: "assetpipe/source", value: "cli"}]}) {
             __typename ... on Runs { results { runId status jobName assetSelection { path } } } } }""")
    runs = data["runsOrError"]["results"]
    assert runs and all(r["status"] == "SUCCESS" and r["jobName"] == "assetpipe_build" for r in runs)
    first = runs[-1]  # newest first: the last one is the module's initial build of all 20 variants
    assert len(first["assetSelection"]) == 20


# -- what a materialization carries --------------------------------------------------------------


def test_materialization_metadata_has_preview_prompt_vendor_cost_and_provenance(site):
    site.settle()
    rows = plan_json(site.catalog, env=site.env)
    node = site.ui.graphql.query(
        """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
             assetMaterializations(limit: 1) { metadataEntries { label __typename
               ... on TextMetadataEntry { text } ... on MarkdownMetadataEntry { mdStr }
               ... on PathMetadataEntry { path } ... on FloatMetadataEntry { floatValue }
               ... on BoolMetadataEntry { boolValue } } } } } }""",
        {"key": {"path": POSTER_DE.split("/")}})["assetNodeOrError"]
    entries = node["assetMaterializations"][0]["metadataEntries"]
    kinds = {e["label"]: e["__typename"] for e in entries}
    meta = {e["label"]: next(v for f, v in e.items() if f not in ("label", "__typename")) for e in entries}
    assert [e["label"] for e in entries][:2] == ["preview", "preview_256px"]  # shown on top

    # a thumbnail the asset page shows inline: the UI inlines markdown under 1,000 characters
    md = meta["preview"]
    assert kinds["preview"] == "MarkdownMetadataEntry" and len(md) < 1000
    match = re.fullmatch(r"!\[preview\]\(data:image/webp;base64,([A-Za-z0-9+/=]+)\)", md)
    assert match, md[:80]
    thumb = Image.open(io.BytesIO(base64.b64decode(match.group(1))))
    assert 48 <= max(thumb.size) <= 96 and thumb.size[1] > thumb.size[0]  # a portrait poster, small

    row = rows["brewlab_launch/launch_poster/de/1024x1536"]
    assert meta["prompt"] == plan_prompt(site, row) and "Gebrüht für Macher" in meta["prompt"]
    assert (meta["vendor"], meta["model"], meta["size"], meta["quality"]) == ("openai", "gpt-image-2",
                                                                              "1024x1536", "medium")
    for label in ("cost_usd", "original_cost_usd", "latency_s"):
        assert kinds[label] == "FloatMetadataEntry", label  # numeric: the UI plots it over time
    assert kinds["cached"] == "BoolMetadataEntry"
    if meta["cached"]:
        assert meta["cost_usd"] == 0.0 and meta["original_cost_usd"] > 0
    else:
        assert meta["cost_usd"] == meta["original_cost_usd"] > 0
    assert re.fullmatch(r"req_[0-9a-f]{24}", meta["request_id"])  # the vendor's, for its support desk
    path = Path(meta["path"])
    assert kinds["path"] == "PathMetadataEntry" and path == site.catalog / "out" / row["campaign"] / \
        row["asset"] / "de" / "1024x1536.png"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["sha256"]
    assert meta["cache_key"] == row["cache_key"]


def plan_prompt(site: Site, row: dict) -> str:
    from pipelines.plan.project import Project

    return next(v.prompt for v in Project.load(site.catalog).variants if v.key == row["key"])


def test_every_variant_has_a_passed_image_check(site):
    site.settle()
    gql = site.ui.graphql
    for key in (POSTER_DE, STORY_DE, BOTTLE, THUMB_DE):
        checks = gql.asset_checks(key.split("/"))
        assert [c["name"] for c in checks] == ["image_ok"], key  # text_ok is off in this catalog
        run = checks[0]["executionForLatestMaterialization"]
        assert run["status"] == "SUCCEEDED" and run["evaluation"]["success"], key


# -- staleness in the UI is `assetpipe plan` -----------------------------------------------------


def test_a_prompt_edit_makes_the_same_variants_stale_as_plan_says(site):
    site.settle()
    spec = site.catalog / "campaigns" / "brewlab_launch.yaml"
    spec.write_text(spec.read_text().replace("Product photo of a ceramic mug",
                                             f"Product photo of a ceramic mug ({_token()})", 1))
    site.reload()  # the documented step: a code location reads the catalog when it loads
    assert site.not_fresh() == {HERO, LOFT}  # the edit reaches the edit of the hero too
    nodes = site.nodes()
    assert (HERO, "CODE") in _causes(nodes[HERO]) and (LOFT, "CODE") in _causes(nodes[LOFT])
    site.settle()


def test_a_locale_string_edit_makes_the_same_variants_stale_as_plan_says(site):
    site.settle()
    strings = site.catalog / "locales" / "de.yaml"
    strings.write_text(strings.read_text().replace("headline: Gebrüht für Macher",
                                                   f"headline: Gebrüht für Macher {_token()}", 1))
    site.reload()
    assert site.not_fresh() == {POSTER_DE, POSTER_DE_WIDE, STORY_DE}
    site.settle()


def test_a_ref_edit_is_observed_by_the_next_build_and_makes_the_same_variants_stale(site):
    site.settle()
    ref = site.catalog / PRODUCT_REF
    img = Image.open(ref).convert("RGB")
    img.putpixel((0, 0), tuple(int(_token()[i:i + 2], 16) for i in (0, 2, 4)))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    ref.write_bytes(buf.getvalue())
    digest = hashlib.sha256(buf.getvalue()).hexdigest()

    # Any build records the new hash before its run, even one that does not build the dependant:
    # the UI shows the dependant stale without a reload, for a DATA reason.
    site.build("--refresh", "--select", "cold_brew_summer/summer_banner/de/1536x1024")
    nodes = site.nodes()
    assert nodes[PRODUCT_REF]["dataVersion"] == digest
    assert nodes[BOTTLE]["staleStatus"] == "STALE" and (PRODUCT_REF, "DATA") in _causes(nodes[BOTTLE])

    site.reload()  # now the code version (the recipe names the ref's hash) moved too
    assert site.not_fresh() == {BOTTLE, THUMB_DE}  # and the refreshed banner's rendition
    site.settle()
    assert site.nodes()[PRODUCT_REF]["dataVersion"] == digest


def test_an_upstream_rebuilt_with_refresh_makes_its_dependants_stale_as_plan_says(site):
    site.settle()
    before = site.nodes()[HERO]["dataVersion"]
    site.build("--refresh", "--select", "brewlab_launch/mug_hero")
    nodes = site.nodes()  # no reload: nothing in the spec changed, the data did
    assert nodes[HERO]["dataVersion"] != before  # a new take: new bytes
    assert nodes[LOFT]["staleStatus"] == "STALE" and (HERO, "DATA") in _causes(nodes[LOFT])
    assert site.not_fresh() == {LOFT}
    site.settle()


# -- no secret anywhere the UI reads -------------------------------------------------------------


def test_the_api_key_is_nowhere_in_the_instance_the_ui_or_its_logs(site):
    site.settle()
    seen = json.dumps(site.ui.graphql.asset_nodes())
    run_ids = [r["runId"] for r in site.ui.graphql.query(
        "{ runsOrError { ... on Runs { results { runId } } } }")["runsOrError"]["results"]]
    for run_id in run_ids:
        seen += json.dumps(site.ui.graphql.query(
            """query($id: ID!) { logsForRun(runId: $id) { __typename
                 ... on EventConnection { events { __typename ... on MessageEvent { message } } } } }""",
            {"id": run_id}))
    assert run_ids and seen.count('"message": "') > 50  # the logs were really read
    assert TEST_KEY not in seen
    for f in site.catalog.joinpath(".assetpipe").rglob("*"):
        if f.is_file():
            assert TEST_KEY.encode() not in f.read_bytes(), f


# -- in a browser ----------------------------------------------------------------------------------


@pytest.mark.browser
def test_browser_shows_the_campaign_graph_with_readable_variant_names(site, chromium):
    site.settle()
    # tall enough that the graph (drawn only where the viewport is) shows the whole campaign
    page = open_page(chromium, f"{site.ui.url}/locations/{LOCATION}/asset-groups/brewlab_launch/lineage",
                     wait_for="text=mug_loft", width=1600, height=1800)
    try:
        for name in ("mug_hero", "mug_loft", "launch_poster_de_1024x1536", "poster_story_de"):
            assert page.get_by_text(name, exact=True).count() == 1, name
        assert page.get_by_text("Materialized").count() >= 4  # the node status rows filled in
        assert page.get_by_text(re.compile(r"^openai$", re.I)).count() >= 7  # kind badges (Dagster: "OpenAI")
    finally:
        page.context.close()


@pytest.mark.browser
def test_browser_shows_the_inline_preview_on_the_asset_page(site, chromium):
    site.settle()
    page = open_page(chromium, f"{site.ui.url}/assets/{POSTER_DE}", wait_for="img[alt=preview]")
    try:
        img = page.evaluate("""() => { const i = document.querySelector('img[alt=preview]');
                                       return [i.complete, i.naturalWidth, i.naturalHeight, i.src.slice(0, 23)]; }""")
        complete, width, height, prefix = img
        assert complete and prefix == "data:image/webp;base64,"
        assert 0 < width < height <= 96  # decoded: a small portrait thumbnail
        assert page.get_by_text("gpt-image-2", exact=True).count() >= 1  # the metadata table
        assert not page.get_by_text("Join the Dagster community").is_visible()  # nux is off
    finally:
        page.context.close()
