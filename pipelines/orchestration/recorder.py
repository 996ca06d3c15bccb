"""A run's materializations and check evaluations, written to the event log in batches.

Each variant costs Dagster a materialization and one to three check evaluations. Yielded from the
body (or logged with `context.log_event`), each event goes alone through Dagster's step machinery,
Python's logging, the instance and the storage (~2 ms an event here), and the executor keeps every
yielded event in memory until the step ends (a list for the step's hooks, another for
`execute_in_process`'s result): 100,000 variants were past 1 GB. Measured: bench/README.md.

The Recorder makes the same events Dagster makes for this step (same type, job, step handle,
logging tags, message, level) and hands whatever has landed so far to the storage's
`store_event_batch` in one call: a batch is the backlog, so a slow vendor's variant is written as
soon as it lands and a burst of cache hits in batches of up to BATCH. Nothing is kept after it is
written. A deployment's PostgreSQL log gets the same batches through
pipelines/orchestration/pg_batch.py (one connection per batch); any other storage gets the events
one by one, as Dagster would send them. tests/integration/test_event_batch.py reads back an
instance written both ways.
"""

from __future__ import annotations

import logging
import os
import time

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster_shared.record import copy

from pipelines.orchestration import pg_batch
from pipelines.orchestration.event_batch import BatchingSqliteEventLogStorage

BATCH = 1000


class Recorder:
    """The events of one step's variants, written by the storage's store_event_batch."""

    def __init__(self, context):
        step = context.get_step_execution_context()
        self.instance = context.instance
        # our SQLite log writes a mixed batch in one transaction, a deployment's Postgres log gets
        # it through pg_batch (Dagster's own batch takes one event type, and files only the last
        # event's asset key); another storage gets the events one by one, as Dagster sends them
        storage = context.instance.event_log_storage
        self.batches = isinstance(storage, BatchingSqliteEventLogStorage)
        self.postgres = not self.batches and pg_batch.is_postgres(storage)
        self.run_id, self.step_key, self.job_name = context.run_id, step.step.key, step.job_name
        self._event = dict(job_name=step.job_name, step_handle=step.step.handle, node_handle=step.step.node_handle,
                           step_kind_value=step.step.kind.value, logging_tags=step.event_tags, pid=os.getpid())
        self._pending: list[EventLogEntry] = []
        self.written = 0

    def materialization(self, mat: dg.AssetMaterialization) -> None:
        self._add(DagsterEventType.ASSET_MATERIALIZATION, StepMaterializationData(mat),
                  mat.description or f"Materialized value {mat.label}.")

    def check(self, evaluation: dg.AssetCheckEvaluation) -> None:
        if not (self.batches or self.postgres) and evaluation.target_materialization_data is None:
            evaluation = self._targeted(evaluation)
        message = (f"Asset check '{evaluation.check_name}' on '{evaluation.asset_key.to_user_string()}' "
                   + ("passed." if evaluation.passed else "did not pass.")
                   + ("" if evaluation.description is None else f" Description: '{evaluation.description}'"))
        self._add(DagsterEventType.ASSET_CHECK_EVALUATION, evaluation, message)

    def _add(self, event_type: DagsterEventType, data, message: str) -> None:
        event = DagsterEvent(event_type_value=event_type.value, event_specific_data=data, message=message, **self._event)
        self._pending.append(EventLogEntry(
            user_message=message, level=logging.DEBUG, job_name=self.job_name, run_id=self.run_id, error_info=None,
            timestamp=time.time(), step_key=self.step_key, dagster_event=event))
        if len(self._pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            if self.batches:
                self.instance.event_log_storage.store_event_batch(batch)
            elif self.postgres:
                pg_batch.store_batch(self.instance.event_log_storage, batch)
            else:
                for entry in batch:
                    self.instance.handle_new_event(entry)
            self.written += len(batch)

    def _targeted(self, evaluation: dg.AssetCheckEvaluation) -> dg.AssetCheckEvaluation:
        """The evaluation aimed at its partition's latest materialization, as a step's own
        AssetCheckResult is (the UI counts a partition's check only against that one); our batching
        log and pg_batch do this themselves, any other storage is asked here, once per evaluation."""
        self.flush()
        recs = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=evaluation.asset_key, asset_partitions=[evaluation.partition]),
            limit=1).records
        if not recs:
            return evaluation
        target = AssetCheckEvaluationTargetMaterializationData(
            storage_id=recs[0].storage_id, run_id=recs[0].run_id, timestamp=recs[0].timestamp)
        return copy(evaluation, target_materialization_data=target)
