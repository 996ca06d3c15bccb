"""Cache keys and plan statuses: what is in the key (everything that decides the image) and what is
not (the vendor serving the model), fresh / missing / changed and the reasons a plan gives."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pipelines.plan.plan import Planned
from pipelines.plan.project import Project
from tests.helpers.catalogs import write_catalog

SETTINGS = """
    check_text: "off"
    default_provider: openai
    providers:
      draft: {type: draft}
      openai: {type: openai, base_url: "http://127.0.0.1:9/v1", api_key_env: SOME_KEY}
      openai_b: {type: openai, base_url: "http://127.0.0.1:8/v1", api_key_env: OTHER_KEY, max_concurrency: 3}
      runapi: {type: runapi, base_url: "http://127.0.0.1:7", api_key_env: RUNAPI_KEY}
      eachlabs: {type: eachlabs, base_url: "http://127.0.0.1:6", api_key_env: EACHLABS_KEY}
    uploads: {target: .assetpipe/uploads, public_url: "https://cdn.example.com/refs"}
    """
BASE = {"prompt": "A ceramic mug", "size": "1024x1024", "quality": "medium"}


def asset_yaml(name: str, fields: dict) -> str:
    body = "".join(f"    {k}: {v!r}\n" if isinstance(v, str) and not v.startswith("{") else f"    {k}: {v}\n"
                   for k, v in fields.items())
    return f"  - name: {name}\n{body}"


def project(root: Path, assets: dict[str, dict], settings: str = SETTINGS, refs: dict | None = None) -> Project:
    campaign = "campaign: c\nassets:\n" + "".join(asset_yaml(n, f) for n, f in assets.items())
    files = {"catalog.yaml": settings, "campaigns/c.yaml": campaign, **(refs or {})}
    write_catalog(root, files)
    return Project.load(root)


def plan(p: Project) -> dict[str, Planned]:
    return {x.variant.asset: x for x in p.plan().items}


def record(p: Project, planned: Planned, data: bytes) -> str:
    """What a build leaves behind for one variant: its blob, its action record, its head."""
    blob = p.store.put_blob(data)
    p.store.put_action(planned.cache_key, {"cache_key": planned.cache_key, "blob": blob, "doc": planned.doc,
                                           "provider": planned.variant.provider, "cost_usd": 0.04})
    p.store.put_head(planned.variant.key, {"cache_key": planned.cache_key, "blob": blob, "doc": planned.doc})
    return blob


def test_the_vendor_serving_gpt_image_2_is_not_in_the_key(tmp_path):
    assets = {name: {**BASE, "provider": name} for name in ("openai", "openai_b", "runapi", "eachlabs")}
    keys = {k: x.cache_key for k, x in plan(project(tmp_path, assets)).items()}
    assert len(set(keys.values())) == 1, keys
    assert plan(project(tmp_path / "d", {"x": {**BASE, "provider": "draft"}}))["x"].cache_key not in keys.values()


def test_metadata_that_does_not_change_the_image_is_not_in_the_key(tmp_path):
    base = plan(project(tmp_path / "base", {"x": BASE}))["x"].cache_key
    other = plan(project(tmp_path / "meta", {"y": {**BASE, "description": "A hero shot", "owners": ["team:brand"],
                                                   "tags": {"tier": "gold"}}}))["y"].cache_key
    assert other == base  # nor the asset's name: the same request is the same image


@pytest.mark.parametrize("change", [
    {"prompt": "A ceramic mug on a table"},
    {"size": "1536x1024"},
    {"quality": "high"},
    {"background": "transparent"},
    {"output_format": "webp"},
    {"compression": 80},
    {"revision": 1},
    {"provider": "draft"},  # another model
], ids=lambda change: next(iter(change)))
def test_every_field_that_decides_the_image_changes_the_key(tmp_path, change):
    base = plan(project(tmp_path / "base", {"x": BASE}))["x"]
    changed = plan(project(tmp_path / "changed", {"x": {**BASE, **change}}))["x"]
    assert changed.cache_key != base.cache_key
    assert changed.recipe != base.recipe


def test_input_bytes_and_fidelity_change_an_edits_key(tmp_path):
    edit = {"prompt": "loft", "edit": "{image: refs/product.png}", "size": "1024x1024"}
    png = b""  # write_catalog: a real 1024x1024 PNG
    a = plan(project(tmp_path / "a", {"e": edit}, refs={"refs/product.png": png}))["e"]
    p2 = project(tmp_path / "b", {"e": edit}, refs={"refs/product.png": png})
    (tmp_path / "b" / "refs" / "product.png").write_bytes(
        (tmp_path / "b" / "refs" / "product.png").read_bytes() + b"\0")  # same name, other bytes
    b = plan(Project.load(p2.catalog.root))["e"]
    c = plan(project(tmp_path / "c", {"e": {**edit, "fidelity": "high"}}, refs={"refs/product.png": png}))["e"]
    renamed = plan(project(tmp_path / "d", {"e": {**edit, "edit": "{image: refs/other.png}"}},
                           refs={"refs/other.png": png}))["e"]
    assert len({a.cache_key, b.cache_key, c.cache_key}) == 3
    assert renamed.cache_key == a.cache_key  # the bytes count, not the file name
    digest = hashlib.sha256((tmp_path / "a" / "refs" / "product.png").read_bytes()).hexdigest()
    assert a.doc["inputs"] == [{"role": "image", "digest": f"sha256:{digest}"}]


def test_an_edit_is_keyed_on_its_upstreams_output(tmp_path):
    p = project(tmp_path, {"hero": BASE, "loft": {"prompt": "loft", "edit": "hero"}})
    before = plan(p)
    hero, loft = before["hero"], before["loft"]
    assert loft.doc["inputs"][0]["digest"] == f"key:{hero.cache_key}"  # not built yet: its key stands in

    blob_a = record(p, hero, b"take one")
    built = plan(p)
    assert built["hero"].status == "fresh"
    assert built["loft"].doc["inputs"][0]["digest"] == f"sha256:{blob_a}"
    assert built["loft"].cache_key != loft.cache_key
    assert built["loft"].recipe == loft.recipe  # the code version does not depend on what was built
    record(p, built["loft"], b"loft take")
    assert plan(p)["loft"].status == "fresh"

    record(p, built["hero"], b"take two")  # a paid retake (--refresh) of the same key
    after = plan(p)
    assert after["hero"].status == "fresh"
    assert after["loft"].status == "changed"
    assert after["loft"].reasons == ["upstream c/hero/default (rebuilt)"]


def test_statuses_and_the_reasons_a_plan_gives(tmp_path):
    root = tmp_path / "cat"
    p = project(root, {"x": BASE, "e": {"prompt": "loft", "edit": "{image: refs/product.png}"}},
                refs={"refs/product.png": b""})
    first = plan(p)
    assert [(x.status, x.reasons) for x in first.values()] == [("missing", ["never built"])] * 2
    assert all(x.est_cost > 0 for x in first.values())
    for x in first.values():
        record(p, x, x.variant.asset.encode())
    assert all(x.status == "fresh" and x.est_cost == 0 for x in plan(Project.load(root)).values())
    totals = Project.load(root).plan().totals()
    assert (totals["fresh"], totals["to_build"], totals["estimated_cost_usd"]) == (2, 0, 0.0)

    ref = root / "refs" / "product.png"
    ref.write_bytes(ref.read_bytes() + b"\0")
    p2 = project(root, {"x": {**BASE, "size": "1536x1024", "revision": 2, "prompt": "A mug"},
                        "e": {"prompt": "loft", "edit": "{image: refs/product.png}"}})
    again = plan(p2)
    assert again["x"].status == "changed"
    assert again["x"].reasons == ["prompt", "size 1024x1024 -> 1536x1024", "revision 0 -> 2"]
    assert again["e"].reasons == ["input image refs/product.png"]


def test_built_elsewhere_is_missing_not_changed(tmp_path):
    """A head whose key matches but whose cache lacks the record: another cache, not a change."""
    p = project(tmp_path, {"x": BASE})
    x = plan(p)["x"]
    p.store.put_head(x.variant.key, {"cache_key": x.cache_key, "blob": "0" * 64, "doc": x.doc})
    again = plan(p)["x"]
    assert (again.status, again.reasons) == ("missing", ["built before, but not in this cache"])


def test_recipes_match_the_plan(tmp_path):
    p = project(tmp_path, {"hero": BASE, "loft": {"prompt": "loft", "edit": "hero"},
                           "thumb": {"render": "{from: loft, size: 600x400}"}})
    planned = {x.key: x.recipe for x in p.plan().items}
    assert p.planner().recipes(p.variants) == planned


def test_an_edit_is_priced_with_its_input_images(tmp_path):
    """Token-priced vendors bill every input image: the plan's estimate of an edit counts them."""
    from providers import pricing

    refs = {"refs/a.png": b"", "refs/b.png": b""}
    assets = {"hero": BASE, "two": {**BASE, "edit": "{image: [refs/a.png, refs/b.png]}"},
              "one": {**BASE, "edit": "{image: hero}"}}
    got = plan(project(tmp_path, assets, refs=refs))
    prompt = pricing.prompt_tokens_of("A ceramic mug")
    gen = pricing.estimate_usd("openai", "generate", 1024, 1024, "medium", prompt_tokens=prompt)
    assert got["hero"].est_cost == pytest.approx(gen)
    assert got["one"].est_cost == pytest.approx(gen + 1600 * 8 / 1e6)
    assert got["two"].est_cost == pytest.approx(gen + 2 * 1600 * 8 / 1e6)
