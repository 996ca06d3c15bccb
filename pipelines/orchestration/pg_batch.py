"""A run's materializations and check evaluations written to a deployment's PostgreSQL event log
in batches, on one connection per batch.

Dagster's PostgresEventLogStorage keeps no connection (NullPool): every statement group opens a new
one (TCP, a new server backend, ~3-30 ms here). One event costs it two or three (the row and its
NOTIFY; the tags and the `asset_keys` row; a check's `asset_check_executions` row), a check
evaluation two more for its target's lookup, and a `has_table` query each: 13.5 connections per
variant measured, most of a build's time (bench/README.md, "Deployment: the instance and
workers"). Its `store_event_batch` takes materializations or observations only, and files one
`asset_keys` row per batch (the last event's).

`store_batch` writes the same rows as Dagster's `store_event` would, event by event, on one
connection:

* the `event_logs` rows in the run's order, each as `_event_to_row` makes it, in multi-row INSERTs
  that Postgres numbers and commits as Dagster's own inserts are (a check evaluation whose target is
  a materialization of the same batch waits for that row's id: one INSERT per variant, typically;
  not one INSERT per batch with ids drawn ahead from the sequence, which would leave rows
  uncommitted behind higher committed ids for longer, and readers that follow the log by storage
  id, a run's live log or a sensor's cursor, could pass them);
* then, in one transaction: the materializations' indexed tags, each asset key's `asset_keys` row
  from its last materialization (Dagster's `_store_asset_event`), and the check rows: a run's
  evaluation fills its run's existing row for that check and partition (a planned one), as
  Dagster's `_update_asset_check_evaluation` does, else a new row; a runless evaluation of a
  partition replaces the partition's previous runless row (Dagster 1.13 inserts a second one and
  fails on its unique index), as our SQLite log does.

A check evaluation without a target materialization gets its partition's latest one, as a step's
own AssetCheckResult does (the UI counts a partition's check only against that one).

Left out on purpose: the NOTIFY per event (Dagster keeps it only for old webservers' LISTEN; its own
`store_event_batch` sends none), and the instance's in-process subscribers (as for our SQLite log).
Dagster 1.13 only (private parts of its SQL storage); tests/integration/test_event_batch.py reads
back an instance on a real PostgreSQL written both ways, fact by fact.
"""

from __future__ import annotations

from typing import Any, Sequence

import dagster as dg
import sqlalchemy as db
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.events import DagsterEventType
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster_shared.record import copy

MAT = DagsterEventType.ASSET_MATERIALIZATION
CHECK = DagsterEventType.ASSET_CHECK_EVALUATION


def is_postgres(storage: Any) -> bool:
    try:
        from dagster_postgres.event_log.event_log import PostgresEventLogStorage
    except ImportError:  # dagster-postgres comes with assetpipe's `deploy` extra
        return False
    return isinstance(storage, PostgresEventLogStorage)


def batchable(event: Any) -> bool:
    t = event.dagster_event_type
    return (t == MAT and event.dagster_event.asset_key is not None) or t == CHECK


def store_batch(storage: Any, events: Sequence[Any]) -> None:
    """Write `events` (materializations with an asset key and check evaluations, in the order the
    run produced them) to a PostgresEventLogStorage, as its store_event would one by one."""
    events = list(events)
    if not events:
        return
    if not all(batchable(e) for e in events):
        raise ValueError("store_batch takes asset materializations and check evaluations only")
    known = _stored_targets(storage, events)
    with storage.index_connection() as conn:
        events, ids = _insert_events(storage, conn, events, known)
        mats = [(e, i) for e, i in zip(events, ids) if e.dagster_event_type == MAT]
        checks = [(e, i) for e, i in zip(events, ids) if e.dagster_event_type == CHECK]
        conn.commit()  # (each INSERT committed itself: AUTOCOMMIT; this ends SQLAlchemy's autobegin)
        conn = conn.execution_options(isolation_level="READ COMMITTED")  # as index_transaction
        with conn.begin():
            if mats:
                storage._store_asset_event_tags(conn, [e for e, _ in mats], [i for _, i in mats])
                last = {e.dagster_event.asset_key: (e, i) for e, i in mats}
                for e, i in last.values():
                    storage._store_asset_event(conn, e, i)
            if checks:
                _store_check_rows(storage, conn, checks)


def _insert_events(storage, conn, events: list, known: dict) -> tuple[list, list[int]]:
    """The rows in order; a check aimed at a materialization of this batch is serialized once
    that materialization has its id, so the rows go in segments that end before such a check."""
    out: list = []
    ids: list[int] = []
    segment: list = []
    targets = dict(known)  # (asset key, partition) -> (storage id, run id, timestamp)
    pending: set = set()  # materializations in `segment`, not yet numbered

    def insert() -> None:
        if not segment:
            return
        stmt = SqlEventLogStorageTable.insert().values([storage._event_to_row(e) for e in segment])
        new = [int(r[0]) for r in conn.execute(stmt.returning(SqlEventLogStorageTable.c.id)).fetchall()]
        for e, i in zip(segment, new):
            if e.dagster_event_type == MAT:
                targets[(e.dagster_event.asset_key, e.dagster_event.partition)] = (i, e.run_id, e.timestamp)
        out.extend(segment)
        ids.extend(new)
        segment.clear()
        pending.clear()

    for e in events:
        if e.dagster_event_type == CHECK and _untargeted(e):
            if _slot(e) in pending:
                insert()
            e = _with_target(e, targets)
        elif e.dagster_event_type == MAT:
            pending.add((e.dagster_event.asset_key, e.dagster_event.partition))
        segment.append(e)
    insert()
    return out, ids


def _untargeted(e) -> bool:
    return e.dagster_event.event_specific_data.target_materialization_data is None


def _slot(e) -> tuple:
    ev = e.dagster_event.event_specific_data
    return (ev.asset_key, ev.partition)


def _with_target(e, targets: dict):
    hit = targets.get(_slot(e))
    if hit is None:
        return e  # never materialized: targets nothing, as Dagster's would
    ev = e.dagster_event.event_specific_data
    target = AssetCheckEvaluationTargetMaterializationData(storage_id=hit[0], run_id=hit[1], timestamp=hit[2])
    return e._replace(dagster_event=e.dagster_event._replace(
        event_specific_data=copy(ev, target_materialization_data=target)))


def _stored_targets(storage, events: list) -> dict:
    """The latest stored materialization of each partition that an untargeted check of the batch
    names before any materialization of the batch does (a check whose variant landed in an earlier
    batch): a query or two per asset key, before the batch's connection opens."""
    seen: set = set()
    wanted: dict[dg.AssetKey, set] = {}
    for e in events:
        if e.dagster_event_type == MAT:
            seen.add((e.dagster_event.asset_key, e.dagster_event.partition))
        elif _untargeted(e) and _slot(e) not in seen:
            wanted.setdefault(_slot(e)[0], set()).add(_slot(e)[1])
    found: dict = {}
    for key, parts in wanted.items():
        by_part = storage.get_latest_storage_id_by_partition(key, MAT, {p for p in parts if p is not None})
        if None in parts:  # an unpartitioned asset's check
            recs = storage.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1).records
            if recs:
                found[(key, None)] = (recs[0].storage_id, recs[0].run_id, recs[0].timestamp)
        if by_part:
            recs = storage.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, storage_ids=list(by_part.values())), limit=len(by_part)).records
            found.update({(key, r.partition_key): (r.storage_id, r.run_id, r.timestamp) for r in recs})
    return found


def _store_check_rows(storage, conn, checks: list) -> None:
    T = AssetCheckExecutionsTable
    keyed: dict[tuple, dict] = {}  # a run's or a partition's row: the batch's last evaluation wins
    loose: list[dict] = []  # runless evaluations of an unpartitioned check: a row each, as Dagster
    for e, event_id in checks:
        ev = e.dagster_event.event_specific_data
        ident = (ev.asset_key.to_string(), ev.check_name, e.run_id or "", ev.partition)
        values = dict(
            asset_key=ident[0], check_name=ident[1], run_id=e.run_id, partition=ev.partition,
            execution_status=(AssetCheckExecutionRecordStatus.SUCCEEDED.value if ev.passed
                              else AssetCheckExecutionRecordStatus.FAILED.value),
            evaluation_event=dg.serialize_value(e), evaluation_event_timestamp=storage._event_insert_timestamp(e),
            evaluation_event_storage_id=event_id,
            materialization_event_storage_id=(ev.target_materialization_data.storage_id
                                              if ev.target_materialization_data else None))
        if ident[2] or ident[3] is not None:
            keyed.pop(ident, None)  # (re-inserted: the dict keeps the batch's order)
            keyed[ident] = values
        else:
            loose.append(values)
    existing = _existing_rows(conn, list(keyed))
    updates, deletes, inserts = [], [], []
    for ident, values in keyed.items():
        ids = existing.get(ident, [])
        if ident[2] and ids:  # a run's evaluation fills the row(s) its run has for it (planned)
            updates.extend({"_id": i, **{k: v for k, v in values.items() if k not in IDENT}} for i in ids)
            continue
        deletes.extend(ids)  # a runless one replaces the partition's last runless row
        inserts.append(values)
    if updates:
        conn.execute(T.update().where(T.c.id == db.bindparam("_id")), updates)
    for start in range(0, len(deletes), 1000):
        conn.execute(T.delete().where(T.c.id.in_(deletes[start:start + 1000])))
    inserts.extend(loose)
    if inserts:
        conn.execute(T.insert(), sorted(inserts, key=lambda v: v["evaluation_event_storage_id"]))


IDENT = ("asset_key", "check_name", "run_id")


def _existing_rows(conn, idents: list[tuple]) -> dict[tuple, list[int]]:
    """The ids of the rows already stored for each (asset, check, run id, partition)."""
    T = AssetCheckExecutionsTable
    cols = (T.c.asset_key, T.c.check_name, T.c.run_id)
    parted = [i for i in idents if i[3] is not None]
    whole = [i[:3] for i in idents if i[3] is None]
    out: dict[tuple, list[int]] = {}
    for start in range(0, max(len(parted), len(whole)), 1000):
        clauses = []
        if parted[start:start + 1000]:
            clauses.append(db.tuple_(*cols, T.c.partition).in_(parted[start:start + 1000]))
        if whole[start:start + 1000]:
            clauses.append(db.and_(db.tuple_(*cols).in_(whole[start:start + 1000]), T.c.partition.is_(None)))
        for r in conn.execute(db.select(T.c.id, *cols, T.c.partition).where(db.or_(*clauses))):
            out.setdefault((r[1], r[2], r[3] or "", r[4]), []).append(r[0])
    return out
