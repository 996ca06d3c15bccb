"""What the definitions say of a catalog: one asset per catalog asset, its variants as partitions,
edges mapped variant to variant where Dagster can hold the mapping, checks per variant."""

from __future__ import annotations

import warnings

import dagster as dg
import pytest

from pipelines.orchestration.definitions import build_definitions
from pipelines.orchestration.specs import PLAN_CHECK
from pipelines.plan.project import Project
from tests.helpers.catalogs import copy_example, write_catalog


def _specs(catalog) -> dict[str, dg.AssetSpec]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        defs = build_definitions(Project.load(catalog))
        [variants] = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.is_materializable]
    return {s.key.to_user_string(): s for s in variants.specs}, variants


def _mapping(spec: dg.AssetSpec, upstream: str) -> dg.PartitionMapping:
    return next(d.partition_mapping for d in spec.deps if d.asset_key.to_user_string() == upstream)


@pytest.fixture
def example(tmp_path):
    return copy_example(tmp_path / "catalog")


def test_each_catalog_asset_is_an_asset_with_its_variant_ids_as_partitions(example):
    specs, variants = _specs(example)
    project = Project.load(example)
    by_asset: dict[str, list[str]] = {}
    for v in project.variants:
        by_asset.setdefault(v.asset_id, []).append(v.vid)
    assert {k: s.partitions_def.get_partition_keys() for k, s in specs.items()} == by_asset
    assert specs["brewlab_launch/launch_poster"].partitions_def.get_partition_keys()[:2] == ["en/1024x1536", "en/1536x1024"]
    checks = {(c.asset_key.to_user_string(), c.name) for c in variants.check_specs}
    assert {n for a, n in checks if a == "brewlab_launch/launch_poster"} == {"image_ok", PLAN_CHECK}  # OCR off
    assert all(c.partitions_def == specs[c.asset_key.to_user_string()].partitions_def for c in variants.check_specs)


def test_edges_map_each_variant_to_the_upstream_variant_it_was_paired_with(example):
    specs, _ = _specs(example)
    story = _mapping(specs["brewlab_launch/poster_story"], "brewlab_launch/launch_poster")
    assert story == dg.StaticPartitionMapping({"en/1024x1536": "en", "de/1024x1536": "de", "zh-CN/1024x1536": "zh-CN"})
    loft = _mapping(specs["brewlab_launch/mug_loft"], "brewlab_launch/mug_hero")
    assert loft == dg.IdentityPartitionMapping()  # default <- default
    bottle = {d.asset_key.to_user_string(): d.partition_mapping for d in specs["cold_brew_summer/bottle_on_table"].deps}
    assert bottle == {"refs/product.png": None, "refs/bg_mask.png": None}  # a file: every variant reads it


def test_two_different_pairings_of_one_upstream_fall_back_to_every_variant(tmp_path):
    # Dagster 1.13 holds one mapping per upstream asset for a whole multi_asset
    cat = write_catalog(tmp_path / "cat", {
        "catalog.yaml": 'check_text: "off"\n',
        "campaigns/c.yaml": """
            campaign: c
            assets:
              - name: poster
                matrix: {lang: [en, de], size: [64x96, 96x64]}
                prompt: A poster
              - name: story
                render: {from: poster, where: {size: 64x96}, size: 32x48}
                matrix: {lang: [en, de]}
              - name: square
                render: {from: poster, where: {size: 96x64}, size: 32x32}
                matrix: {lang: [en, de]}
            """,
    })
    specs, variants = _specs(cat)
    assert _mapping(specs["c/story"], "c/poster") == dg.AllPartitionMapping()
    assert _mapping(specs["c/square"], "c/poster") == dg.AllPartitionMapping()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert dg.Definitions(assets=[variants]).resolve_implicit_global_asset_job_def() is not None


def test_a_group_of_catalog_assets_is_a_multi_asset_of_its_own_and_groups_compose(example):
    # what a build split into steps builds on: one multi_asset per group, edges across groups
    from pipelines.orchestration.assets import variants_asset
    from pipelines.orchestration.refs import ref_sources

    project = Project.load(example)
    ids = list(dict.fromkeys(v.asset_id for v in project.variants))
    first = [i for i in ids if i.endswith(("/launch_poster", "/mug_hero"))]
    rest = [i for i in ids if i not in first]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        groups = [variants_asset(project, assets=first, name="group_a"), variants_asset(project, assets=rest, name="group_b")]
        defs = dg.Definitions(assets=[*groups, *ref_sources(project)])
        graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in groups[0].keys} == set(first)
    assert {k.to_user_string() for k in groups[0].keys} | {k.to_user_string() for k in groups[1].keys} == set(ids)
    story = graph.get(dg.AssetKey(["brewlab_launch", "poster_story"]))
    assert dg.AssetKey(["brewlab_launch", "launch_poster"]) in story.parent_keys  # across the two groups
    whole, _ = _specs(example)
    split = {s.key.to_user_string(): s for g in groups for s in g.specs}
    assert _mapping(split["brewlab_launch/poster_story"], "brewlab_launch/launch_poster") == \
        _mapping(whole["brewlab_launch/poster_story"], "brewlab_launch/launch_poster")
