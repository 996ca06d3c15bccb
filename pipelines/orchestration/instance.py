"""The persistent Dagster instance of a catalog: <catalog>/.assetpipe/dagster.

The CLI build, `assetpipe ui` (webserver, daemon, the runs they launch) and schedules all use it,
so a CLI build shows in the UI's runs list and staleness is computed from one history.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from dagster import DagsterInstance

from pipelines.catalog.loader import Catalog
from pipelines.orchestration.event_log import supported as pooled_log_supported

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
# Dagster's stock SQLite event log opens and checkpoints a connection per event (~7 events per
# variant); this one keeps its connections: same files, same history.
event_log_storage:
  module: pipelines.orchestration.event_log
  class: PooledSqliteEventLogStorage
  config: {}
"""
DAGSTER_YAML = BASE_YAML + (POOLED_LOG_YAML if pooled_log_supported() else "")


def ensure_home(catalog: Catalog) -> Path:
    home = catalog.state_dir / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    current = cfg.read_text() if cfg.exists() else None
    if current is None or (current != DAGSTER_YAML and current.startswith(OURS)):
        tmp = cfg.with_suffix(f".yaml.{os.getpid()}.tmp")  # two first builds may race to write it
        tmp.write_text(DAGSTER_YAML)
        tmp.replace(cfg)
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return home


def instance(catalog: Catalog):
    home = ensure_home(catalog)
    # two builds started together on a fresh catalog race to create the SQLite schemas, and
    # Dagster's run storage fails the loser ("table secondary_indexes already exists")
    with open(home / ".instance.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return DagsterInstance.get()
