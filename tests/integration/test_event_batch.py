"""A run recorded the way ours is (pipelines/orchestration/recorder.py: events made as Dagster makes
them, written in batches by pipelines/orchestration/event_batch.py) leaves an instance as Dagster's
own step machinery and one-event-at-a-time writes do: the same run written both ways reads back
the same, fact by fact, through the APIs the UI uses (partitions, latest materializations, tags
and data versions, the asset's last materialization, check executions, the run's own log).

One difference, on purpose: a check evaluation logged without a target materialization targets its
partition's latest one, as Dagster's own AssetCheckResult does in a step. Written by Dagster's
storage it targets nothing, and the UI shows every partition of the check "not evaluated".

The same on a real PostgreSQL (a deployment's instance, deploy/dagster.yaml): Dagster's storage
one event at a time against ours through pipelines/orchestration/pg_batch.py.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.definitions.data_version import (
    DATA_VERSION_IS_USER_PROVIDED_TAG,
    DATA_VERSION_TAG,
)

from pipelines.orchestration import recorder
from pipelines.orchestration.event_batch import BatchingSqliteEventLogStorage
from pipelines.orchestration.event_log import PooledSqliteEventLogStorage
from pipelines.orchestration.recorder import Recorder

GEN = dg.AssetKey(["camp", "poster"])
EDIT = dg.AssetKey(["camp", "poster_loft"])
GEN_PARTS = dg.StaticPartitionsDefinition([f"{loc}/{size}" for loc in ("en", "de", "fr", "it") for size in ("s", "m", "l")])
EDIT_PARTS = dg.StaticPartitionsDefinition(["en", "de", "fr", "it"])
CHECKS = {GEN: ("image_ok", "text_ok"), EDIT: ("image_ok",)}


def _events():
    for key, parts in ((GEN, GEN_PARTS), (EDIT, EDIT_PARTS)):
        for part in parts.get_partition_keys():
            mat = dg.AssetMaterialization(
                asset_key=key, partition=part, metadata={"cache_key": f"k-{part}", "cost_usd": 0.0},
                tags={DATA_VERSION_TAG: f"sha-{key.path[-1]}-{part}", DATA_VERSION_IS_USER_PROVIDED_TAG: "true"})
            checks = [dg.AssetCheckEvaluation(asset_key=key, check_name=name, partition=part,
                                              passed=not (name == "text_ok" and "fr" in part))
                      for name in CHECKS[key]]
            yield mat, checks


def _variants(recorded: bool):
    """Dagster's way (yield, log_event) or ours (the Recorder), of the same events."""
    specs = [dg.AssetSpec(GEN, partitions_def=GEN_PARTS, skippable=True),
             dg.AssetSpec(EDIT, partitions_def=EDIT_PARTS, skippable=True,
                          deps=[dg.AssetDep(GEN, partition_mapping=dg.StaticPartitionMapping(
                              {f"{loc}/m": loc for loc in ("en", "de", "fr", "it")}))])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checks = [dg.AssetCheckSpec(name, asset=key, partitions_def=GEN_PARTS if key == GEN else EDIT_PARTS)
                  for key, names in CHECKS.items() for name in names]

    @dg.multi_asset(specs=specs, check_specs=checks, can_subset=True, name="variants")
    def variants(context):
        rec = Recorder(context) if recorded else None
        for mat, evaluations in _events():
            if rec is None:
                yield mat
                for e in evaluations:
                    context.log_event(e)
            else:
                rec.materialization(mat)
                for e in evaluations:
                    rec.check(e)
        if rec is not None:
            rec.flush()

    return variants


def _instance(home: Path, storage: type | str) -> dg.DagsterInstance:
    """On one of our SQLite logs (a class), or on PostgreSQL (a database URL) as deployed."""
    home.mkdir(parents=True, exist_ok=True)
    if isinstance(storage, str):
        url = storage.replace("postgresql://", "postgresql+psycopg2://")
        (home / "dagster.yaml").write_text(f"telemetry:\n  enabled: false\nstorage:\n  postgres:\n    postgres_url: {url}\n")
    else:
        (home / "dagster.yaml").write_text(
            f"telemetry:\n  enabled: false\nevent_log_storage:\n  module: {storage.__module__}\n"
            f"  class: {storage.__name__}\n  config:\n    base_dir: {home / 'runs'}\n")
    return dg.DagsterInstance.from_config(str(home))


def _facts(instance: dg.DagsterInstance, run_id: str) -> dict:
    from dagster._core.storage.asset_check_state import AssetCheckState, bulk_update_asset_check_state

    out: dict = {}
    recs = instance.get_records_for_run(run_id, limit=100_000).records
    out["run events"] = [r.event_log_entry.dagster_event_type for r in recs if r.event_log_entry.is_dagster_event]
    out["run log"] = [(e.level, e.step_key, e.job_name, e.user_message, d.event_type_value, d.job_name, d.step_key,
                       d.node_handle, d.step_kind_value, {**d.logging_tags, "run_id": "-"}, d.message, d.pid is not None)
                      for e in (r.event_log_entry for r in recs) if (d := e.dagster_event) is not None
                      and d.event_type_value in ("ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION")]
    for key, parts in ((GEN, GEN_PARTS), (EDIT, EDIT_PARTS)):
        out[("partitions", key)] = sorted(instance.get_materialized_partitions(key))
        for pk in parts.get_partition_keys():
            rec = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[pk]), limit=1).records[0]
            m = rec.asset_materialization
            out[("latest", key, pk)] = (m.partition, dict(m.tags), {k: v.value for k, v in m.metadata.items()})
            dv = instance.get_latest_data_version_record(key, False, pk)
            out[("data version", key, pk)] = dv.asset_materialization.tags[DATA_VERSION_TAG]
        last = instance.get_asset_records([key])[0].asset_entry.last_materialization
        out[("asset last", key)] = (last.asset_materialization.partition, last.run_id == run_id)
        for name in CHECKS[key]:
            ck = dg.AssetCheckKey(key, name)
            history = instance.event_log_storage.get_asset_check_execution_history(ck, limit=1000)
            out[("check history", ck)] = sorted((h.status.value, str(h.partition)) for h in history)
            state = bulk_update_asset_check_state(instance, [(ck, parts)], {ck: AssetCheckState.empty()})[ck]
            out[("check state", ck)] = {s.value: sorted(sub.subset_value.get_partition_keys()) for s, sub in state.subsets.items()}
            infos = instance.event_log_storage.get_asset_check_partition_info([ck])
            out[("check current", ck)] = sorted((str(i.partition_key), i.latest_execution_status.value, i.is_current) for i in infos)
    return out


def _run_and_read(home: Path, storage: type | str, recorded: bool) -> dict:
    with _instance(home, storage) as instance:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            job = dg.Definitions(assets=[_variants(recorded)]).resolve_implicit_global_asset_job_def()
            result = job.execute_in_process(instance=instance)
        assert result.success
        return _facts(instance, result.run_id)


# recorded into our batching log, or into another storage (a deployment's), which gets the events
# one by one from the Recorder with each check aimed at its partition's materialization
@pytest.mark.parametrize("storage", [BatchingSqliteEventLogStorage, PooledSqliteEventLogStorage])
def test_a_run_recorded_in_batches_reads_back_as_one_dagster_wrote_event_by_event(tmp_path, monkeypatch, storage):
    monkeypatch.setattr(recorder, "BATCH", 5)  # checks often land in another batch than their target
    stock = _run_and_read(tmp_path / "stock", PooledSqliteEventLogStorage, recorded=False)
    batched = _run_and_read(tmp_path / "batched", storage, recorded=True)
    _assert_same(stock, batched)


@pytest.mark.slow
@pytest.mark.deploy
def test_a_run_recorded_in_batches_on_postgres_reads_back_as_one_dagster_wrote_event_by_event(
        tmp_path, monkeypatch, postgres, pg_database):
    from pipelines.orchestration import pg_batch

    monkeypatch.setattr(recorder, "BATCH", 5)
    written = []
    monkeypatch.setattr(pg_batch, "store_batch", lambda storage, events, real=pg_batch.store_batch: (
        written.append(len(events)), real(storage, events))[1])
    stock = _run_and_read(tmp_path / "stock", postgres.create_database(f"s_{tmp_path.name[-20:]}"), recorded=False)
    assert not written  # Dagster's own way: no batches
    batched = _run_and_read(tmp_path / "batched", pg_database, recorded=True)
    assert written and max(written) == 5  # ours: through pg_batch, in batches
    _assert_same(stock, batched)


def _assert_same(stock: dict, batched: dict) -> None:
    per_partition = {k: batched.pop(k) for k in list(batched) if k[0] in ("check state", "check current")}
    stock = {k: v for k, v in stock.items() if k[0] not in ("check state", "check current")}
    assert len(stock) == 41  # 16 variants: latest and data version each, 2 assets, 3 checks, the run (2)
    assert batched == stock
    # what the UI shows per partition: each evaluation counts against its variant's materialization
    state = per_partition[("check state", dg.AssetCheckKey(GEN, "text_ok"))]
    assert state["FAILED"] == ["fr/l", "fr/m", "fr/s"] and len(state["SUCCEEDED"]) == 9
    current = per_partition[("check current", dg.AssetCheckKey(EDIT, "image_ok"))]
    assert [row for row in current if row[0] != "None"] == [  # (and the run's one unpartitioned planned row)
        ("de", "SUCCEEDED", True), ("en", "SUCCEEDED", True), ("fr", "SUCCEEDED", True), ("it", "SUCCEEDED", True)]


def test_a_runless_evaluation_of_a_partition_replaces_the_last_one_and_is_the_latest(tmp_path):
    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.events.log import EventLogEntry

    ck = dg.AssetCheckKey(GEN, "plan")
    with _instance(tmp_path / "home", BatchingSqliteEventLogStorage) as instance:
        for passed in (False, True, False):
            instance.report_runless_asset_event(dg.AssetCheckEvaluation(
                asset_key=GEN, check_name="plan", passed=passed, partition="en/s"))
        history = instance.event_log_storage.get_asset_check_execution_history(ck, limit=10)
        assert [(h.status.value, h.partition) for h in history] == [("FAILED", "en/s")]
        # a run's evaluation, then a runless one: the runless one is the partition's latest
        in_run = dg.AssetCheckEvaluation(asset_key=GEN, check_name="plan", passed=True, partition="en/s")
        instance.event_log_storage.store_event(EventLogEntry(
            error_info=None, level="INFO", user_message="", run_id="0f3c4a1e-0000-4000-8000-000000000003",
            timestamp=2.0, dagster_event=DagsterEvent(DagsterEventType.ASSET_CHECK_EVALUATION.value, "job",
                                                      event_specific_data=in_run)))
        instance.report_runless_asset_event(dg.AssetCheckEvaluation(
            asset_key=GEN, check_name="plan", passed=False, partition="en/s"))
        [info] = instance.event_log_storage.get_asset_check_partition_info([ck])
        assert info.partition_key == "en/s" and info.latest_execution_status.value == "FAILED"


@pytest.mark.slow
@pytest.mark.deploy
@pytest.mark.parametrize("where", ["postgres", "batching sqlite", "pooled sqlite"])
def test_plan_checks_written_twice_leave_one_runless_row_per_partition_the_latest(tmp_path, request, where):
    """`assetpipe plan`'s verdicts (pipelines/orchestration/plan_checks.py): a variant's new
    runless `plan` evaluation replaces its last one, in whichever storage; each targets its
    variant's latest materialization, and the UI's current state is the newest verdict."""
    from pipelines.orchestration.plan_checks import _store

    storage = {"postgres": lambda: request.getfixturevalue("pg_database"),
               "batching sqlite": lambda: BatchingSqliteEventLogStorage,
               "pooled sqlite": lambda: PooledSqliteEventLogStorage}[where]()
    ck = dg.AssetCheckKey(GEN, "plan")
    with _instance(tmp_path / "home", storage) as instance:
        for part in ("en/s", "en/m"):
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=GEN, partition=part))
        target = {part: instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=GEN, asset_partitions=[part]), limit=1).records[0].storage_id for part in ("en/s", "en/m")}

        def verdicts(passed: dict[str, bool]) -> None:
            _store(instance, [dg.AssetCheckEvaluation(
                asset_key=GEN, check_name="plan", passed=ok, partition=part, severity=dg.AssetCheckSeverity.WARN,
                target_materialization_data=AssetCheckEvaluationTargetMaterializationData(
                    storage_id=target[part], run_id="", timestamp=1.0)) for part, ok in passed.items()])

        verdicts({"en/s": False, "en/m": False})
        verdicts({"en/s": True})
        history = instance.event_log_storage.get_asset_check_execution_history(ck, limit=10)
        assert sorted((h.status.value, h.partition) for h in history) == [("FAILED", "en/m"), ("SUCCEEDED", "en/s")]
        infos = instance.event_log_storage.get_asset_check_partition_info([ck])
        assert sorted((i.partition_key, i.latest_execution_status.value, i.is_current) for i in infos) == [
            ("en/m", "FAILED", True), ("en/s", "SUCCEEDED", True)]
        runless = [r.event_log_entry.dagster_event_type for r in instance.get_records_for_run("", limit=100).records]
        assert runless.count("ASSET_CHECK_EVALUATION") == 3  # every verdict is in the log
