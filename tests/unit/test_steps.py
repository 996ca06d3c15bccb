"""The cut of a build into steps (pipelines.plan.steps): whole catalog assets per step, by campaign
and chunks, steps in an order where each comes after those it depends on, never a cycle, and the
same cut on every machine."""

from __future__ import annotations

from pathlib import Path

from pipelines.catalog.variant import Variant
from pipelines.plan.project import Project
from pipelines.plan.steps import one_group, step_groups
from tests.helpers.catalogs import write_catalog

SPRING = """
    campaign: spring
    vars: {locales: [en, de, fr]}
    assets:
      - name: hero
        prompt: A mug
        matrix: {n: [1, 2, 3, 4, 5]}
      - name: poster
        prompt: A poster
        matrix: {lang: "{{ locales }}", size: [1024x1536, 1536x1024]}
      - name: story
        render: {from: poster, where: {size: 1024x1536}, size: 1080x1920}
        matrix: {lang: "{{ locales }}"}
      - name: loft
        edit: {image: "summer:shot"}
        prompt: A loft
    """
SUMMER = """
    campaign: summer
    assets:
      - name: shot
        prompt: A beach
      - name: pier
        edit: {image: "spring:hero", where: {n: "1"}}
        prompt: A pier
      - name: pier_story
        render: {from: pier, size: 1080x1920}
    """


def variants(root: Path) -> list[Variant]:
    write_catalog(root, {"campaigns/spring.yaml": SPRING, "campaigns/summer.yaml": SUMMER})
    return Project.load(root).variants


def check_order(groups, vs: list[Variant]) -> None:
    """Every asset in exactly one step, and every step after the steps it depends on."""
    where = {a: i for i, g in enumerate(groups) for a in g.assets}
    assert sorted(where) == sorted({v.asset_id for v in vs}) and sum(len(g.assets) for g in groups) == len(where)
    for v in vs:
        for up in v.upstream_assets:
            assert where[up] <= where[v.asset_id], (up, v.asset_id, groups)
            if where[up] == where[v.asset_id]:  # within a step: the engine's dependency order
                g = groups[where[up]]
                assert g.assets.index(up) < g.assets.index(v.asset_id)


def test_a_step_per_campaign_of_whole_assets_and_campaigns_that_edit_each_other_never_make_a_cycle(tmp_path):
    vs = variants(tmp_path / "cat")
    groups = step_groups(vs, max_variants=14)  # spring's first 14 variants fill a step
    check_order(groups, vs)
    by_name = {g.name: g for g in groups}
    # spring's loft edits summer's shot, summer's pier edits spring's hero: the campaigns depend on
    # each other, so each edit (and what follows it) waits in a later stage; small, they share a step
    assert by_name["spring"].assets == ("spring/hero", "spring/poster", "spring/story")
    assert by_name["summer"].assets == ("summer/shot",)
    assert by_name["spring_s1_and_1_more"].assets == ("spring/loft", "summer/pier", "summer/pier_story")
    assert [g.variants for g in groups] == [14, 1, 3]
    for g in groups:
        assert g.campaigns == tuple(dict.fromkeys(v.campaign for v in vs if g.holds(v)))


def test_large_campaigns_are_chunked_by_whole_assets(tmp_path):
    vs = variants(tmp_path / "cat")
    groups = step_groups(vs, max_variants=6)
    check_order(groups, vs)
    first = [g for g in groups if g.stage == 0]
    assert [g.assets for g in first] == [("spring/hero",), ("spring/poster",), ("spring/story", "summer/shot")]
    assert [g.name for g in first] == ["spring", "spring_2", "spring_3_and_1_more"]
    # an asset larger than a step is a step of its own, never cut: its variants share one engine
    big = step_groups(vs, max_variants=2)
    assert any(g.assets == ("spring/poster",) and g.variants == 6 for g in big)
    check_order(big, vs)


def test_small_campaigns_share_a_step(tmp_path):
    vs = variants(tmp_path / "cat")
    groups = step_groups(vs)  # 64 variants a step: each stage fits in one
    check_order(groups, vs)
    assert [(g.name, g.campaigns, g.variants) for g in groups] == [
        ("spring_and_1_more", ("spring", "summer"), 15), ("spring_s1_and_1_more", ("spring", "summer"), 3)]
    assert step_groups(vs, max_variants=None) == groups


def test_every_machine_cuts_the_same_steps(tmp_path):
    a = step_groups(variants(tmp_path / "machine1" / "cat"), 4)
    b = step_groups(variants(tmp_path / "machine2" / "elsewhere"), 4)
    assert a == b and len({g.name for g in a}) == len(a)


def test_one_group_holds_everything_in_dependency_order(tmp_path):
    vs = variants(tmp_path / "cat")
    g = one_group(vs, "all")
    check_order([g], vs)
    assert g.variants == len(vs) == 18



def test_a_step_plans_its_own_variants_and_their_upstream_only(tmp_path):
    variants(tmp_path / "cat")
    project = Project.load(tmp_path / "cat")
    plan = project.plan(["summer/pier_story/1"])
    assert [p.key for p in plan.items] == ["spring/hero/1", "summer/pier/1", "summer/pier_story/1"]
    assert len(project.plan().items) == 18
