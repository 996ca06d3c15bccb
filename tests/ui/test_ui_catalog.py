"""The example catalog in a real webserver (assetpipe's: Dagster's plus the catalog's images), as
the team sees it: one asset per catalog asset with its variants as partitions, exact lineage,
materialization metadata with a readable preview, per-variant checks, each schedule on its own
campaign, and per-variant status that agrees with `assetpipe plan`.

One webserver serves the module, on a copy of the example catalog built through the OpenAI
emulator (whose takes differ from call to call, so a --refresh really changes the bytes). Each
staleness test starts from "everything fresh", makes one edit nobody made before (never a revert),
compares the UI with `assetpipe plan`, then builds until both say fresh again, so the tests hold
in any order.
"""

from __future__ import annotations

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

import httpx
import pytest
from PIL import Image

from tests.helpers.browser import open_page
from tests.helpers.catalogs import copy_example
from tests.helpers.cli import plan_json, run_cli
from tests.helpers.paths import ROOT
from tests.helpers.vendors import TEST_KEY, use_openai
from tests.helpers.webserver import ASSETPIPE_WEBSERVER, Webserver, start_webserver

pytestmark = pytest.mark.slow

LOCATION = "assetpipe"  # the repository's workspace.yaml names it so, as `assetpipe ui` does
# Dagster's SQLite event log fsyncs several times per event; on tmpfs a build takes half the time.
FAST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None

HERO = "brewlab_launch/mug_hero/default"
LOFT = "brewlab_launch/mug_loft/default"
POSTER = ["brewlab_launch", "launch_poster"]
POSTER_DE = "brewlab_launch/launch_poster/de/1024x1536"
POSTER_DE_WIDE = "brewlab_launch/launch_poster/de/1536x1024"
STORY_DE = "brewlab_launch/poster_story/de"
BOTTLE = "cold_brew_summer/bottle_on_table/default"
THUMB_DE = "cold_brew_summer/banner_thumb/de/1536x1024"
PRODUCT_REF = "refs/product.png"
ASSETS = {"brewlab_launch/mug_hero", "brewlab_launch/launch_poster", "brewlab_launch/mug_loft",
          "brewlab_launch/poster_story", "cold_brew_summer/bottle_on_table", "cold_brew_summer/summer_banner",
          "cold_brew_summer/banner_thumb"}


@dataclass
class Site:
    catalog: Path
    env: dict[str, str]
    ui: Webserver

    def build(self, *args: str) -> str:
        code, out, err = run_cli("build", *args, catalog=self.catalog, env=self.env)
        assert code == 0, out + err
        return out

    def reload(self) -> None:
        """What `assetpipe ui` does when the catalog changes on disk: record each variant's plan
        status, then reload the code location."""
        from pipelines.orchestration.plan_checks import sync_catalog
        from pipelines.orchestration.watch import CatalogWatch

        watch = CatalogWatch(self.catalog, self.ui.graphql.url, LOCATION, sync=sync_catalog)
        watch.sync()
        self.ui.graphql.reload_location(LOCATION)

    def nodes(self) -> dict[str, dict]:
        return self.ui.graphql.asset_nodes_by_key()

    def ui_state(self) -> dict[str, str]:
        """Variant key -> the UI's word for it: missing (a partition never materialized), changed
        (its `plan` check failed), else fresh."""
        state = {}
        for asset in ASSETS:
            parts = self.ui.graphql.partitions(asset.split("/"))
            failed = parts["checks"]["plan"].get("failedPartitions", set())
            for pk in parts["keys"]:
                state[f"{asset}/{pk}"] = ("missing" if pk not in parts["materialized"]
                                          else "changed" if pk in failed else "fresh")
        return state

    def plan_state(self) -> dict[str, str]:
        return {key: row["status"] for key, row in plan_json(self.catalog, env=self.env).items()}

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


@pytest.fixture(scope="module")
def site(session_openai):
    root = Path(tempfile.mkdtemp(prefix="assetpipe-ui-", dir=FAST_TMP))
    ui = None
    try:
        cat = copy_example(root / "catalog")
        env = use_openai(cat, session_openai)
        code, out, err = run_cli("build", catalog=cat, env=env)
        assert code == 0, out + err
        ui = start_webserver(["-w", str(ROOT / "workspace.yaml")], cat / ".assetpipe" / "dagster",
                             env={"ASSETPIPE_CATALOG": str(cat), **env}, cwd=ROOT, server=ASSETPIPE_WEBSERVER)
        yield Site(cat, env, ui)
    finally:
        if ui is not None:
            ui.stop()
        shutil.rmtree(root, ignore_errors=True)


def _token() -> str:
    return uuid.uuid4().hex[:8]


def _latest(site: Site, key: list[str], partition: str) -> dict:
    """The latest materialization of one variant, its metadata as {label: value}."""
    from tests.helpers.webserver import latest_metadata

    node = site.ui.graphql.query(
        """query($key: AssetKeyInput!, $p: [String!]) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
             assetMaterializations(partitions: $p, limit: 1) { partition runId metadataEntries { label __typename
               ... on TextMetadataEntry { text } ... on MarkdownMetadataEntry { mdStr }
               ... on PathMetadataEntry { path } ... on FloatMetadataEntry { floatValue }
               ... on BoolMetadataEntry { boolValue } } } } } }""",
        {"key": {"path": key}, "p": [partition]})["assetNodeOrError"]
    mat = node["assetMaterializations"][0]
    assert mat["partition"] == partition
    return {"labels": [e["label"] for e in mat["metadataEntries"]],
            "kinds": {e["label"]: e["__typename"] for e in mat["metadataEntries"]}, **latest_metadata(mat)}


# -- the graph and the definitions ---------------------------------------------------------------


def test_graph_has_an_asset_per_catalog_asset_with_its_variants_as_partitions_and_every_edge(site):
    from pipelines.plan.project import Project

    nodes = site.nodes()
    assert {n["groupName"] for n in nodes.values()} == {"brewlab_launch", "cold_brew_summer", "refs"}
    assert {k for k in nodes if not k.startswith("refs/")} == ASSETS

    def deps(key: str) -> set[str]:
        return {"/".join(d["path"]) for d in nodes[key]["dependencyKeys"]}

    assert deps("brewlab_launch/mug_loft") == {"brewlab_launch/mug_hero"}
    assert deps("brewlab_launch/poster_story") == {"brewlab_launch/launch_poster"}
    assert deps("cold_brew_summer/banner_thumb") == {"cold_brew_summer/summer_banner"}
    assert deps("cold_brew_summer/bottle_on_table") == {PRODUCT_REF, "refs/bg_mask.png"}
    assert deps("brewlab_launch/mug_hero") == set()
    ref = nodes[PRODUCT_REF]
    assert ref["isObservable"] and not ref["isMaterializable"] and ref["groupName"] == "refs"

    # every variant of the plan is a partition of its asset
    variants = {v.key for v in Project.load(site.catalog).variants}
    partitions = {f"{a}/{pk}" for a in ASSETS for pk in site.ui.graphql.partitions(a.split("/"))["keys"]}
    assert partitions == variants and len(variants) == 20

    poster = nodes["brewlab_launch/launch_poster"]
    assert set(poster["kinds"]) == {"openai", "png"} and poster["owners"] == [{"team": "brand"}]
    assert set(nodes["brewlab_launch/poster_story"]["kinds"]) == {"render", "jpeg"}
    assert nodes["cold_brew_summer/bottle_on_table"]["owners"] == [{"team": "growth"}]
    assert poster["description"].startswith("Launch poster with the localized headline and tagline")
    assert re.search(r"Defined at `campaigns/brewlab_launch\.yaml:\d+`", poster["description"])
    assert all(n["hasAssetChecks"] for k, n in nodes.items() if not k.startswith("refs/"))


def test_a_rendition_depends_on_exactly_the_upstream_variant_it_was_paired_with(site):
    # render `where: {size: 1024x1536}`: story de <- poster de/1024x1536, nothing else
    node = site.ui.graphql.query(
        """{ assetNodeOrError(assetKey: {path: ["brewlab_launch", "poster_story"]}) { ... on AssetNode {
             dependencies { asset { assetKey { path } } partitionMapping { className description } } } } }""")
    [dep] = node["assetNodeOrError"]["dependencies"]
    assert dep["partitionMapping"]["className"] == "StaticPartitionMapping"
    for locale in ("en", "de", "zh-CN"):
        assert re.search(rf"'{locale}/1024x1536': '{locale}'", dep["partitionMapping"]["description"]) or \
            f"{locale}/1024x1536" in dep["partitionMapping"]["description"]


def test_each_schedule_is_listed_on_its_own_campaign_only(site):
    # issue 15: the one schedule (brewlab_launch's) was listed on every asset of every campaign
    data = site.ui.graphql.query("""{ assetNodes { assetKey { path }
        targetingInstigators { __typename ... on Schedule { name } } } }""")["assetNodes"]
    listed = {"/".join(n["assetKey"]["path"]): {i["name"] for i in n["targetingInstigators"] if i["__typename"] == "Schedule"}
              for n in data}
    assert {k for k, s in listed.items() if s} == {a for a in ASSETS if a.startswith("brewlab_launch/")}
    assert set().union(*listed.values()) == {"brewlab_launch_schedule"}


def test_cli_builds_are_runs_in_the_ui(site):
    data = site.ui.graphql.query(
        """{ runsOrError(filter: {tags: [{key: "assetpipe/source", value: "cli"}]}) {
             __typename ... on Runs { results { runId status tags { key value } assetSelection { path } } } } }""")
    runs = data["runsOrError"]["results"]
    assert runs and all(r["status"] == "SUCCESS" for r in runs)
    first = runs[-1]  # newest first: the last one is the module's initial build of all 20 variants
    assert len(first["assetSelection"]) == 7
    assert {"key": "assetpipe/variants", "value": "20"} in first["tags"]


# -- what a materialization carries --------------------------------------------------------------


def test_materialization_metadata_has_a_readable_preview_prompt_vendor_cost_and_provenance(site):
    site.settle()
    row = plan_json(site.catalog, env=site.env)[POSTER_DE]
    meta = _latest(site, POSTER, "de/1024x1536")
    assert meta["labels"][0] == "preview"  # shown on top

    # issue 15: a preview large enough to read a headline, the full image one click away
    md = meta["preview"]
    match = re.fullmatch(r"\[!\[preview\]\((/assetpipe/preview/[0-9a-f]{64})\)\]\((/assetpipe/image/([0-9a-f]{64}))\)", md)
    assert match and len(md) < 1000, md  # short enough for the UI to render inline
    preview = httpx.get(site.ui.url + match.group(1), timeout=30)
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(preview.content)).size == (256, 384)  # a portrait poster, readable
    full = httpx.get(site.ui.url + match.group(2), timeout=30)
    assert full.headers["content-type"] == "image/png" and hashlib.sha256(full.content).hexdigest() == match.group(3)
    assert match.group(3) == meta["sha256"]

    assert meta["prompt"] == plan_prompt(site, POSTER_DE) and "Gebrüht für Macher" in meta["prompt"]
    assert (meta["vendor"], meta["model"], meta["size"], meta["quality"]) == ("openai", "gpt-image-2",
                                                                              "1024x1536", "medium")
    for label in ("cost_usd", "original_cost_usd", "latency_s"):
        assert meta["kinds"][label] == "FloatMetadataEntry", label  # numeric: the UI plots it over time
    assert meta["kinds"]["cached"] == "BoolMetadataEntry"
    if meta["cached"]:
        assert meta["cost_usd"] == 0.0 and meta["original_cost_usd"] > 0
    else:
        assert meta["cost_usd"] == meta["original_cost_usd"] > 0
    assert re.fullmatch(r"req_[0-9a-f]{24}", meta["request_id"])  # the vendor's, for its support desk
    path = Path(meta["path"])
    assert meta["kinds"]["path"] == "PathMetadataEntry"
    assert path == site.catalog / "out" / "brewlab_launch" / "launch_poster" / "de" / "1024x1536.png"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["sha256"]
    assert meta["cache_key"] == row["cache_key"]
    assert "`Gebrüht für Macher`" not in meta["expected_text"] and "Gebrüht für Macher" in meta["expected_text"]


def test_the_image_routes_serve_only_images_of_the_store(site):
    for path in ("/assetpipe/image/" + "0" * 64, "/assetpipe/preview/" + "0" * 64, "/assetpipe/image/..%2Fcatalog.yaml"):
        assert httpx.get(site.ui.url + path, timeout=30).status_code == 404, path


def plan_prompt(site: Site, key: str) -> str:
    from pipelines.plan.project import Project

    return next(v.prompt for v in Project.load(site.catalog).variants if v.key == key)


def test_every_variant_has_a_passed_image_check_and_a_plan_check(site):
    site.settle()
    for asset in ASSETS:
        parts = site.ui.graphql.partitions(asset.split("/"))
        assert set(parts["checks"]) == {"image_ok", "plan"}, asset  # text_ok is off in this catalog
        assert parts["checks"]["image_ok"]["succeededPartitions"] == set(parts["keys"]), asset
        assert not parts["checks"]["plan"]["failedPartitions"], asset


# -- per-variant status in the UI is `assetpipe plan` --------------------------------------------


def test_a_prompt_edit_makes_the_same_variants_changed_as_plan_says(site):
    site.settle()
    spec = site.catalog / "campaigns" / "brewlab_launch.yaml"
    spec.write_text(spec.read_text().replace("Product photo of a ceramic mug",
                                             f"Product photo of a ceramic mug ({_token()})", 1))
    site.reload()  # what `assetpipe ui` does by itself when a file of the catalog changes
    assert site.not_fresh() == {HERO, LOFT}  # the edit reaches the edit of the hero too
    why = _plan_evaluation(site, ["brewlab_launch", "mug_loft"], "default")
    assert why["status"] == "changed" and "upstream brewlab_launch/mug_hero/default" in why["why"]
    site.settle()


def _plan_evaluation(site: Site, key: list[str], partition: str) -> dict:
    """The metadata of a variant's latest `plan` evaluation (what the UI's check page lists)."""
    from dagster import AssetCheckKey, AssetKey, DagsterInstance

    with DagsterInstance.from_config(str(site.catalog / ".assetpipe" / "dagster")) as inst:
        history = inst.event_log_storage.get_asset_check_execution_history(AssetCheckKey(AssetKey(key), "plan"), limit=5)
        latest = next(h for h in history if h.partition == partition)
        return {k: v.value for k, v in latest.event.dagster_event.event_specific_data.metadata.items()}


def test_a_locale_string_edit_makes_the_same_variants_changed_as_plan_says(site):
    site.settle()
    strings = site.catalog / "locales" / "de.yaml"
    strings.write_text(strings.read_text().replace("headline: Gebrüht für Macher",
                                                   f"headline: Gebrüht für Macher {_token()}", 1))
    site.reload()
    assert site.not_fresh() == {POSTER_DE, POSTER_DE_WIDE, STORY_DE}
    site.settle()


def test_a_ref_edit_is_seen_by_the_next_build_without_a_reload(site):
    site.settle()
    ref = site.catalog / PRODUCT_REF
    img = Image.open(ref).convert("RGB")
    img.putpixel((0, 0), tuple(int(_token()[i:i + 2], 16) for i in (0, 2, 4)))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    ref.write_bytes(buf.getvalue())
    digest = hashlib.sha256(buf.getvalue()).hexdigest()

    # Any build records the new hash and brings every variant's plan check in line after its run,
    # even one that does not build the dependant: the UI shows it changed without a reload.
    site.build("--refresh", "--select", "cold_brew_summer/summer_banner/de/1536x1024")
    assert site.nodes()[PRODUCT_REF]["dataVersion"] == digest
    assert site.not_fresh() == {BOTTLE, THUMB_DE}  # and the refreshed banner's rendition
    site.settle()
    assert site.nodes()[PRODUCT_REF]["dataVersion"] == digest


def test_an_upstream_rebuilt_with_refresh_makes_its_dependants_changed_as_plan_says(site):
    site.settle()
    before = _latest(site, ["brewlab_launch", "mug_hero"], "default")["sha256"]
    site.build("--refresh", "--select", "brewlab_launch/mug_hero")
    assert _latest(site, ["brewlab_launch", "mug_hero"], "default")["sha256"] != before  # a new take
    assert site.not_fresh() == {LOFT}  # no reload: nothing in the spec changed, the data did
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
def test_browser_shows_the_campaign_graph_with_its_catalog_assets(site, chromium):
    site.settle()
    page = open_page(chromium, f"{site.ui.url}/locations/{LOCATION}/asset-groups/brewlab_launch/lineage",
                     wait_for="text=mug_loft", width=1600, height=1200)
    try:
        for name in ("mug_hero", "mug_loft", "launch_poster", "poster_story"):
            assert page.get_by_text(name, exact=True).count() == 1, name
        assert page.get_by_text("6 partitions").count() == 1 and page.get_by_text("3 partitions").count() == 1
        assert page.get_by_text(re.compile(r"^openai$", re.I)).count() >= 2  # kind badges (Dagster: "OpenAI")
    finally:
        page.context.close()


@pytest.mark.browser
def test_browser_shows_a_readable_preview_of_a_variant_linked_to_the_full_image(site, chromium):
    # issue 15: the inline preview was ~50 px wide
    site.settle()
    url = f"{site.ui.url}/assets/{'/'.join(POSTER)}?view=partitions&partition=de%2F1024x1536"
    page = open_page(chromium, url, wait_for="img[alt=preview]")
    try:
        page.wait_for_function("() => document.querySelector('img[alt=preview]').complete")
        width, height, href = page.evaluate("""() => { const i = document.querySelector('img[alt=preview]');
            return [i.naturalWidth, i.getBoundingClientRect().height, i.closest('a').getAttribute('href')]; }""")
        assert width == 256 and height >= 300  # drawn at its size: the headline reads
        assert re.fullmatch(r"/assetpipe/image/[0-9a-f]{64}", href)
        assert page.get_by_text("gpt-image-2", exact=True).count() >= 1  # the metadata table
        page.click("img[alt=preview]")
        page.wait_for_url(re.compile(r"/assetpipe/image/[0-9a-f]{64}$"))
        assert page.evaluate("() => document.images[0].naturalWidth") == 1024  # the full image
    finally:
        page.context.close()
