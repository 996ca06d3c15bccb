"""Lanes in the plan: which lane a variant is in, its price there, --max-cost against that price,
the validation of a batch lane no provider can serve, and keys of open batches (never paid for
again, nor what needs them)."""

from __future__ import annotations

import pytest

from pipelines.cache import batches as records
from pipelines.cli.build import build
from pipelines.errors import BudgetExceeded, CatalogError
from pipelines.plan.lanes import lane_of
from pipelines.plan.project import Project
from pipelines.plan.worklist import plan_build
from tests.helpers.catalogs import write_catalog

SETTINGS = """
    check_text: "off"
    default_provider: oa
    lane: {lane}
    providers:
      oa: {{type: openai, base_url: "http://127.0.0.1:9/v1", api_key_env: K, options: {{batch: true}}}}
      compat: {{type: openai, base_url: "http://127.0.0.1:8/v1", api_key_env: K}}
      ra: {{type: runapi, base_url: "http://127.0.0.1:7", api_key_env: K}}
      draft: {{type: draft}}
    defaults: {{size: 1024x1024, quality: medium}}
    """
CAMPAIGN = """
    campaign: c
    {extra}
    assets:
      - {{name: hero, prompt: A mug}}
      - {{name: loft, prompt: A loft, edit: {{image: hero}}}}
      - {{name: thumb, render: {{from: loft, size: 128x128}}}}
      - {{name: proof, prompt: A proof, provider: draft}}
    """


def load(tmp_path, lane="sync", extra="", name="cat") -> Project:
    root = write_catalog(tmp_path / name, {"catalog.yaml": SETTINGS.format(lane=lane),
                                           "campaigns/c.yaml": CAMPAIGN.format(extra=extra)})
    return Project.load(root)


def test_the_lane_of_a_variant(tmp_path):
    p = load(tmp_path, lane="batch")
    lanes = {v.asset: lane_of(p, v) for v in p.variants}
    assert lanes == {"hero": "batch", "loft": "batch", "thumb": "sync", "proof": "sync"}  # renders, drafts: now
    p = load(tmp_path, extra="lane: sync", name="c2")  # the campaign's own lane wins over catalog.yaml's
    assert {lane_of(p, v) for v in p.variants} == {"sync"}
    p.lane = "batch"  # --lane wins over both
    assert lane_of(p, p.variants[0]) == "batch"


def test_the_batch_lane_is_half_the_price_and_max_cost_checks_that(tmp_path):
    sync, batch = load(tmp_path), load(tmp_path, lane="batch", name="b")
    s = {x.key: x.est_cost for x in sync.plan().items}
    b = {x.key: x.est_cost for x in batch.plan().items}
    assert b["c/hero/default"] == pytest.approx(s["c/hero/default"] / 2)
    assert b["c/loft/default"] == pytest.approx(s["c/loft/default"] / 2)
    budget = sum(b.values()) + 0.001  # enough in the batch lane, not in the sync lane
    assert build(batch, max_cost=budget, dry_run=True, echo=lambda m: None).estimate_usd <= budget
    with pytest.raises(BudgetExceeded):
        build(sync, max_cost=budget, dry_run=True, echo=lambda m: None)
    with pytest.raises(BudgetExceeded):  # --refresh pays now, in the sync lane
        build(batch, max_cost=budget, dry_run=True, refresh=True, echo=lambda m: None)


def test_a_batch_lane_without_a_batch_api_fails_validation(tmp_path):
    p = load(tmp_path, extra="lane: batch")
    p.validate()
    text = SETTINGS.format(lane="batch").replace("default_provider: oa", "default_provider: compat")
    root = write_catalog(tmp_path / "x", {"catalog.yaml": text, "campaigns/c.yaml": CAMPAIGN.format(extra="")})
    with pytest.raises(CatalogError) as info:
        Project.load(root).validate()
    msgs = [str(i) for i in info.value.issues]
    assert len(msgs) == 2 and all("the batch lane needs a provider with OpenAI's Batch API; 'compat' has none" in m
                                  for m in msgs), msgs
    assert all("campaigns/c.yaml:" in m for m in msgs)


def test_keys_in_open_batches_are_never_built_again_nor_what_needs_them(tmp_path):
    p = load(tmp_path, lane="batch")
    plan = p.plan()
    hero = plan.by_key["c/hero/default"]
    rec = records.new_record("oa", "/v1/images/generations", {hero.cache_key: {"variant": hero.key}})
    rec.update(state="open", batch_id="batch_abc", status="in_progress")
    records.save(p.store, rec)
    plan, todo, estimate = plan_build(p)
    assert "in batch batch_abc (in_progress)" in plan.by_key["c/hero/default"].reason
    assert plan.by_key["c/hero/default"].est_cost == 0
    assert sorted(x.key for x in todo) == ["c/proof/default"]  # the edit and its render wait for it
    assert estimate == 0.0
    records.close(p.store, rec)
    _, todo, _ = plan_build(p)
    assert len(todo) == 4


TEXTED = """
    campaign: c
    assets:
      - {name: hero, prompt: 'A poster reading "SALE"', retakes: 2}
    """


def test_retakes_of_a_batch_lane_variant_are_priced_at_the_sync_price(tmp_path):
    """The batch pays for the first take; a take whose text check fails is retaken by the engine,
    synchronously, so the worst case is one batch take plus every retake at the full price."""
    settings = SETTINGS.replace('check_text: "off"', "check_text: auto")
    sync = Project.load(write_catalog(tmp_path / "s", {"catalog.yaml": settings.format(lane="sync"),
                                                       "campaigns/c.yaml": TEXTED}))
    batch = Project.load(write_catalog(tmp_path / "b", {"catalog.yaml": settings.format(lane="batch"),
                                                        "campaigns/c.yaml": TEXTED}))
    one = sync.sync_estimate(sync.variants[0])
    s, b = sync.plan().by_key["c/hero/default"], batch.plan().by_key["c/hero/default"]
    assert s.max_takes == b.max_takes == 3
    assert s.est_cost == pytest.approx(3 * one)
    assert b.est_cost == pytest.approx(one / 2 + 2 * one)
    hero = b
    rec = records.new_record("oa", "/v1/images/generations", {hero.cache_key: {"variant": hero.key}})
    rec.update(state="open", batch_id="batch_t", status="in_progress")
    records.save(batch.store, rec)  # the first take is in a batch: only the retakes are still to pay
    assert batch.plan().by_key["c/hero/default"].est_cost == pytest.approx(2 * one)


def test_a_key_with_an_unsettled_sync_call_stays_with_the_engine_at_the_sync_price(tmp_path):
    """A call an earlier (sync) build sent for this key is collected or held by the engine; putting
    the key in a batch could pay for it twice. A re-send (--retry-maybe-billed) is synchronous."""
    from pipelines.batch.lane import BatchLane
    from pipelines.cache.journal import Entry, StoreJournal

    p = load(tmp_path, lane="batch")
    hero = p.plan().by_key["c/hero/default"]
    StoreJournal(p.store).write(Entry(hero.cache_key, hero.key, "oa", "openai", "none", "f" * 64, 0, "b" * 32))
    plan, todo, estimate = plan_build(p, retry_maybe_billed=True)
    held = plan.by_key["c/hero/default"]
    assert held.held and held.est_cost == pytest.approx(p.sync_estimate(held.variant))
    now, ready, _ = BatchLane(p, echo=lambda m: None).split(todo)
    assert "c/hero/default" in [x.key for x in now] and "c/hero/default" not in [x.key for x in ready]


def test_the_engine_never_pays_for_a_key_another_build_put_in_a_batch_since_it_planned(tmp_path):
    """A sync-lane build planned the key; a batch-lane build submitted it before this build's
    engine got to it: the engine skips it (the batch pays once, a later build collects it)."""
    from pipelines.engine.engine import Engine

    root = write_catalog(tmp_path / "cat", {
        "catalog.yaml": "check_text: \"off\"\ndefault_provider: draft\nproviders: {draft: {type: draft}}\n",
        "campaigns/c.yaml": "campaign: c\nassets:\n  - {name: a, prompt: One}\n  - {name: b, prompt: Two}\n"})
    project = Project.load(root)
    plan = project.plan()
    taken = plan.by_key["c/a/default"]
    rec = records.new_record("oa", "/v1/images/generations", {taken.cache_key: {"variant": taken.key}})
    rec.update(state="open", batch_id="batch_other")
    records.save(project.store, rec)
    outcomes = {o.key: o for o in Engine(project.catalog, project.store, project.planner(), project.pool)
                .run(plan.items, plan.by_key)}
    assert outcomes["c/a/default"].status == "skipped" and "in batch batch_other" in outcomes["c/a/default"].error
    assert project.store.get_action(taken.cache_key) is None
    assert outcomes["c/b/default"].status == "built"
    assert records.OpenKeys(project.store).holder(taken.cache_key) == "batch_other"
    records.close(project.store, rec)
    assert records.OpenKeys(project.store).holder(taken.cache_key) is None


def test_a_build_with_nothing_in_the_batch_lane_is_one_pass(tmp_path):
    """The lane's rounds re-plan only for the lane: a variant that goes missing while a sync-only
    build runs (say its damaged image was quarantined) is the next build's, not paid for again now."""
    from pipelines.batch.lane import BatchLane

    p = load(tmp_path)  # the sync lane
    _, todo, _ = plan_build(p)
    hero = [x for x in todo if x.key == "c/hero/default"]  # the build's worklist; the others go missing
    rounds = BatchLane(p, echo=lambda m: None).rounds(None, hero, wait=False)  # (a re-plan finds them)
    assert [x.key for x in next(rounds)] == ["c/hero/default"]
    with pytest.raises(StopIteration):
        next(rounds)
