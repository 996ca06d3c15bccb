"""The Dagster instance a catalog's builds are recorded in.

* The deployment's, when `DAGSTER_HOME` names one (a team's Dagster: Postgres storage through
  dagster-postgres, say): `assetpipe build`, `assetpipe ui` and the code location all use it, so CLI
  builds, schedules and UI launches are one history. assetpipe never writes its dagster.yaml; it
  only refuses, with the fix, a Postgres URL that SQLAlchemy would hand to the wrong driver.
* Otherwise the catalog's private one, <catalog>/.assetpipe/dagster, whose dagster.yaml assetpipe
  writes (telemetry off, and the pooled SQLite event log, which only this instance uses).

Either way the CLI build, `assetpipe ui` (webserver, daemon, the runs they launch) and schedules
share it, so a CLI build shows in the UI's runs list and staleness is computed from one history.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from dagster import DagsterInstance

from pipelines.catalog.loader import Catalog
from pipelines.orchestration.event_log import supported as pooled_log_supported
from pipelines.orchestration.home import PRIVATE_HOME_ENV, check_deployment_home, deployment_home

OURS = "# Written by assetpipe"  # also the first words of older versions of this file
MARKER = "# Written by assetpipe (rewritten when its defaults change); delete this line to keep your edits."
BASE_YAML = f"""\
{MARKER}
# No telemetry: assetpipe runs where only the vendors' APIs are reachable.
telemetry:
  enabled: false
# No "Join the Dagster community" dialog over a marketing team's asset pages.
nux:
  enabled: false
"""
POOLED_LOG_YAML = """\
# Dagster's stock SQLite event log opens, commits and checkpoints a connection per event (~3 events
# per variant); this one keeps its connections and writes a run's events in batches: same files,
# same history.
event_log_storage:
  module: pipelines.orchestration.event_batch
  class: BatchingSqliteEventLogStorage
  config: {}
"""
DAGSTER_YAML = BASE_YAML + (POOLED_LOG_YAML if pooled_log_supported() else "")


def ensure_home(catalog: Catalog) -> Path:
    """The instance's home: the deployment's (checked, never written) or the private one (written)."""
    deployment = deployment_home(catalog)
    if deployment is not None:
        check_deployment_home(deployment)
        return deployment
    home = catalog.state_dir / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    current = cfg.read_text() if cfg.exists() else None
    if current is None or (current != DAGSTER_YAML and current.startswith(OURS)):
        tmp = cfg.with_suffix(f".yaml.{os.getpid()}.tmp")  # two first builds may race to write it
        tmp.write_text(DAGSTER_YAML)
        tmp.replace(cfg)
    os.environ["DAGSTER_HOME"] = os.environ[PRIVATE_HOME_ENV] = str(home.resolve())
    return home


def instance(catalog: Catalog):
    home = ensure_home(catalog)
    if deployment_home(catalog) is not None:
        return _deployment_instance()
    # two builds started together on a fresh catalog race to create the SQLite schemas, and
    # Dagster's run storage fails the loser ("table secondary_indexes already exists")
    with open(home / ".instance.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return DagsterInstance.get()


def _deployment_instance(attempts: int = 4):
    """Workers started together on an empty database race to create Dagster's schema, on different
    machines (no lock file helps): the loser fails with "... already exists" and, tried again,
    finds the schema made. (`dagster instance migrate` once before starting workers avoids it.)"""
    for attempt in range(attempts):
        try:
            inst = DagsterInstance.get()
        except Exception as exc:
            if "already exists" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
            continue
        _keep_connections(inst)
        return inst


def _keep_connections(inst) -> None:
    """Dagster's PostgreSQL storages keep no connection (NullPool): each statement group of each
    event opens one (~3 per event; a run's start writes a planned event per asset and check, and
    at load a connection costs 10-30 ms here). A build is one process writing for minutes: it keeps
    one per storage open (more for other threads), as Dagster's webserver does, through the same
    call. Statement timeout 0: none of its own (the webserver's 15 s is for UI requests)."""
    from pipelines.orchestration.pg_batch import is_postgres

    if is_postgres(inst.event_log_storage):
        inst.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=20)
