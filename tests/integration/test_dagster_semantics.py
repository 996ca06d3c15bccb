"""Pins the Dagster 1.13 behaviours that the orchestration layer is built on: one subsettable
multi_asset of catalog assets partitioned by variant, each with its own partitions definition.

If a Dagster upgrade changes one of these, this file says which assumption broke before the
product tests fail in a more puzzling way. (The workarounds themselves are tested in
test_scaling_dagster.py.)
"""

from __future__ import annotations

import warnings

import dagster as dg
import pytest
from dagster._core.definitions.data_version import (
    DATA_VERSION_IS_USER_PROVIDED_TAG,
    DATA_VERSION_TAG,
)
from dagster._core.remote_representation.external_data import RepositorySnap

GEN = dg.AssetKey(["camp", "poster"])
EDIT = dg.AssetKey(["camp", "poster_loft"])
OTHER = dg.AssetKey(["other", "banner"])
REF = dg.AssetKey(["refs", "product.png"])
GEN_PARTS = dg.StaticPartitionsDefinition(["en/1024x1536", "de/1024x1536", "en/1536x1024"])
EDIT_PARTS = dg.StaticPartitionsDefinition(["en", "de"])
OTHER_PARTS = dg.StaticPartitionsDefinition(["default"])


def _variants(seen: list | None = None):
    """As pipelines/orchestration/assets.py builds it: a `where:` pairing as a static mapping."""
    mapping = dg.StaticPartitionMapping({"en/1024x1536": "en", "de/1024x1536": "de"})
    specs = [dg.AssetSpec(GEN, partitions_def=GEN_PARTS, skippable=True),
             dg.AssetSpec(EDIT, partitions_def=EDIT_PARTS, skippable=True,
                          deps=[dg.AssetDep(GEN, partition_mapping=mapping), REF]),
             dg.AssetSpec(OTHER, partitions_def=OTHER_PARTS, skippable=True)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checks = [dg.AssetCheckSpec("image_ok", asset=s.key, partitions_def=s.partitions_def) for s in specs]

    @dg.multi_asset(specs=specs, check_specs=checks, can_subset=True, name="variants",
                    backfill_policy=dg.BackfillPolicy.single_run())
    def variants(context):  # no annotation: under `from __future__ import annotations` Dagster rejects it
        if context.has_partition_key or context.has_partition_key_range:
            rng = context.partition_key_range
            todo = [(k, p) for k in context.selected_asset_keys
                    for p in context.assets_def.specs_by_key[k].partitions_def.get_partition_keys_in_range(rng)]
        else:
            todo = [(k, p) for k in sorted(context.selected_asset_keys, key=lambda k: k.path)
                    for p in context.assets_def.specs_by_key[k].partitions_def.get_partition_keys()]
        if seen is not None:
            seen.append(sorted(todo, key=str))
        for key, part in todo:
            yield dg.AssetMaterialization(asset_key=key, partition=part,
                                          tags={DATA_VERSION_TAG: f"v-{part}", DATA_VERSION_IS_USER_PROVIDED_TAG: "true"})
            context.log_event(dg.AssetCheckEvaluation(asset_key=key, check_name="image_ok", passed=True, partition=part))

    return variants


def _job(assets=None, **defs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dg.Definitions(assets=assets or [_variants()], **defs).resolve_implicit_global_asset_job_def()


def _materialized(instance, key) -> set[str]:
    return set(instance.get_materialized_partitions(key))


def test_different_partitions_in_one_multi_asset_need_can_subset_and_only_the_implicit_job_takes_them():
    with pytest.raises(dg.DagsterInvalidDefinitionError, match="can_subset"):
        dg.multi_asset(specs=[dg.AssetSpec(GEN, partitions_def=GEN_PARTS),
                              dg.AssetSpec(OTHER, partitions_def=OTHER_PARTS)], name="x")(lambda: None)
    job = dg.define_asset_job("campaign", selection=[GEN, EDIT])
    with pytest.raises(dg.DagsterInvalidDefinitionError):  # hence CampaignJob (schedules.py)
        dg.Definitions(assets=[_variants()], jobs=[job]).resolve_job_def("campaign")
    assert _job() is not None


def test_an_unpartitioned_run_records_exactly_the_partitions_its_body_names(tmp_path):
    seen: list = []
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = _job([_variants(seen)]).execute_in_process(instance=instance, asset_selection=[GEN, OTHER])
        assert result.success
        assert _materialized(instance, GEN) == set(GEN_PARTS.get_partition_keys())
        assert _materialized(instance, OTHER) == {"default"} and not _materialized(instance, EDIT)
        record = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=GEN, asset_partitions=["de/1024x1536"]), limit=1).records[0]
        assert record.asset_materialization.tags[DATA_VERSION_TAG] == "v-de/1024x1536"
        evals = result.get_asset_check_evaluations()
        assert {(e.asset_key, e.partition) for e in evals} == {(GEN, p) for p in GEN_PARTS.get_partition_keys()} | {
            (OTHER, "default")}


def test_one_partition_and_a_range_are_what_a_ui_launch_and_backfill_send(tmp_path):
    seen: list = []
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        job = _job([_variants(seen)])
        assert job.execute_in_process(instance=instance, asset_selection=[EDIT], partition_key="de").success
        assert seen[-1] == [(EDIT, "de")]
        tags = {"dagster/asset_partition_range_start": "en/1024x1536", "dagster/asset_partition_range_end": "de/1024x1536"}
        assert job.execute_in_process(instance=instance, asset_selection=[GEN], tags=tags).success
        assert seen[-1] == sorted([(GEN, "en/1024x1536"), (GEN, "de/1024x1536")], key=str)


def test_without_the_patch_an_unpartitioned_run_fails_once_an_outside_upstream_partition_exists(tmp_path):
    # the 1.13 step-start crash that patches._fetch_external_input_asset_version_info avoids
    from pipelines.orchestration import patches

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        job = _job()
        assert job.execute_in_process(instance=instance, asset_selection=[GEN], partition_key="en/1024x1536").success
        saved = dg._core.execution.context.system.StepExecutionContext.fetch_external_input_asset_version_info
        try:
            dg._core.execution.context.system.StepExecutionContext.fetch_external_input_asset_version_info = \
                patches._original_fetch_inputs
            result = job.execute_in_process(instance=instance, asset_selection=[EDIT, OTHER], raise_on_error=False)
        finally:
            dg._core.execution.context.system.StepExecutionContext.fetch_external_input_asset_version_info = saved
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        assert "different PartitionsDefinitions" in failure.step_failure_data.error.message


def test_a_schedule_is_listed_on_the_assets_of_its_job_and_never_for_the_implicit_job():
    job = dg.define_asset_job("other_job", selection=[OTHER])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        @dg.schedule(cron_schedule="0 6 * * 1", job_name="__ASSET_JOB", name="implicit")
        def implicit(_ctx):
            return dg.SkipReason("-")

        @dg.schedule(cron_schedule="0 6 * * 1", job=job, name="own")
        def own(_ctx):
            return dg.SkipReason("-")

        defs = dg.Definitions(assets=[_variants()], jobs=[job], schedules=[implicit, own])
        snap = RepositorySnap.from_def(defs.get_repository_def())
    jobs = {n.asset_key: set(n.job_names) for n in snap.asset_nodes}
    assert jobs[OTHER] == {"__ASSET_JOB", "other_job"} and jobs[GEN] == {"__ASSET_JOB"}


def test_two_runless_evaluations_of_one_partition_of_a_check_fail_in_the_stock_storage(tmp_path):
    # the unique index that BatchingSqliteEventLogStorage works around (the plan check is runless)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        evaluation = dg.AssetCheckEvaluation(asset_key=GEN, check_name="plan", passed=False, partition="en/1024x1536")
        instance.report_runless_asset_event(evaluation)
        with pytest.raises(Exception, match="UNIQUE constraint failed"):
            instance.report_runless_asset_event(evaluation)


def test_a_runless_observation_sets_a_source_data_version():
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(
        dg.AssetObservation(asset_key=REF, tags={DATA_VERSION_TAG: "sha-1", DATA_VERSION_IS_USER_PROVIDED_TAG: "true"})
    )
    record = instance.get_latest_data_version_record(REF, is_source=True)
    assert record.asset_observation.tags[DATA_VERSION_TAG] == "sha-1"
