"""Pins the Dagster 1.13 behaviours that assets.py, checks.py and schedules.py are built on.

If a Dagster upgrade changes one of these, this file says which assumption broke before the
product tests fail in a more puzzling way.
"""

from __future__ import annotations

import warnings

import dagster as dg
import pytest
from dagster._core.definitions.data_version import (
    DATA_VERSION_IS_USER_PROVIDED_TAG,
    DATA_VERSION_TAG,
)

GEN = dg.AssetKey(["camp", "poster", "en"])
EDIT = dg.AssetKey(["camp", "poster_loft", "en"])
RENDITION = dg.AssetKey(["camp", "poster_story", "en"])
REF = dg.AssetKey(["refs", "product.png"])


def _variants(fail_text: bool = False, skip_checks: frozenset[str] = frozenset()):
    # One subsettable multi_asset, as pipelines/assets.py builds it.
    @dg.multi_asset(
        specs=[
            dg.AssetSpec(GEN, group_name="camp", code_version="k1"),
            dg.AssetSpec(EDIT, group_name="camp", code_version="k2", deps=[GEN, REF]),
            dg.AssetSpec(RENDITION, group_name="camp", code_version="k3", deps=[GEN]),
        ],
        check_specs=[
            dg.AssetCheckSpec("decodes", asset=GEN),
            dg.AssetCheckSpec("text", asset=GEN, blocking=True),
            dg.AssetCheckSpec("decodes", asset=EDIT),
        ],
        can_subset=True,
        name="variants",
    )
    def variants(context):  # no annotation: under `from __future__ import annotations` Dagster rejects it
        seen.append((set(context.selected_asset_keys), set(context.selected_asset_check_keys)))
        text_failed = False
        for key in (GEN, EDIT, RENDITION):
            if key not in context.selected_asset_keys:
                continue
            if key == RENDITION and text_failed:
                continue  # held back: Dagster does not block within one step, the engine must
            yield dg.MaterializeResult(asset_key=key, data_version=dg.DataVersion(f"v-{key.path[1]}"))
            for name in ("decodes", "text"):
                check_key = dg.AssetCheckKey(key, name)
                if check_key in context.selected_asset_check_keys and name not in skip_checks:
                    passed = not (fail_text and name == "text")
                    text_failed |= not passed
                    yield dg.AssetCheckResult(asset_key=key, check_name=name, passed=passed,
                                              severity=dg.AssetCheckSeverity.ERROR)

    seen: list = []
    return variants, seen


def _run(assets, selection=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = dg.materialize(assets, instance=dg.DagsterInstance.ephemeral(), selection=selection,
                                raise_on_error=False)
    mats = {e.asset_key for e in result.get_asset_materialization_events()}
    checks = {(e.asset_key, e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    return result, mats, checks


def test_a_subset_selects_only_the_checks_of_the_selected_assets():
    variants, seen = _variants()
    result, mats, checks = _run([variants], selection=[EDIT])
    assert result.success and mats == {EDIT}
    assert seen == [({EDIT}, {dg.AssetCheckKey(EDIT, "decodes")})]
    assert checks == {(EDIT, "decodes"): True}


def test_checks_can_be_selected_apart_from_their_asset_checks():
    variants, seen = _variants()
    only_text = dg.AssetSelection.assets(GEN).without_checks() | dg.AssetSelection.checks(dg.AssetCheckKey(GEN, "text"))
    result, mats, checks = _run([variants], selection=only_text)
    assert result.success and mats == {GEN}
    assert seen[0][1] == {dg.AssetCheckKey(GEN, "text")}


def test_a_selected_check_or_asset_not_yielded_is_not_an_error():
    variants, _ = _variants(skip_checks=frozenset({"decodes"}))
    result, mats, checks = _run([variants], selection=[GEN])
    assert result.success and mats == {GEN}
    assert checks == {(GEN, "text"): True}


def test_a_failed_blocking_check_fails_the_step_but_does_not_stop_assets_in_the_same_step():
    variants, _ = _variants(fail_text=True)
    result, mats, checks = _run([variants])
    assert checks[(GEN, "text")] is False
    # The edit was still materialized: blocking only gates *other steps*. Our body held back
    # the rendition itself; Dagster then fails the step (and the run) at its end.
    assert mats == {GEN, EDIT}
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "blocking asset check failed with ERROR severity" in failure.event_specific_data.error.message


def test_schedule_asks_for_a_subset_or_skips():
    variants, _ = _variants()
    todo: list[dg.AssetKey] = []

    @dg.schedule(cron_schedule="0 6 * * 1", target=dg.AssetSelection.groups("camp"), name="camp_schedule")
    def camp_schedule(context: dg.ScheduleEvaluationContext):
        if not todo:
            return dg.SkipReason("nothing changed")
        return dg.RunRequest(asset_selection=list(todo))

    defs = dg.Definitions(assets=[variants], schedules=[camp_schedule])
    sched = defs.get_schedule_def("camp_schedule")
    instance = dg.DagsterInstance.ephemeral()
    with dg.build_schedule_context(instance=instance) as ctx:
        tick = sched.evaluate_tick(ctx)
    assert tick.skip_message == "nothing changed" and not tick.run_requests
    todo.append(EDIT)
    with dg.build_schedule_context(instance=instance) as ctx:
        tick = sched.evaluate_tick(ctx)
    assert [r.asset_selection for r in tick.run_requests] == [[EDIT]]
    assert tick.run_requests[0].tags["dagster/schedule_name"] == "camp_schedule"


def test_a_runless_observation_sets_a_source_data_version_that_provenance_records():
    variants, _ = _variants()
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(
        dg.AssetObservation(asset_key=REF, tags={DATA_VERSION_TAG: "sha-1", DATA_VERSION_IS_USER_PROVIDED_TAG: "true"})
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dg.materialize([variants], instance=instance, selection=[GEN, EDIT])
    record = instance.get_latest_materialization_event(EDIT)
    tags = record.asset_materialization.tags
    assert tags[DATA_VERSION_TAG] == "v-poster_loft"  # ours, not a hash Dagster made up
    assert tags[f"dagster/input_data_version/{REF.to_user_string()}"] == "sha-1"
    # The upstream materialized earlier in the same step is what the edit's provenance records.
    assert tags[f"dagster/input_data_version/{GEN.to_user_string()}"] == "v-poster"


@pytest.mark.parametrize("flag", [True, False])
def test_run_request_can_leave_the_stale_filter_to_dagster(flag):
    # stale_assets_only narrows a request to stale/missing assets in the daemon (sensor and
    # scheduler); we compute "changed" from our own cache keys instead, but the knob exists.
    assert dg.RunRequest(asset_selection=[GEN], stale_assets_only=flag).stale_assets_only is flag
