"""The catalog's event log, writing a run's materializations and check evaluations in batches.

A cache hit costs assetpipe almost nothing; what it costs Dagster is its events: a materialization
and one or two check evaluations per variant. Dagster's SQLite storage writes each one alone: the
event serialized for the run's file, again for the index, the `asset_keys` row rewritten with the
event serialized a third time (an INSERT that fails, then an UPDATE), its tag rows, and a commit
per file. Its `store_event_batch` is a loop of that, and the run machinery hands it no batches for
events a body yields. Measured: bench/README.md ("Recording").

`BatchingSqliteEventLogStorage.store_event_batch` writes materializations and check evaluations
with each event serialized once, the run file's rows in one statement, the `asset_keys` row once
per asset key and one commit per file. A check evaluation without a target materialization gets
its partition's latest one, as Dagster's own `AssetCheckResult` does inside a step (the UI counts
a partition's check only against its latest materialization).

The run's body hands it its batches (pipelines/orchestration/recorder.py). A runless evaluation of
a partition of a check replaces the partition's last runless one (Dagster 1.13 fails on its unique
index instead): the `plan` check is kept that way.

Dagster 1.13 only (private parts of its SQL storage), like the pooled log it extends.
tests/integration/test_event_batch.py reads back an instance written both ways, fact by fact.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Sequence

import dagster as dg
import sqlalchemy as db
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.events import DagsterEventType
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster_shared.record import copy

from pipelines.orchestration.event_log import PooledSqliteEventLogStorage

MAT = DagsterEventType.ASSET_MATERIALIZATION
CHECK = DagsterEventType.ASSET_CHECK_EVALUATION
PLANNED = AssetCheckExecutionRecordStatus.PLANNED.value


class BatchingSqliteEventLogStorage(PooledSqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data: Any = None):
        self._local = threading.local()
        self._planned_checks: dict[str, set[tuple]] = {}  # run id -> check rows planned for it
        super().__init__(base_dir, inst_data=inst_data)
        # re-entrant: inside a batch the writer reads (a check's target) through a second _connect
        self._db_lock = threading.RLock()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction per database file for every write in the block (on this thread)."""
        if getattr(self._local, "conns", None) is not None:
            yield  # nested: the outer block commits
            return
        self._local.conns = {}
        ok = False
        try:
            yield
            ok = True
        finally:
            conns, self._local.conns = self._local.conns, None
            with self._db_lock:
                for conn, txn in conns.values():
                    (txn.commit if ok else txn.rollback)()
                    conn.close()
            for shard in conns:
                self._checkpoint_soon(shard)

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[Any]:
        conns = getattr(self._local, "conns", None)
        if conns is None:
            with super()._connect(shard) as conn:
                yield conn
            return
        with self._db_lock:
            if shard not in conns:
                engine = self._engine(shard)
                if shard not in self._initialized_dbs:
                    self._initdb(engine)
                    self._initialized_dbs.add(shard)
                conn = engine.connect()
                conns[shard] = (conn, conn.begin())
            yield conns[shard][0]

    def store_event_batch(self, events: Sequence[Any]) -> None:
        with self.batch():
            i = 0
            while i < len(events):
                j = i
                while j < len(events) and _bulkable(events[j]):
                    j += 1
                if j > i:
                    self._store_bulk(list(events[i:j]))
                    i = j
                else:
                    self.store_event(events[i])
                    i += 1

    def _store_bulk(self, events: list) -> None:
        rows: list = [None] * len(events)
        ids: list = [None] * len(events)
        targets: dict = {}
        insert = SqlEventLogStorageTable.insert()
        with self.index_transaction() as conn:
            # materializations first: they are the targets of the checks that follow them
            for n, e in enumerate(events):
                if e.dagster_event_type == MAT:
                    rows[n] = self._event_to_row(e)  # the one serialization of the event
                    ids[n] = conn.execute(insert.values(**rows[n])).inserted_primary_key[0]
                    targets[(e.dagster_event.asset_key, e.dagster_event.partition)] = (ids[n], e.run_id, e.timestamp)
            for n, e in enumerate(events):
                if e.dagster_event_type == CHECK:
                    events[n] = e = self._with_target(e, targets)
                    rows[n] = self._event_to_row(e)
                    ids[n] = conn.execute(insert.values(**rows[n])).inserted_primary_key[0]
            mats = [(e, i) for e, i in zip(events, ids) if e.dagster_event_type == MAT]
            if mats:
                self._store_asset_event_tags(conn, [e for e, _ in mats], [i for _, i in mats])
                last = {e.dagster_event.asset_key: (e, i) for e, i in mats}  # the latest of each asset
                for e, i in last.values():
                    self._store_asset_event(conn, e, i)
            checks = [(e, i, r) for e, i, r in zip(events, ids, rows) if e.dagster_event_type == CHECK]
            if checks:
                self._store_check_rows(conn, checks)
        by_run: dict[str, list] = {}
        for r in rows:  # the run's own log, in the order the run produced the events
            by_run.setdefault(r["run_id"], []).append(r)
        for run_id, run_rows in by_run.items():
            with self.run_connection(run_id) as conn:
                conn.execute(insert, run_rows)

    def _with_target(self, e: Any, targets: dict) -> Any:
        ev = e.dagster_event.event_specific_data
        if ev.target_materialization_data is not None:
            return e
        hit = targets.get((ev.asset_key, ev.partition))
        if hit is None:
            recs = self.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=ev.asset_key, asset_partitions=[ev.partition] if ev.partition else None),
                limit=1).records
            if not recs:
                return e
            hit = (recs[0].storage_id, recs[0].run_id, recs[0].timestamp)
        target = AssetCheckEvaluationTargetMaterializationData(storage_id=hit[0], run_id=hit[1], timestamp=hit[2])
        dagster_event = e.dagster_event._replace(event_specific_data=copy(ev, target_materialization_data=target))
        return e._replace(dagster_event=dagster_event)

    def _store_check_rows(self, conn, checks: list) -> None:
        """Dagster's `_update_asset_check_evaluation` (a run's evaluation fills the row its run
        planned) and `_store_runless_asset_check_evaluation` (a new row), for many at once."""
        T = AssetCheckExecutionsTable
        runs = {e.run_id for e, _, _ in checks if e.run_id}
        self._load_planned(conn, runs - set(self._planned_checks))
        planned = set().union(*(self._planned_checks.get(r, set()) for r in runs))
        inserts = []
        for e, event_id, row in checks:
            ev = e.dagster_event.event_specific_data
            values = dict(
                execution_status=(AssetCheckExecutionRecordStatus.SUCCEEDED.value if ev.passed
                                  else AssetCheckExecutionRecordStatus.FAILED.value),
                evaluation_event=row["event"], evaluation_event_timestamp=row["timestamp"],
                evaluation_event_storage_id=event_id,
                materialization_event_storage_id=(ev.target_materialization_data.storage_id
                                                  if ev.target_materialization_data else None),
                partition=ev.partition)
            ident = (ev.asset_key.to_string(), ev.check_name, e.run_id or "", ev.partition)
            same = db.and_(T.c.asset_key == ident[0], T.c.check_name == ident[1], T.c.run_id == ident[2],
                           T.c.partition.is_(None) if ident[3] is None else T.c.partition == ident[3])
            if e.run_id and ident in planned:
                conn.execute(T.update().where(same).values(**values))
                continue
            if not e.run_id and ident[3] is not None:
                # a runless evaluation of a partition replaces the last one, as a new row (the
                # newest row is the latest execution): Dagster 1.13 inserts a second row and fails
                # on its unique index (asset, check, run id, partition)
                conn.execute(T.delete().where(same))
            inserts.append(dict(asset_key=ident[0], check_name=ident[1], run_id=e.run_id, **values))
        if inserts:
            conn.execute(T.insert(), inserts)

    def _load_planned(self, conn, runs: set[str]) -> None:
        # a run's planned rows are written when it starts: read them once per run, not per batch
        # (a query per batch scans a table that grows with every variant ever checked)
        if not runs:
            return
        T = AssetCheckExecutionsTable
        for run_id in runs:
            self._planned_checks[run_id] = set()
        res = conn.execute(db.select(T.c.asset_key, T.c.check_name, T.c.run_id, T.c.partition).where(
            db.and_(T.c.run_id.in_(runs), T.c.execution_status == PLANNED)))
        for r in res:
            self._planned_checks[r[2]].add(tuple(r))

    def store_event(self, event: Any) -> None:
        if not event.run_id and event.dagster_event_type == CHECK:
            self.store_event_batch([event])  # runless: replaces the partition's last one
            return
        super().store_event(event)
        t = event.dagster_event_type
        if t == DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED and event.run_id in self._planned_checks:
            del self._planned_checks[event.run_id]  # planned after we read them: read again
        elif t in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED):
            self._planned_checks.pop(event.run_id, None)


def _bulkable(e: Any) -> bool:
    t = e.dagster_event_type
    return (t == MAT and e.dagster_event.asset_key is not None) or t == CHECK
