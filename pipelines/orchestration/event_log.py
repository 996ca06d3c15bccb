"""Dagster's SQLite event log, kept fast enough for thousands of events per run.

Dagster's stock `SqliteEventLogStorage` opens a new SQLite connection for every event and closes
it again. In WAL mode the close of the last connection checkpoints the log into the database, so
every event pays two or three fsyncs, and a run writes ~7 events per variant (planned
materialization and check, two step outputs, the materialization, the check result, a log line).
The cost with and without this class: bench/README.md ("What the Dagster side costs").

This subclass keeps one pooled connection per database file (run shards and the index) and uses
`synchronous=NORMAL`, SQLite's recommended setting for WAL: a commit no longer fsyncs; a crash of
the process loses nothing; a power cut can lose the last commits but never corrupts the file.

One behaviour depends on the stock close-per-event: the webserver follows a live run by watching
the run's `<run_id>.db` file for modifications, and WAL commits only touch `<run_id>.db-wal`. So
the run's database is checkpointed (which writes the `.db` file) at once for run events, and
otherwise at most every `CHECKPOINT_S` seconds and never later than that after an event.

It leans on private parts of Dagster's SQLite storage, so the catalog's instance uses it only on
the Dagster versions it was checked against (`supported()`); elsewhere the stock storage runs.
A deployment's own instance ($DAGSTER_HOME, e.g. Postgres) never uses it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any, Iterator

import dagster
from dagster import Field, StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

SUPPORTED = ("1.13.",)
CHECKPOINT_S = 0.25
MAX_OPEN_SHARDS = 16  # a long-lived webserver reads many runs: bound the open files


def supported() -> bool:
    return dagster.__version__.startswith(SUPPORTED)


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`event_log_storage` for dagster.yaml; `base_dir` defaults to $DAGSTER_HOME/history/runs,
    where the stock storage keeps the same files (an existing instance keeps its history)."""

    def __init__(self, base_dir: str, inst_data: Any = None):
        # every use of _engines is under the base class's _db_lock
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._last_checkpoint: dict[str, float] = {}
        self._pending: dict[str, threading.Timer] = {}
        self._tables: set[str] = set()
        # at exit, closing the last connection checkpoints each file: no WAL is left behind
        weakref.finalize(self, _dispose_all, self._engines)
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def config_type(cls) -> dict:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: dict) -> "PooledSqliteEventLogStorage":
        base_dir = config_value.get("base_dir")
        if not base_dir:
            home = os.environ.get("DAGSTER_HOME")
            if not home:
                raise RuntimeError("PooledSqliteEventLogStorage needs base_dir or $DAGSTER_HOME")
            base_dir = os.path.join(home, "history", "runs")
        return cls(base_dir, inst_data=inst_data)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            pool_size=1,
            max_overflow=2,
            # every use is serialized by _db_lock, but not always on the thread that connected
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        event.listen(engine, "connect", _pragmas)
        self._engines[shard] = engine
        while len(self._engines) > MAX_OPEN_SHARDS:
            _, old = self._engines.popitem(last=False)
            old.dispose()  # closing it checkpoints: the watchers see the last events
        return engine

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def has_table(self, table_name: str) -> bool:
        # asked twice per event, each time through a new engine and connection; tables that exist
        # stay (a wipe deletes rows), so a yes is remembered and a no is asked again
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables

    def store_event(self, event: Any) -> None:
        super().store_event(event)
        if event.run_id:
            dagster_event = event.dagster_event
            self._checkpoint_soon(event.run_id, force=dagster_event is not None and dagster_event.is_job_event)

    def _checkpoint_soon(self, shard: str, force: bool = False) -> None:
        """Checkpoint now if the last one is CHECKPOINT_S old (or `force`), else once that is so."""
        wait = CHECKPOINT_S - (time.monotonic() - self._last_checkpoint.get(shard, -CHECKPOINT_S))
        if force or wait <= 0:
            self._checkpoint(shard)
        elif shard not in self._pending:
            timer = threading.Timer(wait, self._checkpoint, (shard,))
            timer.daemon = True
            self._pending[shard] = timer
            timer.start()

    def _checkpoint(self, shard: str) -> None:
        with self._db_lock:
            self._pending.pop(shard, None)
            self._last_checkpoint[shard] = time.monotonic()
            engine = self._engines.get(shard)
            if engine is None:
                return
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def wipe(self) -> None:
        self._dispose_engines()
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()

    def _dispose_engines(self) -> None:
        with self._db_lock:
            for timer in self._pending.values():
                timer.cancel()
            self._pending.clear()
            _dispose_all(self._engines)


def _dispose_all(engines: "OrderedDict[str, Engine]") -> None:
    for engine in engines.values():
        engine.dispose()
    engines.clear()


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA synchronous=NORMAL")
