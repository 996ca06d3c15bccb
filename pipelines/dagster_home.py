"""The persistent Dagster instance of a catalog: <catalog>/.assetpipe/dagster.

The CLI build, `assetpipe ui` and its daemon all use it, so CLI runs show in the UI."""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.catalog import Catalog

DAGSTER_YAML = """\
# Written by assetpipe. Runs launched from the UI or by schedules execute in a subprocess.
telemetry:
  enabled: false
"""


def ensure_home(catalog: Catalog) -> Path:
    home = catalog.state_dir / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return home


def instance(catalog: Catalog):
    from dagster import DagsterInstance

    ensure_home(catalog)
    return DagsterInstance.get()
