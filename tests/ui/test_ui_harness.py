"""The UI harness on a throwaway code location (tests/ui/fixtures/tiny_defs.py): a real webserver,
GraphQL for lineage, code versions and staleness before and after a spec edit, and a browser."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from tests.helpers.browser import open_page, screenshot

TINY = Path(__file__).parent / "fixtures" / "tiny_defs.py"
LOCATION = TINY.name  # a -f code location is named after its file


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def tiny(tmp_path, monkeypatch, dagster_webserver):
    """The tiny location served from a fresh instance, with its spec and ref file in tmp_path."""
    spec, ref = tmp_path / "spec.json", tmp_path / "ref.txt"
    spec.write_text(json.dumps({"hero": "a mug", "loft": "in a loft"}))
    ref.write_text("ref v1")
    env = {"TINY_SPEC": str(spec), "TINY_REF": str(ref)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    ui = dagster_webserver(["-f", str(TINY)], dagster_home=tmp_path / "home", env=env)
    monkeypatch.setenv("DAGSTER_HOME", str(ui.dagster_home))
    return ui, spec, ref


def _load_defs_module():
    """Import tiny_defs afresh (it reads $TINY_SPEC at import, as a code location does at load)."""
    name = f"tiny_defs_{id(object())}"
    spec = importlib.util.spec_from_file_location(name, TINY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _materialize_all():
    import dagster as dg

    mod = _load_defs_module()
    with dg.DagsterInstance.get() as instance:  # the same sqlite instance the webserver reads
        result = dg.materialize([mod.product_ref, mod.variants], instance=instance, selection=[mod.HERO, mod.LOFT])
    assert result.success


def _observe_ref(data_version: str):
    # What a CLI process does to record a ref file's new hash: a runless observation.
    import dagster as dg
    from dagster._core.definitions.data_version import (
        DATA_VERSION_IS_USER_PROVIDED_TAG,
        DATA_VERSION_TAG,
    )

    with dg.DagsterInstance.get() as instance:
        instance.report_runless_asset_event(
            dg.AssetObservation(
                asset_key=["refs", "product"],
                tags={DATA_VERSION_TAG: data_version, DATA_VERSION_IS_USER_PROVIDED_TAG: "true"},
            )
        )


def _causes(node):
    return {("/".join(c["key"]["path"]), c["category"], c["reason"]) for c in node["staleCauses"]}


@pytest.mark.slow
def test_graphql_lineage_versions_and_staleness_across_a_spec_edit(tiny):
    ui, spec, _ref = tiny
    gql = ui.graphql
    assert [e["name"] for e in gql.locations()] == [LOCATION]

    nodes = gql.asset_nodes_by_key()
    assert set(nodes) == {"refs/product", "tiny/hero", "tiny/loft"}
    hero, loft, ref = nodes["tiny/hero"], nodes["tiny/loft"], nodes["refs/product"]
    assert ref["isObservable"] and not ref["isMaterializable"]
    assert {"/".join(k["path"]) for k in loft["dependencyKeys"]} == {"tiny/hero", "refs/product"}
    assert hero["groupName"] == loft["groupName"] == "tiny"
    assert hero["opVersion"] == _sha("a mug")
    assert hero["owners"] == [{"team": "brand"}] and "image" in hero["kinds"]
    assert (hero["staleStatus"], loft["staleStatus"]) == ("MISSING", "MISSING")
    assert ref["dataVersion"] == "INITIAL"  # never observed: an external asset is assumed to exist

    _materialize_all()
    nodes = gql.asset_nodes_by_key()
    hero, loft = nodes["tiny/hero"], nodes["tiny/loft"]
    assert (hero["staleStatus"], loft["staleStatus"]) == ("FRESH", "FRESH")
    assert hero["dataVersion"] == _sha("a mug")
    assert hero["latest_metadata"]["prompt"] == "a mug"
    assert hero["latest_metadata"]["preview"].startswith("![preview](data:image/png;base64,")

    # A spec edit of the edit variant: only it goes stale, for a CODE reason.
    spec.write_text(json.dumps({"hero": "a mug", "loft": "in a sunlit loft"}))
    gql.reload_location(LOCATION)
    nodes = gql.asset_nodes_by_key()
    hero, loft = nodes["tiny/hero"], nodes["tiny/loft"]
    assert loft["opVersion"] == _sha("in a sunlit loft")
    assert hero["staleStatus"] == "FRESH"
    assert loft["staleStatus"] == "STALE"
    assert _causes(loft) == {("tiny/loft", "CODE", "has a new code version")}

    # A new hash of the ref file, recorded without a run: the edit is stale for a DATA reason too.
    _observe_ref(_sha("ref v2"))
    loft = gql.asset_nodes_by_key()["tiny/loft"]
    assert ("refs/product", "DATA", "has a new data version") in _causes(loft)

    # An upstream spec edit: staleness does not flow down until the upstream is rebuilt with a
    # new data version (Dagster compares the data versions recorded in loft's provenance).
    spec.write_text(json.dumps({"hero": "a big mug", "loft": "in a loft"}))
    gql.reload_location(LOCATION)
    nodes = gql.asset_nodes_by_key()
    assert _causes(nodes["tiny/hero"]) == {("tiny/hero", "CODE", "has a new code version")}
    assert ("tiny/hero", "CODE", "has a new code version") not in _causes(nodes["tiny/loft"])

    _materialize_all()
    nodes = gql.asset_nodes_by_key()
    assert (nodes["tiny/hero"]["staleStatus"], nodes["tiny/loft"]["staleStatus"]) == ("FRESH", "FRESH")


@pytest.mark.slow
def test_a_broken_location_fails_fast_with_its_error(tmp_path, dagster_webserver):
    bad = tmp_path / "bad_defs.py"
    bad.write_text("raise RuntimeError('catalog is broken: spec.yaml:3: unknown field')\n")
    with pytest.raises(RuntimeError, match="catalog is broken"):
        dagster_webserver(["-f", str(bad)], dagster_home=tmp_path / "home", timeout_s=60)


@pytest.mark.slow
@pytest.mark.browser
def test_browser_shows_the_graph_and_the_inline_preview(tiny, chromium, tmp_path):
    ui, _spec, _ref = tiny
    _materialize_all()

    graph = open_page(chromium, ui.url + "/asset-groups", wait_for="text=loft")
    for name in ("hero", "loft", "product"):
        assert graph.get_by_text(name, exact=True).count() >= 1, name
    assert graph.get_by_text("Materialized").count() == 2  # node status rows have filled in
    screenshot(graph, tmp_path / "graph.png")
    graph.context.close()

    page = open_page(chromium, ui.url + "/assets/tiny/hero", wait_for="img[alt=preview]")
    size = page.evaluate("() => { const i = document.querySelector('img[alt=preview]'); "
                         "return [i.naturalWidth, i.naturalHeight, i.src.slice(0, 22)]; }")
    assert size == [96, 64, "data:image/png;base64,"]
    assert screenshot(page, tmp_path / "hero.png").stat().st_size > 10_000
    # The dialog was dismissed (Skip persists that in the instance) and is not shown again.
    assert not page.get_by_text("Join the Dagster community").is_visible()
    assert (ui.dagster_home / ".nux" / "nux.yaml").exists()
    page.context.close()
