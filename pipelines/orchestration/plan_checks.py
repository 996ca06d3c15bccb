"""`assetpipe plan`'s verdict per variant in the UI, as the `plan` check of each catalog asset.

Dagster cannot say "changed" of one partition: a code version belongs to the whole asset, and
the staleness of a partitioned asset ignores it. *Missing* needs nothing from us (a partition never
materialized is missing in the UI). *Changed* is a failed evaluation (WARN) of the variant's
`plan` check that targets its latest materialization, with plan's reasons: the UI lists it on the
asset's checks, on its node and on the partition. Rebuilding the variant makes a new
materialization, which Dagster no longer counts the old evaluation against; a variant that becomes
fresh without a rebuild (an edit reverted) gets a passed evaluation.

`sync_plan_checks` records only what differs from what the instance shows: nothing at all while
the catalog and the store are unchanged. It runs at the end of every run (CLI, UI, schedule) and
whenever `assetpipe ui` loads the catalog (at start and after each edit on disk).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from pipelines.orchestration.keys import asset_key_of
from pipelines.orchestration.specs import PLAN_CHECK
from pipelines.plan.plan import Plan, Planned
from pipelines.plan.project import Project

FAILED = AssetCheckExecutionRecordStatus.FAILED


@dataclass
class Synced:
    failed: int = 0  # variants newly shown as not fresh
    passed: int = 0  # variants shown fresh again without a rebuild


def sync_plan_checks(instance: dg.DagsterInstance, project: Project, plan: Plan) -> Synced:
    groups: dict[str, list[Planned]] = {}
    for p in plan.items:
        groups.setdefault(p.variant.asset_id, []).append(p)
    storage = instance.event_log_storage
    keys = [dg.AssetCheckKey(asset_key_of(aid), PLAN_CHECK) for aid in groups]
    shown_failed = {(i.check_key.asset_key, i.partition_key): i for i in storage.get_asset_check_partition_info(keys)
                    if i.is_current and i.latest_execution_status == FAILED}
    evaluations: list[dg.AssetCheckEvaluation] = []
    synced = Synced()
    for aid, items in groups.items():
        key = asset_key_of(aid)
        stale = {p.variant.vid: p for p in items if p.status != "fresh"}
        recovered = [p.variant.vid for p in items if p.status == "fresh" and (key, p.variant.vid) in shown_failed]
        todo = [vid for vid in stale if (key, vid) not in shown_failed]
        if not todo and not recovered:
            continue
        targets = _latest_materializations(instance, key, set(todo) | set(recovered))
        for vid in todo:
            if vid in targets:  # a variant never materialized is already "missing" in the UI
                evaluations.append(_evaluation(key, vid, targets[vid], stale[vid]))
                synced.failed += 1
        for vid in recovered:
            if vid in targets:
                evaluations.append(_evaluation(key, vid, targets[vid], None))
                synced.passed += 1
    _store(instance, evaluations)
    return synced


def _latest_materializations(instance, key: dg.AssetKey, partitions: set[str]):
    ids = instance.event_log_storage.get_latest_storage_id_by_partition(
        key, DagsterEventType.ASSET_MATERIALIZATION, partitions)
    if not ids:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, storage_ids=list(ids.values())), limit=len(ids)).records
    return {r.partition_key: AssetCheckEvaluationTargetMaterializationData(
        storage_id=r.storage_id, run_id=r.run_id, timestamp=r.timestamp) for r in records}


def _evaluation(key, vid: str, target, stale: Planned | None) -> dg.AssetCheckEvaluation:
    if stale is None:
        return dg.AssetCheckEvaluation(
            asset_key=key, check_name=PLAN_CHECK, passed=True, partition=vid, target_materialization_data=target,
            severity=dg.AssetCheckSeverity.WARN, description="fresh: matches the catalog",
            metadata={"status": "fresh"})
    return dg.AssetCheckEvaluation(
        asset_key=key, check_name=PLAN_CHECK, passed=False, partition=vid, target_materialization_data=target,
        severity=dg.AssetCheckSeverity.WARN, description=f"{stale.status}: {stale.reason}",
        metadata={"status": stale.status, "why": stale.reason})


def _store(instance, evaluations: list[dg.AssetCheckEvaluation]) -> None:
    """Runless, as `report_runless_asset_event` records them, but in one batch."""
    if not evaluations:
        return
    now = time.time()
    entries = [EventLogEntry(
        user_message="", level="INFO", job_name=RUNLESS_JOB_NAME, run_id=RUNLESS_RUN_ID, error_info=None,
        timestamp=now, step_key=None,
        dagster_event=DagsterEvent(event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION.value,
                                   event_specific_data=e, job_name=RUNLESS_JOB_NAME),
    ) for e in evaluations]
    from pipelines.orchestration import pg_batch
    from pipelines.orchestration.event_batch import BatchingSqliteEventLogStorage

    storage = instance.event_log_storage
    if isinstance(storage, BatchingSqliteEventLogStorage) or pg_batch.is_postgres(storage):
        # each replaces its partition's last runless `plan` row, in batches (Dagster's unique index
        # takes one runless row per partition, and its own store_event inserts a second)
        write = storage.store_event_batch if isinstance(storage, BatchingSqliteEventLogStorage) else (
            lambda batch: pg_batch.store_batch(storage, batch))
        for start in range(0, len(entries), 1000):
            write(entries[start:start + 1000])
        return
    # another storage gets them one by one, as report_runless_asset_event would send them; a
    # variant's earlier runless `plan` row goes first
    _clear_runless(storage, evaluations)
    for entry in entries:
        instance.handle_new_event(entry)


def _clear_runless(storage, evaluations: list[dg.AssetCheckEvaluation]) -> None:
    import sqlalchemy as db
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable as T

    by_check: dict[tuple[str, str], list[str]] = {}
    for e in evaluations:
        by_check.setdefault((e.asset_key.to_string(), e.check_name), []).append(e.partition)
    with storage.index_connection() as conn:
        for (key, name), parts in by_check.items():
            for start in range(0, len(parts), 1000):
                conn.execute(T.delete().where(db.and_(T.c.asset_key == key, T.c.check_name == name, T.c.run_id == "",
                                                      T.c.partition.in_(parts[start:start + 1000]))))


def sync_catalog(project: Project) -> Synced:
    """Plan the catalog and bring its `plan` checks in line, on its own instance (`assetpipe ui`)."""
    from pipelines.orchestration.instance import instance

    with instance(project.catalog) as inst:
        return sync_plan_checks(inst, project, project.plan())
